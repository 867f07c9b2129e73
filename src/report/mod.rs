//! `posture report` and `posture history`: what recorded sessions say, as figures (JSON, format
//! `posture.report` version 1) and as one self-contained HTML page with plots (plotters SVG,
//! inline: the file opens anywhere, offline, and carries no frames — only numbers).
//!
//! A session file is read once, line by line, into a [`SessionDigest`]: the figures' running
//! sums and the plots' points, thinned to a bounded number as they come. Memory stays flat
//! whatever the session's length; the figures are computed from every frame (thinning is for
//! drawing only). Everything after loading is a pure function of the digests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::format::session::{
    EventLine, FrameLine, Header, Line as SessionLine, Session, SessionError, SessionReader,
    Summary, SummaryBuilder,
};
use crate::science::judge::Band;
use crate::science::metrics::Metric;

/// `format` of the figures JSON.
pub const FORMAT: &str = "posture.report";
/// `version` of the figures JSON.
pub const VERSION: u32 = 1;

/// The angles a report plots and summarises.
pub const ANGLES: [Metric; 5] = [
    Metric::TrunkFlexionDeg,
    Metric::NeckFlexionDeg,
    Metric::CvaProxyDeg,
    Metric::ShoulderTiltDeg,
    Metric::LateralLeanDeg,
];

/// One rep of an exercise, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepFigure {
    /// 1-based.
    pub number: u32,
    /// Seconds the counted hold lasted.
    pub hold_secs: f64,
    /// Mean posture score during the hold.
    pub mean_score: Option<f64>,
    /// Lowest posture score during the hold.
    pub min_score: Option<f64>,
}

/// The figures of one session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionFigures {
    /// The session file's name.
    pub file: String,
    /// Start, seconds since the Unix epoch.
    pub started_unix_secs: u64,
    /// Start day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Where the frames came from.
    pub source: String,
    /// The exercise, when one was run.
    pub exercise: Option<String>,
    /// The session's own summary (flattened into this object): `frames`, `duration_secs`,
    /// `good_secs`, `fair_secs`, `poor_secs`, `unjudged_secs`, `longest_poor_secs`, `alerts`,
    /// `reps`, and `recomputed` (the file had none: it was cut off, and this was computed from
    /// the frames).
    #[serde(flatten)]
    pub summary: Summary,
    /// Share of the judged time that was good, percent (`None` when nothing was judged).
    pub good_pct: Option<f64>,
    /// Share of the judged time that was fair, percent.
    pub fair_pct: Option<f64>,
    /// Share of the judged time that was poor, percent.
    pub poor_pct: Option<f64>,
    /// Attempts rejected for breaking form.
    pub rejected: u32,
    /// Each rep.
    pub rep_details: Vec<RepFigure>,
    /// Mean score over the judged frames.
    pub mean_score: Option<f64>,
    /// Median of each angle over the frames where it was measured, degrees (keys as [`ANGLES`]).
    pub median_deg: BTreeMap<String, f64>,
    /// Lines skipped as corrupt or cut off.
    pub skipped_lines: usize,
}

/// One day across sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayFigures {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Sessions that started that day.
    pub sessions: usize,
    /// Their recorded time, seconds.
    pub duration_secs: f64,
    /// Good share of their judged time, percent.
    pub good_pct: Option<f64>,
    /// Poor share of their judged time, percent.
    pub poor_pct: Option<f64>,
    /// Mean score over their judged frames.
    pub mean_score: Option<f64>,
    /// Alerts raised that day.
    pub alerts: u32,
    /// Reps completed that day.
    pub reps: u32,
}

/// What `posture report --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportFigures {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Per session, in start order.
    pub sessions: Vec<SessionFigures>,
    /// Per day, in order (the daily trend).
    pub days: Vec<DayFigures>,
    /// Files given that could not be loaded, and why (the report covers the others).
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
}

/// A session file left out of a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file as given.
    pub file: String,
    /// Why it could not be loaded.
    pub error: String,
}

