//! The recording sink: every frame's keypoints and analysis and every event, as a
//! `posture.session` file that survives a crash (see [`crate::format::session`]). Never images:
//! a video beside it is the separate [`crate::sink::video::VideoSink`], only when asked.

use std::io;
use std::path::{Path, PathBuf};

use crate::event::Event;
use crate::format::live::PostureRecord;
use crate::format::session::{
    EventLine, FrameLine, Header, Line, SessionError, SessionWriter, SummaryBuilder,
};
use crate::run::{Flow, FrameUpdate, Sink};

/// A run's recording: the writer plus the running summary. A failure mid-run becomes one
/// warning (through [`Sink::take_warnings`]) and the run goes on; what was written stays.
pub struct Recorder {
    writer: Option<SessionWriter>,
    path: PathBuf,
    failed: bool,
    warnings: Vec<String>,
    summary: SummaryBuilder,
}

impl Recorder {
    /// The file a recording started now in `dir` goes to: `session-<unix secs>.jsonl`.
    pub fn path_in(dir: &Path, header: &Header) -> PathBuf {
        dir.join(format!("session-{}.jsonl", header.started_unix_secs))
    }

    /// Starts recording into `dir` (a new `session-<unix secs>.jsonl`, header written).
    ///
    /// # Errors
    /// [`SessionError::Create`] when the folder or file cannot be created.
    pub fn start(dir: &Path, header: &Header) -> Result<Self, SessionError> {
        let path = Self::path_in(dir, header);
        let writer = SessionWriter::create(&path, header)?;
        Ok(Self {
            writer: Some(writer),
            path,
            failed: false,
            warnings: Vec::new(),
            summary: SummaryBuilder::default(),
        })
    }

    /// The session file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// After the run: whether the file holds the whole session (no write failed).
    pub fn complete(&self) -> bool {
        !self.failed
    }

    fn check(&mut self) {
        if let Some(w) = &mut self.writer
            && let Some(e) = w.take_error()
        {
            self.failed = true;
            self.warnings.push(format!(
                "recording to {} failed ({e}); going on without recording, the file keeps what was written",
                self.path.display()
            ));
        }
    }
}

impl Sink for Recorder {
    fn event(&mut self, t_secs: f64, event: &Event) -> io::Result<()> {
        if matches!(event, Event::Warning { .. }) {
            // The run's own troubles are said to the user, not recorded as posture events.
            return Ok(());
        }
        self.summary.event(event);
        if let Some(w) = &self.writer {
            w.write(&Line::Event(EventLine {
                t_secs,
                event: event.clone(),
            }));
        }
        self.check();
        Ok(())
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> io::Result<Flow> {
        let p = update.processed;
        let line = FrameLine {
            t_secs: p.frame.t_secs,
            seq: p.frame.seq,
            keypoints: p
                .estimate
                .pose
                .keypoints
                .iter()
                .map(|k| [k.x_px, k.y_px, k.score])
                .collect(),
            height_px: Some(p.frame.resolution().height),
            posture: PostureRecord::new(update.analysis),
        };
        self.summary.frame(line.t_secs, line.posture.band);
        if let Some(w) = &self.writer {
            w.write(&Line::Frame(line));
        }
        self.check();
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.check();
        let summary = self.summary.finish();
        if let Some(w) = self.writer.take()
            && let Some(e) = w.finish(&summary)
        {
            // A failure at the very end (the summary line, the last flush).
            self.failed = true;
            self.warnings.push(format!(
                "recording to {} failed ({e}); the file keeps what was written",
                self.path.display()
            ));
        }
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
