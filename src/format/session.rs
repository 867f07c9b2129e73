//! Session recordings: JSON Lines files (format `posture.session`, version 1) that survive a
//! crash. Every line stands alone; the writer thread flushes at least once a second, so a killed
//! process loses at most the last second and the file still loads. A file without its summary
//! line (the run was killed) gets the summary recomputed from its frames.
//!
//! Lines, each an object with `kind`: one `header` first, then `frame` and `event` lines in time
//! order, then one `summary` at the end.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender, bounded};
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::format::live::PostureRecord;
use crate::science::judge::Band;

/// The `format` of session files.
pub const FORMAT: &str = "posture.session";
/// The `version` of session files.
pub const VERSION: u32 = 1;

/// The first line of a session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The posture version that wrote it.
    pub program_version: String,
    /// Model name and sha256.
    pub model: String,
    /// sha256 of the model file.
    pub model_sha256: String,
    /// The baseline in use, if any.
    pub calibration: Option<crate::science::calibration::Baseline>,
    /// The source's description.
    pub source: String,
    /// When the session started, seconds since the Unix epoch.
    pub started_unix_secs: u64,
    /// The exercise being done, if any.
    pub exercise: Option<String>,
}

impl Header {
    /// A header with this program's format, version and `started_unix_secs` = now.
    pub fn new(
        model: &str,
        model_sha256: &str,
        calibration: Option<crate::science::calibration::Baseline>,
        source: &str,
        exercise: Option<String>,
    ) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self {
            format: FORMAT.into(),
            version: VERSION,
            program_version: env!("CARGO_PKG_VERSION").into(),
            model: model.into(),
            model_sha256: model_sha256.into(),
            calibration,
            source: source.into(),
            started_unix_secs: now,
            exercise,
        }
    }
}

/// One recorded frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameLine {
    /// Media time, seconds since the session started.
    pub t_secs: f64,
    /// Frame sequence number.
    pub seq: u64,
    /// The 17 keypoints as `[x_px, y_px, score]` in COCO order.
    pub keypoints: Vec<[f32; 3]>,
    /// The frame's height, which the analysis uses to tell a person leaving by the bottom edge
    /// (absent in recordings made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_px: Option<u32>,
    /// The analysis.
    pub posture: PostureRecord,
}

/// One recorded event (alerts, reps, source lost...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// Media time.
    pub t_secs: f64,
    /// The event.
    pub event: Event,
}

/// The session's figures, written last (or recomputed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Frames recorded.
    pub frames: u64,
    /// Media time from the first to the last frame.
    pub duration_secs: f64,
    /// Time judged good.
    pub good_secs: f64,
    /// Time judged fair.
    pub fair_secs: f64,
    /// Time judged poor.
    pub poor_secs: f64,
    /// Time nobody was seen or nothing was judged.
    pub unjudged_secs: f64,
    /// The longest uninterrupted poor stretch.
    pub longest_poor_secs: f64,
    /// Alert events (`alert`).
    pub alerts: u32,
    /// Reps completed (`rep` exercise events).
    pub reps: u32,
    /// Whether this summary was recomputed because the file had none.
    #[serde(default)]
    pub recomputed: bool,
}

impl Summary {
    /// Computes the summary of `frames` and `events`. Each frame's band lasts until the next frame.
    pub fn of(frames: &[FrameLine], events: &[EventLine]) -> Self {
        let mut b = SummaryBuilder::default();
        for f in frames {
            b.frame(f.t_secs, f.posture.band);
        }
        for e in events {
            b.event(&e.event);
        }
        b.finish()
    }
}

/// The longest gap between two frames that counts as recorded time. A longer one (a clock jump,
/// a damaged timestamp) or a step back in time is not counted: see [`SummaryBuilder::time_warning`].
pub const MAX_FRAME_GAP_SECS: f64 = 60.0;

