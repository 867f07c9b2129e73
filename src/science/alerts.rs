//! Alerts that do not nag: an onset delay, hysteresis between entering and leaving bad posture,
//! a cooldown, escalation while it lasts, and "away" when nobody is seen. A deterministic state
//! machine: time comes in with each update.

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// Alert timing and score thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Bad posture must last this long before the first alert (brief look-downs never reach it).
    pub onset_secs: f64,
    /// A score below this enters bad posture.
    pub enter_bad_below_score: f32,
    /// A score at or above this leaves bad posture (higher than the entry: hysteresis).
    pub leave_bad_at_score: f32,
    /// After an alert, no new first-level alert for this long.
    pub cooldown_secs: f64,
    /// While bad posture goes on after an alert, alert again (one level up) this often.
    pub escalate_every_secs: f64,
    /// Nobody seen for this long is "away": scoring and alerts pause.
    pub away_after_secs: f64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            onset_secs: 10.0,
            enter_bad_below_score: 40.0,
            leave_bad_at_score: 55.0,
            cooldown_secs: 60.0,
            escalate_every_secs: 60.0,
            away_after_secs: 3.0,
        }
    }
}

/// Where the alerter is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AlertState {
    /// Posture fine (or bad too briefly to matter).
    Ok,
    /// Bad since `since`, not yet alerted.
    Bad {
        /// When it started.
        since: f64,
    },
    /// Alerted; still bad.
    Alerting {
        /// When the bad posture started.
        since: f64,
        /// When the last alert fired.
        last_alert: f64,
        /// The last alert's level.
        level: u32,
    },
    /// Nobody seen.
    Away,
}

/// The alert state machine.
#[derive(Clone, Debug)]
pub struct Alerter {
    config: AlertConfig,
    state: AlertState,
    last_seen: Option<f64>,
    last_alert: Option<f64>,
}

