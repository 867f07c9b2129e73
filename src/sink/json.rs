//! JSON lines for machines: `posture.live` records during a live run, `posture.replay` records
//! when a recording is judged again (both documented in `docs/formats.md`).

use std::io::{self, Write};

use crate::event::Event;
use crate::format::live::{EventRecord, FrameRecord, PostureRecord};
use crate::format::replay::{ReplayBody, ReplayLine};
use crate::format::session::SummaryBuilder;
use crate::run::{Flow, FrameUpdate, Sink};

/// Which records a [`JsonLines`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonFormat {
    /// `posture.live`: every frame with keypoints, timings and posture; every event.
    Live,
    /// `posture.replay`: every frame's posture, every event, and a summary at the end.
    Replay,
}

/// One JSON object per line on `out`.
pub struct JsonLines<W: Write> {
    out: W,
    format: JsonFormat,
    summary: SummaryBuilder,
}

impl<W: Write> JsonLines<W> {
    /// Writes `format` records to `out`.
    pub fn new(out: W, format: JsonFormat) -> Self {
        Self {
            out,
            format,
            summary: SummaryBuilder::default(),
        }
    }

    /// One line saying the timestamps were irregular, when they were (replays).
    pub fn time_warning(&self) -> Option<String> {
        self.summary.time_warning()
    }

    fn line(&mut self, value: &impl serde::Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        writeln!(self.out)
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn event(&mut self, t_secs: f64, event: &Event) -> io::Result<()> {
        self.summary.event(event);
        match self.format {
            JsonFormat::Live => self.line(&EventRecord::new(t_secs, event)),
            JsonFormat::Replay => {
                let event = event.clone();
                self.line(&ReplayLine::new(if event.is_exercise() {
                    ReplayBody::Exercise { t_secs, event }
                } else {
                    ReplayBody::Event { t_secs, event }
                }))
            }
        }
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> io::Result<Flow> {
        let p = update.processed;
        self.summary
            .frame(p.frame.t_secs, update.analysis.judgement.band());
        match self.format {
            JsonFormat::Live => self.line(&FrameRecord::new(p, Some(update.analysis)))?,
            JsonFormat::Replay => self.line(&ReplayLine::new(ReplayBody::Frame {
                t_secs: p.frame.t_secs,
                seq: p.frame.seq,
                posture: PostureRecord::new(update.analysis),
            }))?,
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.format == JsonFormat::Replay {
            let summary = self.summary.finish();
            self.line(&ReplayLine::new(ReplayBody::Summary { summary }))?;
        }
        self.out.flush()
    }
}