/// Builds a [`Summary`] frame by frame, without keeping the frames (hours of recording).
///
/// Each frame's band lasts until the next frame. Timestamps that go backwards or jump forward by
/// more than [`MAX_FRAME_GAP_SECS`] are not counted as time; the duration is then the time that
/// was counted, so the bands always add up to it.
#[derive(Clone, Debug, Default)]
pub struct SummaryBuilder {
    s: Summary,
    first_t: Option<f64>,
    last: Option<(f64, Option<Band>)>,
    poor_run: f64,
    counted: f64,
    backwards: u64,
    jumps: u64,
}

impl SummaryBuilder {
    /// Adds a frame at `t_secs` judged `band` (none: not judged).
    pub fn frame(&mut self, t_secs: f64, band: Option<Band>) {
        self.s.frames += 1;
        if !t_secs.is_finite() {
            self.jumps += 1;
            return;
        }
        self.first_t.get_or_insert(t_secs);
        if let Some((t0, b0)) = self.last {
            let mut dt = t_secs - t0;
            if dt < 0.0 {
                self.backwards += 1;
                dt = 0.0;
            } else if dt > MAX_FRAME_GAP_SECS {
                self.jumps += 1;
                dt = 0.0;
            }
            self.counted += dt;
            match b0 {
                Some(Band::Good) => self.s.good_secs += dt,
                Some(Band::Fair) => self.s.fair_secs += dt,
                Some(Band::Poor) => self.s.poor_secs += dt,
                None => self.s.unjudged_secs += dt,
            }
            if b0 == Some(Band::Poor) {
                self.poor_run += dt;
                self.s.longest_poor_secs = self.s.longest_poor_secs.max(self.poor_run);
            } else {
                self.poor_run = 0.0;
            }
        }
        self.last = Some((t_secs, band));
    }

    /// Adds an event: alerts and reps are counted.
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::Alert { .. } => self.s.alerts += 1,
            Event::Rep { .. } => self.s.reps += 1,
            _ => {}
        }
    }

    /// The summary so far.
    pub fn finish(&self) -> Summary {
        let mut s = self.s.clone();
        if let (Some(first), Some((last, _))) = (self.first_t, self.last) {
            s.duration_secs = if self.backwards + self.jumps == 0 {
                last - first
            } else {
                self.counted
            };
        }
        s
    }

    /// One line saying the timestamps were irregular and how that was handled, when they were.
    pub fn time_warning(&self) -> Option<String> {
        (self.backwards + self.jumps > 0).then(|| {
            format!(
                "timestamps went backwards {} time(s) and jumped forward by more than {MAX_FRAME_GAP_SECS} s (or were not numbers) {} time(s); those gaps are not counted as time",
                self.backwards, self.jumps
            )
        })
    }
}

/// One line of a session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    /// The first line.
    Header(Header),
    /// A frame.
    Frame(FrameLine),
    /// An event.
    Event(EventLine),
    /// The last line.
    Summary(Summary),
}

/// Problems reading or writing session files.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The file cannot be opened or read.
    #[error("cannot read session {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file cannot be created.
    #[error("cannot create session file {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a session file, or its header is unreadable.
    #[error("{path} is not a posture session file ({reason})")]
    NotASession {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A session of another format version.
    #[error("session {path} has format version {found}; this posture reads version {VERSION}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
}

/// A loaded session.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The header.
    pub header: Header,
    /// The frames, in file order.
    pub frames: Vec<FrameLine>,
    /// The events, in file order.
    pub events: Vec<EventLine>,
    /// The summary: the file's, or recomputed (`recomputed` set) when the file has none.
    pub summary: Summary,
    /// One warning per skipped line (corrupt, or cut off by a crash), with its line number.
    pub warnings: Vec<String>,
}

/// Warnings kept per file; further skipped lines are only counted.
pub const MAX_WARNINGS: usize = 100;

/// Reads a session file line by line, keeping nothing but the header: hours of recording in
/// constant memory. Lines that do not parse are skipped with a warning naming the line.
pub struct SessionReader {
    path: PathBuf,
    header: Header,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    line_no: usize,
    warnings: Vec<String>,
    skipped: usize,
    done: bool,
}