impl Alerter {
    /// Starts in [`AlertState::Ok`].
    pub fn new(config: AlertConfig) -> Self {
        Self {
            config,
            state: AlertState::Ok,
            last_seen: None,
            last_alert: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> AlertState {
        self.state
    }

    /// Whether scoring is paused because nobody is there.
    pub fn is_away(&self) -> bool {
        self.state == AlertState::Away
    }

    /// Feeds one frame at `t_secs`: the posture score when a person is judged, `None` when
    /// nobody is seen; `reason` explains the score.
    pub fn update(&mut self, t_secs: f64, score: Option<f32>, reason: &str) -> Option<Event> {
        let c = &self.config;
        let Some(score) = score else {
            let last = *self.last_seen.get_or_insert(t_secs);
            if self.state != AlertState::Away && t_secs - last >= c.away_after_secs {
                self.state = AlertState::Away;
                return Some(Event::Away);
            }
            return None;
        };
        self.last_seen = Some(t_secs);
        if self.state == AlertState::Away {
            self.state = AlertState::Ok;
            return Some(Event::Back);
        }
        let bad_now = match self.state {
            AlertState::Ok => score < c.enter_bad_below_score,
            _ => score < c.leave_bad_at_score,
        };
        match (self.state, bad_now) {
            (AlertState::Ok, true) => {
                self.state = AlertState::Bad { since: t_secs };
                None
            }
            (AlertState::Bad { .. }, false) => {
                // Never alerted: a brief slump or look-down passes silently.
                self.state = AlertState::Ok;
                None
            }
            (AlertState::Bad { since }, true) => {
                let cooled = self
                    .last_alert
                    .is_none_or(|l| t_secs - l >= c.cooldown_secs);
                if t_secs - since >= c.onset_secs && cooled {
                    self.state = AlertState::Alerting {
                        since,
                        last_alert: t_secs,
                        level: 1,
                    };
                    self.last_alert = Some(t_secs);
                    return Some(Event::Alert {
                        level: 1,
                        bad_for_secs: t_secs - since,
                        reason: reason.to_owned(),
                    });
                }
                None
            }
            (
                AlertState::Alerting {
                    since,
                    last_alert,
                    level,
                },
                true,
            ) => {
                if t_secs - last_alert >= c.escalate_every_secs {
                    self.state = AlertState::Alerting {
                        since,
                        last_alert: t_secs,
                        level: level + 1,
                    };
                    self.last_alert = Some(t_secs);
                    return Some(Event::Alert {
                        level: level + 1,
                        bad_for_secs: t_secs - since,
                        reason: reason.to_owned(),
                    });
                }
                None
            }
            (AlertState::Alerting { since, .. }, false) => {
                self.state = AlertState::Ok;
                Some(Event::AlertCleared {
                    bad_for_secs: t_secs - since,
                })
            }
            (AlertState::Ok, false) | (AlertState::Away, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(from, to, score)` segments at 10 Hz and returns the events with their times.
    fn run(segments: &[(f64, f64, Option<f32>)]) -> Vec<(f64, Event)> {
        let mut a = Alerter::new(AlertConfig::default());
        let mut out = Vec::new();
        for &(from, to, score) in segments {
            // Integer ticks, so times are exact tenths.
            for tick in (from * 10.0).round() as i64..(to * 10.0).round() as i64 {
                let t = tick as f64 / 10.0;
                if let Some(e) = a.update(t, score, "trunk leaning") {
                    out.push((t, e));
                }
            }
        }
        out
    }

    fn alerts(events: &[(f64, Event)]) -> Vec<(f64, u32)> {
        events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::Alert { level, .. } => Some(((t * 10.0).round() / 10.0, *level)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_alert_fires_only_after_the_onset_delay() {
        let ev = run(&[(0.0, 5.0, Some(90.0)), (5.0, 20.0, Some(20.0))]);
        assert_eq!(alerts(&ev), vec![(15.0, 1)]);
    }

    #[test]
    fn a_two_second_look_down_never_alerts() {
        let mut segs = Vec::new();
        for i in 0..10 {
            let t0 = f64::from(i) * 8.0;
            segs.push((t0, t0 + 6.0, Some(90.0)));
            segs.push((t0 + 6.0, t0 + 8.0, Some(10.0)));
        }
        assert!(run(&segs).is_empty());
    }

    #[test]
    fn recovery_clears_the_alert_with_hysteresis() {
        // 45 is above the entry (40) but below the exit (55): still bad; 60 clears.
        let ev = run(&[
            (0.0, 12.0, Some(20.0)),
            (12.0, 20.0, Some(45.0)),
            (20.0, 22.0, Some(60.0)),
        ]);
        assert_eq!(alerts(&ev), vec![(10.0, 1)]);
        let cleared: Vec<f64> = ev
            .iter()
            .filter(|(_, e)| matches!(e, Event::AlertCleared { .. }))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(cleared.len(), 1);
        assert!((cleared[0] - 20.0).abs() < 1e-6, "{cleared:?}");
        // Hovering between the thresholds from a good state never enters bad posture.
        assert!(run(&[(0.0, 30.0, Some(45.0))]).is_empty());
    }

    #[test]
    fn a_long_slump_escalates_and_the_cooldown_holds_back_a_new_episode() {
        let ev = run(&[(0.0, 135.0, Some(20.0))]);
        assert_eq!(alerts(&ev), vec![(10.0, 1), (70.0, 2), (130.0, 3)]);
        // Alert at 10 s, recover at 15 s, slump again at 16 s: onset reached at 26 s but the
        // cooldown (60 s from 10 s) holds the alert until 70 s.
        let ev = run(&[
            (0.0, 15.0, Some(20.0)),
            (15.0, 16.0, Some(90.0)),
            (16.0, 75.0, Some(20.0)),
        ]);
        assert_eq!(alerts(&ev), vec![(10.0, 1), (70.0, 1)]);
    }

    #[test]
    fn away_pauses_and_resumes_without_carrying_the_slump_over() {
        let ev = run(&[
            (0.0, 8.0, Some(20.0)),
            (8.0, 20.0, None),
            (20.0, 27.0, Some(20.0)),
        ]);
        let kinds: Vec<&Event> = ev.iter().map(|(_, e)| e).collect();
        assert_eq!(kinds, vec![&Event::Away, &Event::Back]);
        // Last seen at 7.9 s: away 3 s later (to within a tick of float rounding).
        let away_at = ev[0].0;
        assert!((10.85..11.05).contains(&away_at), "away {away_at}");
        // After coming back the onset counts afresh: 10 s of slump from 20 s alerts at 30 s.
        let ev = run(&[
            (0.0, 8.0, Some(20.0)),
            (8.0, 20.0, None),
            (20.0, 31.0, Some(20.0)),
        ]);
        assert_eq!(alerts(&ev), vec![(30.1, 1)]);
    }
}
