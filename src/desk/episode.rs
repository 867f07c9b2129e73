//! Alert episodes as desktop notifications: the first alert of an episode shows one, each
//! escalation replaces it (never a stack of them), and recovery (or leaving) withdraws it. Pure:
//! the notifier tells [`Episodes::shown`] which id the server gave.

use crate::event::Event;

/// What to do with the desktop's notifications.
#[derive(Clone, Debug, PartialEq)]
pub enum NoticeAction {
    /// Show a notification, replacing notification `replaces_id` (0: a new one).
    Show {
        /// The notification to replace, 0 for none.
        replaces_id: u32,
        /// The title.
        summary: String,
        /// The reason in words and how long it has lasted.
        body: String,
        /// Calm (low urgency, no sound) for the first alert of an episode, normal after.
        calm: bool,
    },
    /// Withdraw notification `id` (0: none was shown, only say so).
    Withdraw {
        /// The notification shown for the episode.
        id: u32,
        /// What happened, for a terminal line.
        why: String,
    },
}

/// The notification of the episode going on, if any.
#[derive(Clone, Debug, Default)]
pub struct Episodes {
    open: bool,
    id: u32,
}

/// `secs` as words: `45 s`, `2 min`, `1 h 5 min`.
pub fn duration_words(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", (s + 30) / 60),
        _ => {
            let m = (s + 30) / 60;
            if m.is_multiple_of(60) {
                format!("{} h", m / 60)
            } else {
                format!("{} h {} min", m / 60, m % 60)
            }
        }
    }
}

impl Episodes {
    /// No episode.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an episode's notification is up.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The notification the server gave for the current episode.
    pub fn shown(&mut self, id: u32) {
        if self.open {
            self.id = id;
        }
    }

    /// The notification action an event calls for.
    pub fn on_event(&mut self, event: &Event) -> Option<NoticeAction> {
        match event {
            Event::Alert {
                level,
                reason,
                bad_for_secs,
            } => {
                let replaces_id = if self.open { self.id } else { 0 };
                self.open = true;
                Some(NoticeAction::Show {
                    replaces_id,
                    summary: if *level <= 1 {
                        "Posture: time to sit up".to_owned()
                    } else {
                        format!("Posture: still slouching (reminder {level})")
                    },
                    body: format!("{reason} for {}", duration_words(*bad_for_secs)),
                    calm: *level <= 1,
                })
            }
            Event::AlertCleared { bad_for_secs } if self.open => {
                self.open = false;
                Some(NoticeAction::Withdraw {
                    id: std::mem::take(&mut self.id),
                    why: format!("posture recovered after {}", duration_words(*bad_for_secs)),
                })
            }
            Event::Away if self.open => {
                self.open = false;
                Some(NoticeAction::Withdraw {
                    id: std::mem::take(&mut self.id),
                    why: "you left: alert withdrawn".to_owned(),
                })
            }
            _ => None,
        }
    }

    /// The action when the run ends or pauses with an episode open: withdraw it.
    pub fn end(&mut self) -> Option<NoticeAction> {
        if !self.open {
            return None;
        }
        self.open = false;
        Some(NoticeAction::Withdraw {
            id: std::mem::take(&mut self.id),
            why: "monitoring paused: alert withdrawn".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(level: u32, secs: f64) -> Event {
        Event::Alert {
            level,
            reason: "head 12° forward of your baseline".into(),
            bad_for_secs: secs,
        }
    }

    #[test]
    fn one_notification_per_episode_replaced_while_it_lasts_and_withdrawn_on_recovery() {
        let mut e = Episodes::new();
        let Some(NoticeAction::Show {
            replaces_id,
            body,
            calm,
            ..
        }) = e.on_event(&alert(1, 120.0))
        else {
            panic!("a notification")
        };
        assert_eq!(
            (replaces_id, body.as_str(), calm),
            (0, "head 12° forward of your baseline for 2 min", true)
        );
        e.shown(41);
        // Escalation replaces notification 41, louder.
        assert!(matches!(
            e.on_event(&alert(2, 180.0)),
            Some(NoticeAction::Show {
                replaces_id: 41,
                calm: false,
                ..
            })
        ));
        e.shown(41);
        assert_eq!(e.on_event(&Event::Back), None);
        assert!(matches!(
            e.on_event(&Event::AlertCleared {
                bad_for_secs: 200.0
            }),
            Some(NoticeAction::Withdraw { id: 41, .. })
        ));
        // Nothing open: a clear or away is not a notification.
        assert_eq!(e.on_event(&Event::AlertCleared { bad_for_secs: 1.0 }), None);
        assert_eq!(e.on_event(&Event::Away), None);
        assert_eq!(e.end(), None);
        // A new episode starts a new notification; leaving withdraws it too.
        assert!(matches!(
            e.on_event(&alert(1, 10.0)),
            Some(NoticeAction::Show { replaces_id: 0, .. })
        ));
        e.shown(42);
        assert!(matches!(
            e.on_event(&Event::Away),
            Some(NoticeAction::Withdraw { id: 42, .. })
        ));
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(12.4), "12 s");
        assert_eq!(duration_words(119.0), "2 min");
        assert_eq!(duration_words(3600.0), "1 h");
        assert_eq!(duration_words(3900.0), "1 h 5 min");
    }
}
