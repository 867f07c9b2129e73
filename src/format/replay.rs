//! Replay JSON lines (format `posture.replay`, version 1, documented in `docs/formats.md`): a
//! recording judged again, one line per frame and per event, then its summary.

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::format::live::PostureRecord;
use crate::format::session::Summary;

/// The `format` field of replay lines.
pub const FORMAT: &str = "posture.replay";
/// The `version` field of replay lines.
pub const VERSION: u32 = 1;

/// One line of a replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayLine {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// What the line holds.
    #[serde(flatten)]
    pub body: ReplayBody,
}

/// What a replay line holds, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplayBody {
    /// A recorded frame, judged again.
    Frame {
        /// Media time.
        t_secs: f64,
        /// The recorded frame number.
        seq: u64,
        /// The new analysis.
        posture: PostureRecord,
    },
    /// A monitor event of the new judgement.
    Event {
        /// Media time.
        t_secs: f64,
        /// The event.
        event: Event,
    },
    /// An exercise event of the new judgement.
    Exercise {
        /// Media time.
        t_secs: f64,
        /// The event.
        event: Event,
    },
    /// The figures of the whole replay, last.
    Summary {
        /// The figures.
        summary: Summary,
    },
}

impl ReplayLine {
    /// A line of this format and version.
    pub fn new(body: ReplayBody) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            body,
        }
    }
}