impl SessionReader {
    /// Opens `path` and reads its header.
    ///
    /// # Errors
    /// [`SessionError`] when the file cannot be read, its first line is not a session header, or
    /// it is of another format version.
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        let file = std::fs::File::open(path).map_err(|source| SessionError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut lines = std::io::BufReader::new(file).lines();
        let not = |reason: String| SessionError::NotASession {
            path: path.to_owned(),
            reason,
        };
        let first = lines
            .next()
            .ok_or_else(|| not("the file is empty".into()))?
            .map_err(|source| SessionError::Read {
                path: path.to_owned(),
                source,
            })?;
        let value: serde_json::Value =
            serde_json::from_str(&first).map_err(|e| not(format!("line 1: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(not("line 1 is not a posture.session header".into()));
        }
        let version = value
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if version != u64::from(VERSION) {
            return Err(SessionError::Version {
                path: path.to_owned(),
                found: version,
            });
        }
        let header = match serde_json::from_value::<Line>(value) {
            Ok(Line::Header(h)) => h,
            Ok(_) => return Err(not("line 1 is not a header".into())),
            Err(e) => return Err(not(format!("line 1: {e}"))),
        };
        Ok(Self {
            path: path.to_owned(),
            header,
            lines,
            line_no: 1,
            warnings: Vec::new(),
            skipped: 0,
            done: false,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Warnings about skipped lines so far (the first [`MAX_WARNINGS`], then one saying how
    /// many more), each naming the file and the line.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.warnings.clone();
        if self.skipped > self.warnings.len() {
            w.push(format!(
                "{}: {} more line(s) skipped",
                self.path.display(),
                self.skipped - self.warnings.len()
            ));
        }
        w
    }

    /// Lines skipped so far.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    fn skip(&mut self, why: String) {
        self.skipped += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(format!(
                "{}: line {}: {why}",
                self.path.display(),
                self.line_no
            ));
        }
    }

    /// The next frame, event or summary line; `None` at the end of the file.
    pub fn next_line(&mut self) -> Option<Line> {
        while !self.done {
            let line = self.lines.next()?;
            self.line_no += 1;
            let line = match line {
                Ok(l) => l,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.skip(format!("unreadable ({e}); skipped"));
                    continue;
                }
                Err(e) => {
                    // The file cannot be read further: what was read stands.
                    self.skip(format!("unreadable ({e}); the rest of the file is skipped"));
                    self.done = true;
                    return None;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Line>(&line) {
                Ok(Line::Header(_)) => self.skip("a second header; skipped".into()),
                Ok(l) => return Some(l),
                Err(e) => self.skip(format!("not a valid session line ({e}); skipped")),
            }
        }
        None
    }
}

impl Session {
    /// Loads a session file, skipping (with a warning naming the line) lines that do not parse.
    /// For long recordings read it with [`SessionReader`] instead: this keeps every frame.
    ///
    /// # Errors
    /// [`SessionError`] when the file cannot be read, its first line is not a session header, or
    /// it is of another format version.
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        let mut reader = SessionReader::open(path)?;
        let (mut frames, mut events, mut summary) = (Vec::new(), Vec::new(), None);
        while let Some(line) = reader.next_line() {
            match line {
                Line::Frame(f) => frames.push(f),
                Line::Event(e) => events.push(e),
                Line::Summary(s) => summary = Some(s),
                Line::Header(_) => {}
            }
        }
        let summary = summary.unwrap_or_else(|| Summary {
            recomputed: true,
            ..Summary::of(&frames, &events)
        });
        Ok(Session {
            header: reader.header.clone(),
            warnings: reader.warnings(),
            frames,
            events,
            summary,
        })
    }
}

enum Command {
    Line(String),
    Flush(crossbeam_channel::Sender<()>),
}

/// Writes a session file on its own thread (`posture-recorder`): lines go through a bounded
/// channel, are buffered, and are flushed at least once a second. A write error (a full disk)
/// is kept, reported once by [`SessionWriter::take_error`], and stops the writing; the caller's
/// run goes on and what was written stays.
pub struct SessionWriter {
    path: PathBuf,
    tx: Option<Sender<Command>>,
    error: Arc<Mutex<Option<String>>>,
    error_reported: bool,
    thread: Option<JoinHandle<()>>,
}

/// How often the writer flushes at least.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl SessionWriter {
    /// Creates `path` and writes `header` as its first line (flushed at once).
    ///
    /// # Errors
    /// [`SessionError::Create`] when the file cannot be created or written.
    pub fn create(path: &Path, header: &Header) -> Result<Self, SessionError> {
        let create = |source| SessionError::Create {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(create)?;
        }
        let file = std::fs::File::create(path).map_err(create)?;
        let mut out = BufWriter::new(file);
        let first = serde_json::to_string(&Line::Header(header.clone()))
            .map_err(|e| create(std::io::Error::other(e)))?;
        writeln!(out, "{first}")
            .and_then(|()| out.flush())
            .map_err(create)?;
        let (tx, rx) = bounded::<Command>(1024);
        let error = Arc::new(Mutex::new(None));
        let error_t = Arc::clone(&error);
        let thread = std::thread::Builder::new()
            .name("posture-recorder".into())
            .spawn(move || {
                let mut last_flush = Instant::now();
                let mut failed = false;
                let fail = |e: std::io::Error, failed: &mut bool| {
                    *failed = true;
                    if let Ok(mut slot) = error_t.lock() {
                        slot.get_or_insert_with(|| e.to_string());
                    }
                };
                loop {
                    let cmd = rx.recv_timeout(FLUSH_EVERY / 4);
                    match cmd {
                        Ok(Command::Line(l)) if !failed => {
                            if let Err(e) = writeln!(out, "{l}") {
                                fail(e, &mut failed);
                            }
                        }
                        Ok(Command::Line(_)) => {}
                        Ok(Command::Flush(done)) => {
                            if !failed && let Err(e) = out.flush() {
                                fail(e, &mut failed);
                            }
                            last_flush = Instant::now();
                            let _ = done.send(());
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if !failed && last_flush.elapsed() >= FLUSH_EVERY {
                        if let Err(e) = out.flush() {
                            fail(e, &mut failed);
                        }
                        last_flush = Instant::now();
                    }
                }
                if !failed && let Err(e) = out.flush() {
                    fail(e, &mut failed);
                }
            })
            .map_err(create)?;
        Ok(Self {
            path: path.to_owned(),
            tx: Some(tx),
            error,
            error_reported: false,
            thread: Some(thread),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one line.
    pub fn write(&self, line: &Line) {
        if let (Some(tx), Ok(text)) = (&self.tx, serde_json::to_string(line)) {
            let _ = tx.send(Command::Line(text));
        }
    }

    /// Waits until everything queued so far is on disk (flushed to the OS).
    pub fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (done_tx, done_rx) = bounded(1);
            if tx.send(Command::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv_timeout(Duration::from_secs(5));
            }
        }
    }

    /// The first write error, once (later calls return `None`): warn about it once and go on.
    pub fn take_error(&mut self) -> Option<String> {
        if self.error_reported {
            return None;
        }
        let e = self.error.lock().ok().and_then(|slot| slot.clone());
        if e.is_some() {
            self.error_reported = true;
        }
        e
    }

    /// Writes the summary, flushes and closes the file; returns a write error not yet taken
    /// with [`SessionWriter::take_error`].
    pub fn finish(mut self, summary: &Summary) -> Option<String> {
        self.write(&Line::Summary(summary.clone()));
        self.close();
        self.take_error()
    }

    fn close(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SessionWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// The default folder for recordings: `<data dir>/posture/sessions`.
pub fn default_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("posture").join("sessions"))
}
