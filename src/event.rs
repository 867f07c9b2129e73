//! What happens during a run, as one typed enum: source, alert, presence and exercise events.
//! Written to live JSON lines, session files and replays, and read back, by this same type
//! (serde tag `event`, names in snake case; see `docs/formats.md`).

use serde::{Deserialize, Serialize};

/// Something that happened at a moment of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The live source failed; reconnection is being tried.
    SourceLost {
        /// Why.
        error: String,
    },
    /// The live source works again.
    SourceRecovered {
        /// How long it was gone.
        after_secs: f64,
    },
    /// Bad posture lasted past the onset delay (level 1) or went on after an alert (2, 3...).
    Alert {
        /// 1 for the first alert of an episode, then one more per escalation.
        level: u32,
        /// The judge's reason at the time.
        reason: String,
        /// Seconds of bad posture so far.
        bad_for_secs: f64,
    },
    /// Posture recovered after an alert.
    AlertCleared {
        /// How long the bad posture lasted.
        bad_for_secs: f64,
    },
    /// Nobody has been seen for a while: scoring and alerts pause.
    Away,
    /// Someone is back.
    Back,
    /// Exercise: a phase begins; show its prompt.
    Prompt {
        /// Phase name.
        phase: String,
        /// The instruction.
        prompt: String,
    },
    /// Exercise: the counted hold reached a new second (1, 2, ... up to the hold time).
    Count {
        /// The count.
        count: u32,
    },
    /// Exercise: an attempt broke form and is not counted.
    Rejected {
        /// Why, e.g. "trunk leaned forward at 6".
        reason: String,
        /// Seconds held before the break.
        held_secs: f64,
    },
    /// Exercise: a rep was completed.
    Rep {
        /// Which rep (1-based).
        number: u32,
        /// The counted hold's duration.
        hold_secs: f64,
        /// Mean posture score during the hold, when scored.
        mean_score: Option<f32>,
        /// Lowest posture score during the hold.
        min_score: Option<f32>,
    },
    /// Exercise: the person left the frame; timers pause.
    Paused,
    /// Exercise: the person is back.
    Resumed,
    /// Desk: seated this long without a break, a break (or a set of sit-tall) was suggested.
    BreakSuggested {
        /// Seconds seated since the last break.
        seated_secs: f64,
    },
    /// Desk: a break was taken (standing up, leaving, or the camera closed, for long enough),
    /// suggested or not; the seated clock starts again.
    BreakTaken {
        /// Seconds seated before the break.
        seated_secs: f64,
    },
    /// Something went wrong that the run goes on without (a recording that failed, a video
    /// writer that stopped).
    Warning {
        /// What, in one line.
        message: String,
    },
}

impl Event {
    /// Whether it belongs to an exercise (`kind` `exercise` in live JSON lines) rather than to
    /// the monitor (`kind` `event`).
    pub fn is_exercise(&self) -> bool {
        matches!(
            self,
            Event::Prompt { .. }
                | Event::Count { .. }
                | Event::Rejected { .. }
                | Event::Rep { .. }
                | Event::Paused
                | Event::Resumed
        )
    }

    /// The `kind` of its live JSON line: `exercise` or `event`.
    pub fn kind(&self) -> &'static str {
        if self.is_exercise() {
            "exercise"
        } else {
            "event"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_name_and_read_back_as_written() {
        let e = Event::AlertCleared { bad_for_secs: 12.5 };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(text, r#"{"event":"alert_cleared","bad_for_secs":12.5}"#);
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
        // Files written before the type existed carried extra fields: they still read.
        let old = r#"{"bad_for_secs":3.0,"event":"alert","format":"posture.live","kind":"event","level":1,"reason":"trunk","t_secs":4.0,"version":1}"#;
        assert_eq!(
            serde_json::from_str::<Event>(old).unwrap(),
            Event::Alert {
                level: 1,
                reason: "trunk".into(),
                bad_for_secs: 3.0
            }
        );
        assert_eq!(Event::Paused.kind(), "exercise");
        assert_eq!(Event::Away.kind(), "event");
    }
}