fn pct(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub fn day_of(unix_secs: u64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = (unix_secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM` (UTC) of a Unix time.
pub fn time_of(unix_secs: u64) -> String {
    let s = unix_secs % 86_400;
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// The value of `metric` in a frame, when measured.
pub fn angle(f: &FrameLine, metric: Metric) -> Option<f64> {
    f.posture.metrics.get(metric).map(|v| f64::from(v.value))
}

/// Values kept exactly for a median, per angle; past this many, a histogram of 0.001° bins
/// takes over (the median is then exact to 0.0005°), so memory stays bounded.
pub const EXACT_MEDIAN_VALUES: usize = 1_000_000;
const HIST_LO: f64 = -360.0;
const HIST_BIN: f64 = 0.001;
const HIST_BINS: usize = 720_000;

/// The median of a stream of values in bounded memory.
#[derive(Clone, Debug)]
pub enum MedianAcc {
    /// Every value (f32, as recorded).
    Exact(Vec<f32>),
    /// Counts per bin of [`HIST_BIN`] from [`HIST_LO`], once there are too many values.
    Histogram(Box<[u32]>, u64),
}

impl Default for MedianAcc {
    fn default() -> Self {
        MedianAcc::Exact(Vec::new())
    }
}

fn bin_of(v: f32) -> usize {
    (((f64::from(v) - HIST_LO) / HIST_BIN).floor().max(0.0) as usize).min(HIST_BINS - 1)
}

impl MedianAcc {
    /// Adds a value.
    pub fn push(&mut self, v: f32) {
        match self {
            MedianAcc::Exact(values) => {
                values.push(v);
                if values.len() > EXACT_MEDIAN_VALUES {
                    let mut counts = vec![0u32; HIST_BINS].into_boxed_slice();
                    for &x in values.iter() {
                        counts[bin_of(x)] += 1;
                    }
                    let n = values.len() as u64;
                    *self = MedianAcc::Histogram(counts, n);
                }
            }
            MedianAcc::Histogram(counts, n) => {
                let b = bin_of(v);
                counts[b] = counts[b].saturating_add(1);
                *n += 1;
            }
        }
    }

    /// The median (the mean of the two middle values for an even count), `None` when empty.
    pub fn median(&self) -> Option<f64> {
        match self {
            MedianAcc::Exact(values) => {
                if values.is_empty() {
                    return None;
                }
                let mut v: Vec<f64> = values.iter().map(|&x| f64::from(x)).collect();
                v.sort_by(f64::total_cmp);
                let n = v.len();
                Some(if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                })
            }
            MedianAcc::Histogram(counts, n) => {
                if *n == 0 {
                    return None;
                }
                // The value of the k-th smallest (0-based): its bin's centre.
                let kth = |k: u64| {
                    let mut seen = 0u64;
                    for (i, &c) in counts.iter().enumerate() {
                        seen += u64::from(c);
                        if seen > k {
                            return HIST_LO + (i as f64 + 0.5) * HIST_BIN;
                        }
                    }
                    HIST_LO + HIST_BINS as f64 * HIST_BIN
                };
                Some(if n % 2 == 1 {
                    kth(n / 2)
                } else {
                    (kth(n / 2 - 1) + kth(n / 2)) / 2.0
                })
            }
        }
    }
}

/// At most this many points per plotted line (long sessions are thinned evenly as they load).
pub const MAX_POINTS: usize = 1500;

/// Every `stride`-th point of a stream, the stride doubling whenever more than [`MAX_POINTS`]
/// are kept: evenly spaced points, between half and all of [`MAX_POINTS`], in bounded memory.
#[derive(Clone, Debug)]
pub struct Thinned<T> {
    points: Vec<T>,
    stride: usize,
    seen: usize,
}

impl<T> Default for Thinned<T> {
    fn default() -> Self {
        Self {
            points: Vec::new(),
            stride: 1,
            seen: 0,
        }
    }
}

impl<T: Copy> Thinned<T> {
    /// Offers the next point of the stream.
    pub fn push(&mut self, p: T) {
        if self.seen.is_multiple_of(self.stride) {
            self.points.push(p);
            if self.points.len() > MAX_POINTS {
                let mut i = 0;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }

    /// The points kept.
    pub fn points(&self) -> &[T] {
        &self.points
    }
}

/// Alert lines drawn at most (the figures count every alert).
const MAX_ALERT_MARKERS: usize = 10_000;

/// What a report needs of one session, gathered in one pass over its lines.
#[derive(Clone, Debug)]
pub struct SessionDigest {
    /// The header.
    pub header: Header,
    /// The file's summary, or one recomputed from the frames (`recomputed` set).
    pub summary: Summary,
    /// Warnings: skipped lines (naming file and line), irregular timestamps.
    pub warnings: Vec<String>,
    /// Lines skipped as corrupt or cut off.
    pub skipped_lines: usize,
    /// Each rep, from the `rep` events.
    pub rep_details: Vec<RepFigure>,
    /// `rejected` events.
    pub rejected: u32,
    /// Breaks the desk suggested (`break_suggested` events).
    pub breaks_suggested: u32,
    /// Breaks taken (`break_taken` events).
    pub breaks_taken: u32,
    /// Sum and count of the judged frames' scores.
    pub score_sum: f64,
    /// Judged frames.
    pub score_count: u64,
    medians: Vec<MedianAcc>,
    t_first: Option<f64>,
    t_last: f64,
    scores: Thinned<(f64, f64, Band)>,
    angles: Vec<Thinned<(f64, f64)>>,
    angle_range: (f64, f64),
    alerts: Vec<f64>,
    builder: SummaryBuilder,
    file_summary: Option<Summary>,
}

impl SessionDigest {
    fn new(header: Header) -> Self {
        Self {
            header,
            summary: Summary::default(),
            warnings: Vec::new(),
            skipped_lines: 0,
            rep_details: Vec::new(),
            rejected: 0,
            breaks_suggested: 0,
            breaks_taken: 0,
            score_sum: 0.0,
            score_count: 0,
            medians: vec![MedianAcc::default(); ANGLES.len()],
            t_first: None,
            t_last: 0.0,
            scores: Thinned::default(),
            angles: vec![Thinned::default(); ANGLES.len()],
            angle_range: (f64::INFINITY, f64::NEG_INFINITY),
            alerts: Vec::new(),
            builder: SummaryBuilder::default(),
            file_summary: None,
        }
    }

    /// Reads a session file once, line by line, in bounded memory.
    ///
    /// # Errors
    /// [`SessionError`] when the file cannot be read, is not a session, or is of another
    /// version (as [`SessionReader::open`]).
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        let mut reader = SessionReader::open(path)?;
        let mut d = Self::new(reader.header().clone());
        while let Some(line) = reader.next_line() {
            match line {
                SessionLine::Frame(f) => d.frame(&f),
                SessionLine::Event(e) => d.event(&e),
                SessionLine::Summary(s) => d.file_summary = Some(s),
                SessionLine::Header(_) => {}
            }
        }
        d.warnings = reader.warnings();
        d.skipped_lines = reader.skipped();
        Ok(d.finish(Some(path)))
    }

    /// The digest of a session already in memory.
    pub fn of(s: &Session) -> Self {
        let mut d = Self::new(s.header.clone());
        for f in &s.frames {
            d.frame(f);
        }
        for e in &s.events {
            d.event(e);
        }
        d.file_summary = Some(s.summary.clone());
        d.warnings = s.warnings.clone();
        d.skipped_lines = s.warnings.len();
        d.finish(None)
    }

    fn frame(&mut self, f: &FrameLine) {
        self.builder.frame(f.t_secs, f.posture.band);
        if !f.t_secs.is_finite() {
            return;
        }
        let t0 = *self.t_first.get_or_insert(f.t_secs);
        let t = f.t_secs - t0;
        self.t_last = self.t_last.max(t);
        if let Some(score) = f.posture.score {
            self.score_sum += f64::from(score);
            self.score_count += 1;
            if let Some(band) = f.posture.band {
                self.scores.push((t, f64::from(score), band));
            }
        }
        for (i, metric) in ANGLES.into_iter().enumerate() {
            if let Some(v) = angle_value(f, metric) {
                self.medians[i].push(v);
                let v = f64::from(v);
                self.angles[i].push((t, v));
                self.angle_range = (self.angle_range.0.min(v), self.angle_range.1.max(v));
            }
        }
    }

    fn event(&mut self, e: &EventLine) {
        self.builder.event(&e.event);
        match &e.event {
            Event::Rep {
                number,
                hold_secs,
                mean_score,
                min_score,
            } => self.rep_details.push(RepFigure {
                number: *number,
                hold_secs: *hold_secs,
                mean_score: mean_score.map(f64::from),
                min_score: min_score.map(f64::from),
            }),
            Event::Rejected { .. } => self.rejected += 1,
            Event::BreakSuggested { .. } => self.breaks_suggested += 1,
            Event::BreakTaken { .. } => self.breaks_taken += 1,
            Event::Alert { .. } if self.alerts.len() < MAX_ALERT_MARKERS => {
                self.alerts.push(e.t_secs);
            }
            _ => {}
        }
    }

    fn finish(mut self, path: Option<&Path>) -> Self {
        self.summary = match self.file_summary.take() {
            Some(s) => s,
            None => Summary {
                recomputed: true,
                ..self.builder.finish()
            },
        };
        if let Some(w) = self.builder.time_warning() {
            self.warnings.push(match path {
                Some(p) => format!("{}: {w}", p.display()),
                None => w,
            });
        }
        self
    }

    /// Mean score over the judged frames.
    pub fn mean_score(&self) -> Option<f64> {
        (self.score_count > 0).then(|| self.score_sum / self.score_count as f64)
    }

    /// The median of `metric` (one of [`ANGLES`]).
    pub fn median_deg(&self, metric: Metric) -> Option<f64> {
        let i = ANGLES.iter().position(|m| *m == metric)?;
        self.medians[i].median()
    }
}

/// [`angle`] as stored (f32; the f64 widening is exact), finite values only.
fn angle_value(f: &FrameLine, metric: Metric) -> Option<f32> {
    angle(f, metric).map(|v| v as f32).filter(|v| v.is_finite())
}

/// Indices of `sessions` by start time (stable: equal starts keep their order).
fn start_order(sessions: &[SessionDigest]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sessions.len()).collect();
    order.sort_by_key(|&i| sessions[i].header.started_unix_secs);
    order
}

/// The figures of one session (`file` is how the report names it).
pub fn session_figures(file: &str, s: &SessionDigest) -> SessionFigures {
    let sum = &s.summary;
    let judged = sum.good_secs + sum.fair_secs + sum.poor_secs;
    let median_deg = ANGLES
        .iter()
        .filter_map(|&metric| s.median_deg(metric).map(|m| (metric.name().to_owned(), m)))
        .collect();
    SessionFigures {
        file: file.to_owned(),
        started_unix_secs: s.header.started_unix_secs,
        day: day_of(s.header.started_unix_secs),
        source: s.header.source.clone(),
        exercise: s.header.exercise.clone(),
        summary: sum.clone(),
        good_pct: pct(sum.good_secs, judged),
        fair_pct: pct(sum.fair_secs, judged),
        poor_pct: pct(sum.poor_secs, judged),
        rejected: s.rejected,
        rep_details: s.rep_details.clone(),
        mean_score: s.mean_score(),
        median_deg,
        skipped_lines: s.skipped_lines,
    }
}

/// The daily trend: sessions grouped by their start day (UTC), weighted by time; `loaded[i]` is
/// the digest `sessions[i]` was made from.
pub fn days(sessions: &[SessionFigures], loaded: &[&SessionDigest]) -> Vec<DayFigures> {
    let mut by_day: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        by_day.entry(&s.day).or_default().push(i);
    }
    by_day
        .into_iter()
        .map(|(day, idx)| {
            let sum =
                |f: fn(&SessionFigures) -> f64| idx.iter().map(|&i| f(&sessions[i])).sum::<f64>();
            let judged = sum(|s| s.summary.good_secs + s.summary.fair_secs + s.summary.poor_secs);
            let (total, n) = idx
                .iter()
                .filter_map(|&i| loaded.get(i))
                .fold((0.0, 0u64), |(t, n), s| {
                    (t + s.score_sum, n + s.score_count)
                });
            DayFigures {
                day: day.to_owned(),
                sessions: idx.len(),
                duration_secs: sum(|s| s.summary.duration_secs),
                good_pct: pct(sum(|s| s.summary.good_secs), judged),
                poor_pct: pct(sum(|s| s.summary.poor_secs), judged),
                mean_score: (n > 0).then(|| total / n as f64),
                alerts: idx.iter().map(|&i| sessions[i].summary.alerts).sum(),
                reps: idx.iter().map(|&i| sessions[i].summary.reps).sum(),
            }
        })
        .collect()
}

/// The figures of `sessions` (named by `files`), sorted by start time; `skipped` lists the files
/// that could not be loaded.
pub fn figures(
    files: &[String],
    sessions: &[SessionDigest],
    skipped: Vec<SkippedFile>,
) -> ReportFigures {
    let order = start_order(sessions);
    let loaded: Vec<&SessionDigest> = order.iter().map(|&i| &sessions[i]).collect();
    let figs: Vec<SessionFigures> = order
        .iter()
        .map(|&i| session_figures(files.get(i).map_or("", String::as_str), &sessions[i]))
        .collect();
    let days = days(&figs, &loaded);
    ReportFigures {
        format: FORMAT.into(),
        version: VERSION,
        sessions: figs,
        days,
        skipped,
    }
}

// ---- plots ----

const GOOD: plotters::style::RGBColor = band_color(Band::Good);
const POOR: plotters::style::RGBColor = band_color(Band::Poor);
const SERIES: [plotters::style::RGBColor; 5] = [
    plotters::style::RGBColor(31, 119, 180),
    plotters::style::RGBColor(148, 103, 189),
    plotters::style::RGBColor(140, 86, 75),
    plotters::style::RGBColor(23, 190, 207),
    plotters::style::RGBColor(127, 127, 127),
];

/// Splits a time series into runs without gaps longer than `gap` seconds.
fn runs(points: &[(f64, f64)], gap: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last_t = f64::NEG_INFINITY;
    for &(t, v) in points {
        if t - last_t > gap || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(run) = out.last_mut() {
            run.push((t, v));
        }
        last_t = t;
    }
    out
}

type PlotResult = Result<String, String>;

struct Line<'a> {
    label: &'a str,
    color: plotters::style::RGBColor,
    points: Vec<(f64, f64)>,
}

/// A chart's frame: title, axis names and ranges.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

fn line_chart(
    axes: &Axes<'_>,
    lines: &[Line<'_>],
    dots: &[(f64, f64, plotters::style::RGBColor)],
    markers: &[f64],
) -> PlotResult {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (title, x_desc, y_desc) = (axes.title, axes.x_desc, axes.y_desc);
        let (x0, mut x1) = axes.x_range;
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let (y0, mut y1) = axes.y_range;
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(|e| err(&e))?;
        for &m in markers {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(m, y0), (m, y1)],
                    POOR.mix(0.35).stroke_width(1),
                )))
                .map_err(|e| err(&e))?;
        }
        for line in lines {
            let color = line.color;
            let mut first = true;
            for run in runs(&line.points, 2.0) {
                let series = chart
                    .draw_series(LineSeries::new(run, color.stroke_width(2)))
                    .map_err(|e| err(&e))?;
                if first && lines.len() > 1 {
                    series.label(line.label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
                first = false;
            }
        }
        chart
            .draw_series(
                dots.iter()
                    .map(|&(x, y, c)| Circle::new((x, y), 2, c.filled())),
            )
            .map_err(|e| err(&e))?;
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

const fn band_color(b: Band) -> plotters::style::RGBColor {
    let [r, g, b] = b.rgb();
    plotters::style::RGBColor(r, g, b)
}

/// The score over time: a line with each (thinned) frame dotted in its band's colour, and a
/// faint red line at each alert.
///
/// # Errors
/// When plotters fails to draw (a message).
pub fn score_plot(s: &SessionDigest) -> PlotResult {
    let t0 = s.t_first.unwrap_or(0.0);
    let scored = s.scores.points();
    let points: Vec<(f64, f64)> = scored.iter().map(|&(t, v, _)| (t, v)).collect();
    let dots: Vec<(f64, f64, _)> = scored
        .iter()
        .map(|&(t, v, b)| (t, v, band_color(b)))
        .collect();
    let alerts: Vec<f64> = s.alerts.iter().map(|t| t - t0).collect();
    let t_end = if s.t_first.is_some() { s.t_last } else { 1.0 };
    line_chart(
        &Axes {
            title: "Posture score",
            x_desc: "time (s)",
            y_desc: "score (0-100)",
            x_range: (0.0, t_end),
            y_range: (0.0, 100.0),
        },
        &[Line {
            label: "score",
            color: plotters::style::RGBColor(90, 90, 90),
            points,
        }],
        &dots,
        &alerts,
    )
}

/// The key angles over time (those measured in this session), `None` when none was.
///
/// # Errors
/// When plotters fails to draw.
pub fn angle_plot(s: &SessionDigest) -> Result<Option<String>, String> {
    let mut lines = Vec::new();
    for (i, label) in ANGLES.map(Metric::label).iter().enumerate() {
        let points = s.angles[i].points();
        if points.is_empty() {
            continue;
        }
        lines.push(Line {
            label,
            color: SERIES[i % SERIES.len()],
            points: points.to_vec(),
        });
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let (lo, hi) = s.angle_range;
    let pad = ((hi - lo) * 0.08).max(2.0);
    let t_end = if s.t_first.is_some() { s.t_last } else { 1.0 };
    line_chart(
        &Axes {
            title: "Angles",
            x_desc: "time (s)",
            y_desc: "degrees",
            x_range: (0.0, t_end),
            y_range: (lo - pad, hi + pad),
        },
        &lines,
        &[],
        &[],
    )
    .map(Some)
}

/// Good share and mean score per day, `None` with fewer than two days.
///
/// # Errors
/// When plotters fails to draw.
pub fn trend_plot(days: &[DayFigures]) -> Result<Option<String>, String> {
    if days.len() < 2 {
        return Ok(None);
    }
    let good: Vec<(f64, f64)> = days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i as f64, d.good_pct?)))
        .collect();
    let score: Vec<(f64, f64)> = days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i as f64, d.mean_score?)))
        .collect();
    let dots: Vec<_> = good
        .iter()
        .map(|&(x, y)| (x, y, GOOD))
        .chain(score.iter().map(|&(x, y)| (x, y, SERIES[0])))
        .collect();
    let title = format!(
        "Daily trend, {} to {}",
        days[0].day,
        days[days.len() - 1].day
    );
    line_chart(
        &Axes {
            title: &title,
            x_desc: "day (in order)",
            y_desc: "percent / score",
            x_range: (-0.2, days.len() as f64 - 0.8),
            y_range: (0.0, 100.0),
        },
        &[
            Line {
                label: "good time %",
                color: GOOD,
                points: good,
            },
            Line {
                label: "mean score",
                color: SERIES[0],
                points: score,
            },
        ],
        &dots,
        &[],
    )
    .map(Some)
}

// ---- HTML ----

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `v` with `digits` decimals and `unit`, or `–` when there is none.
pub fn opt(v: Option<f64>, digits: usize, unit: &str) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}{unit}"))
}

/// Seconds as `1 h 02 min`, `3 min 05 s` or `42.0 s`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{secs:.1} s")
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.25em .8em;border-bottom:1px solid #eee;text-align:left}\
.bar{display:flex;height:22px;border-radius:4px;overflow:hidden;margin:.5em 0;background:#ddd}\
.bar div{height:100%}.good{background:#2ea043}.fair{background:#db9614}.poor{background:#cf222e}\
.note{color:#666;font-size:.9em}svg{max-width:100%;height:auto}";

/// The whole report as one HTML page: a section per session (time in bands, longest poor
/// streak, alerts, reps and their quality, score and angle plots) and the daily trend.
///
/// # Errors
/// When a plot cannot be drawn.
pub fn html(figures: &ReportFigures, sessions: &[SessionDigest]) -> Result<String, String> {
    let order = start_order(sessions).into_iter().map(|i| &sessions[i]);
    let mut h = String::new();
    let w = |h: &mut String, s: String| h.push_str(&s);
    w(
        &mut h,
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>posture report</title>\
             <style>{CSS}</style></head><body>\n<h1>Posture report</h1>\n<p class=\"note\">{} session(s), \
             made by posture {}. Figures: <code>posture report --json</code> (format {FORMAT} v{VERSION}).</p>\n",
            figures.sessions.len(),
            env!("CARGO_PKG_VERSION")
        ),
    );
    if !figures.skipped.is_empty() {
        h.push_str("<h2>Files left out</h2>\n<p class=\"note\">These files could not be loaded; the report covers the others.</p>\n<table><tr><th>file</th><th>why</th></tr>\n");
        for f in &figures.skipped {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&f.file),
                esc(&f.error)
            );
        }
        h.push_str("</table>\n");
    }
    if let Some(svg) = trend_plot(&figures.days)? {
        w(&mut h, "<h2>Daily trend</h2>\n<table><tr><th>day</th><th>sessions</th><th>time</th><th>good</th><th>poor</th><th>mean score</th><th>alerts</th><th>reps</th></tr>\n".into());
        for d in &figures.days {
            w(
                &mut h,
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    d.day,
                    d.sessions,
                    duration(d.duration_secs),
                    opt(d.good_pct, 0, " %"),
                    opt(d.poor_pct, 0, " %"),
                    opt(d.mean_score, 0, ""),
                    d.alerts,
                    d.reps
                ),
            );
        }
        w(&mut h, format!("</table>\n{svg}\n"));
    }
    for (f, s) in figures.sessions.iter().zip(order) {
        w(
            &mut h,
            format!(
                "<h2>{} {} UTC — {}{}</h2>\n",
                f.day,
                time_of(f.started_unix_secs),
                esc(&f.file),
                f.exercise
                    .as_deref()
                    .map(|e| format!(" ({})", esc(e)))
                    .unwrap_or_default()
            ),
        );
        let bar = |cls: &str, v: Option<f64>| {
            v.filter(|v| *v > 0.0).map_or_else(String::new, |v| {
                format!(
                    "<div class=\"{cls}\" style=\"width:{v:.2}%\" title=\"{cls} {v:.0} %\"></div>"
                )
            })
        };
        w(
            &mut h,
            format!(
                "<div class=\"bar\">{}{}{}</div>\n",
                bar("good", f.good_pct),
                bar("fair", f.fair_pct),
                bar("poor", f.poor_pct)
            ),
        );
        let _ = write!(
            h,
            "<table><tr><th>recorded</th><td>{} ({} frames) from {}</td></tr>\
             <tr><th>good / fair / poor</th><td>{} / {} / {} ({} / {} / {} of the judged time)</td></tr>\
             <tr><th>not judged</th><td>{}</td></tr>\
             <tr><th>longest poor streak</th><td>{}</td></tr>\
             <tr><th>mean score</th><td>{}</td></tr>\
             <tr><th>alerts</th><td>{}</td></tr>",
            duration(f.summary.duration_secs),
            f.summary.frames,
            esc(&f.source),
            duration(f.summary.good_secs),
            duration(f.summary.fair_secs),
            duration(f.summary.poor_secs),
            opt(f.good_pct, 0, " %"),
            opt(f.fair_pct, 0, " %"),
            opt(f.poor_pct, 0, " %"),
            duration(f.summary.unjudged_secs),
            duration(f.summary.longest_poor_secs),
            opt(f.mean_score, 0, ""),
            f.summary.alerts,
        );
        if f.exercise.is_some() || f.summary.reps > 0 || f.rejected > 0 {
            let _ = write!(
                h,
                "<tr><th>reps</th><td>{} counted, {} rejected for breaking form</td></tr>",
                f.summary.reps, f.rejected
            );
        }
        for metric in ANGLES {
            let label = metric.label();
            if let Some(m) = f.median_deg.get(metric.name()) {
                let _ = write!(h, "<tr><th>median {label}</th><td>{m:.1}°</td></tr>");
            }
        }
        h.push_str("</table>\n");
        if !f.rep_details.is_empty() {
            h.push_str("<table><tr><th>rep</th><th>hold</th><th>mean score</th><th>lowest score</th></tr>\n");
            for r in &f.rep_details {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{:.1} s</td><td>{}</td><td>{}</td></tr>",
                    r.number,
                    r.hold_secs,
                    opt(r.mean_score, 0, ""),
                    opt(r.min_score, 0, "")
                );
            }
            h.push_str("</table>\n");
        }
        if f.summary.recomputed || f.skipped_lines > 0 {
            let _ = writeln!(
                h,
                "<p class=\"note\">The file was cut off or damaged: {} line(s) skipped{}.</p>",
                f.skipped_lines,
                if f.summary.recomputed {
                    ", summary recomputed from the frames"
                } else {
                    ""
                }
            );
        }
        h.push_str(&score_plot(s)?);
        h.push('\n');
        if let Some(svg) = angle_plot(s)? {
            h.push_str(&svg);
            h.push('\n');
        }
    }
    h.push_str("<p class=\"note\">Angles are keypoint proxies measured from a webcam: compare them with your own baseline and over time, not with clinical norms.</p>\n</body></html>\n");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::live::PostureRecord;
    use crate::format::session::{EventLine, Header, Summary};
    use crate::science::metrics::{Measure, PostureMetrics};

    fn digest(s: &Session) -> SessionDigest {
        SessionDigest::of(s)
    }

    fn frame(t: f64, score: Option<f32>, trunk: Option<f32>) -> FrameLine {
        let band = score.map(|s| {
            if s >= 70.0 {
                Band::Good
            } else if s >= 30.0 {
                Band::Fair
            } else {
                Band::Poor
            }
        });
        let metrics = PostureMetrics {
            trunk_flexion_deg: trunk.map(|value| Measure {
                value,
                confidence: 0.9,
            }),
            ..PostureMetrics::default()
        };
        FrameLine {
            t_secs: t,
            seq: t as u64,
            keypoints: vec![[0.0; 3]; 17],
            height_px: None,
            posture: PostureRecord {
                person: score.is_some(),
                away: false,
                view: None,
                stance: None,
                score,
                band,
                reason: None,
                metrics,
            },
        }
    }

    /// 10 s good (score 80), 5 s poor (20), 3 s fair (50), 2 s nobody, one frame a second;
    /// an alert, two reps and a rejected attempt.
    fn known_session(started: u64) -> Session {
        let mut frames = Vec::new();
        let mut t = 0.0;
        for (n, score, trunk) in [
            (10, Some(80.0), Some(2.0)),
            (5, Some(20.0), Some(30.0)),
            (3, Some(50.0), Some(10.0)),
            (2, None, None),
        ] {
            for _ in 0..n {
                frames.push(frame(t, score, trunk));
                t += 1.0;
            }
        }
        frames.push(frame(t, Some(80.0), Some(2.0))); // closes the last stretch at t = 20
        let ev = |t_secs: f64, v: serde_json::Value| EventLine {
            t_secs,
            event: serde_json::from_value(v).unwrap(),
        };
        let events = vec![
            ev(
                12.0,
                serde_json::json!({"event": "alert", "level": 1, "reason": "trunk", "bad_for_secs": 10.0}),
            ),
            ev(
                5.0,
                serde_json::json!({"event": "rep", "number": 1, "hold_secs": 10.0, "mean_score": 81.5, "min_score": 78.0}),
            ),
            ev(
                15.0,
                serde_json::json!({"event": "rejected", "reason": "trunk leaned", "held_secs": 3.0}),
            ),
            ev(
                19.0,
                serde_json::json!({"event": "rep", "number": 2, "hold_secs": 10.0, "mean_score": null, "min_score": null}),
            ),
        ];
        let summary = Summary::of(&frames, &events);
        let mut header = Header::new("lightning", "abc", None, "test", Some("sit-tall".into()));
        header.started_unix_secs = started;
        Session {
            header,
            frames,
            events,
            summary,
            warnings: vec![],
        }
    }

    #[test]
    fn figures_of_a_known_session_are_what_a_stopwatch_says() {
        let s = known_session(1_795_789_882);
        let f = session_figures("a.jsonl", &digest(&s));
        assert_eq!(f.day, "2026-11-27");
        let sum = &f.summary;
        assert_eq!(sum.frames, 21);
        assert_eq!(sum.duration_secs, 20.0);
        assert_eq!(
            (
                sum.good_secs,
                sum.poor_secs,
                sum.fair_secs,
                sum.unjudged_secs
            ),
            (10.0, 5.0, 3.0, 2.0)
        );
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(f.good_pct, 100.0 * 10.0 / 18.0));
        assert!(close(f.poor_pct, 100.0 * 5.0 / 18.0));
        assert!(close(f.fair_pct, 100.0 * 3.0 / 18.0));
        assert_eq!(sum.longest_poor_secs, 5.0);
        assert_eq!((sum.alerts, sum.reps, f.rejected), (1, 2, 1));
        assert_eq!(f.rep_details[0].mean_score, Some(81.5));
        assert_eq!(f.rep_details[1].mean_score, None);
        // 11 frames at 80, 5 at 20, 3 at 50 (the 2 unseen ones are not scored).
        assert!(close(
            f.mean_score,
            (11.0 * 80.0 + 5.0 * 20.0 + 3.0 * 50.0) / 19.0
        ));
        // Trunk: 11 x 2, 5 x 30, 3 x 10: the median (10th of 19) is 2.
        assert_eq!(f.median_deg.get("trunk_flexion_deg"), Some(&2.0));
        assert!(!f.median_deg.contains_key("neck_flexion_deg"));
    }

    #[test]
    fn the_daily_trend_weights_days_by_time_and_orders_them() {
        let day2 = known_session(1_795_789_882 + 86_400);
        let day1 = known_session(1_795_789_882);
        let mut short = known_session(1_795_789_882 + 3_600);
        short.frames.truncate(11); // 10 s, all good
        short.events.clear();
        short.summary = Summary::of(&short.frames, &short.events);
        let r = figures(
            &["d2".into(), "d1".into(), "d1b".into()],
            &[digest(&day2), digest(&day1), digest(&short)],
            vec![],
        );
        let names: Vec<&str> = r.sessions.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(names, ["d1", "d1b", "d2"], "sorted by start");
        assert_eq!(r.days.len(), 2);
        let d = &r.days[0];
        assert_eq!(
            (d.day.as_str(), d.sessions, d.alerts, d.reps),
            ("2026-11-27", 2, 1, 2)
        );
        assert!((d.good_pct.unwrap() - 100.0 * 20.0 / 28.0).abs() < 1e-9);
        assert_eq!(r.days[1].day, "2026-11-28");
        assert!(trend_plot(&r.days).unwrap().is_some());
        assert!(trend_plot(&r.days[..1]).unwrap().is_none());
    }

    #[test]
    fn the_html_report_is_self_contained_with_plots_and_figures() {
        let s = known_session(1_795_789_882);
        let d = digest(&s);
        let r = figures(&["a.jsonl".into()], std::slice::from_ref(&d), vec![]);
        let page = html(&r, &[d]).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg").count(), 2, "score and angles");
        assert!(page.contains("Posture score") && page.contains("trunk flexion"));
        assert!(page.contains("2 counted, 1 rejected"));
        assert!(page.contains("<td>5.0 s</td>"), "the longest poor streak");
        // Nothing is fetched from anywhere: no scripts, links, images or remote URLs.
        for banned in ["<script", "<link", "<img", "src=", "https:"] {
            assert!(!page.contains(banned), "{banned}");
        }
    }

    #[test]
    fn days_and_durations_read_as_people_write_them() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(951_782_400), "2000-02-29");
        assert_eq!(day_of(1_795_789_882), "2026-11-27");
        assert_eq!(time_of(1_795_789_882), "14:31");
        assert_eq!(duration(42.04), "42.0 s");
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(3_725.0), "1 h 02 min");
    }
}
