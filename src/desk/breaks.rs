//! Breaks: after a configurable time seated (default 50 min), suggest a break or a set of
//! `sit-tall`. Seated time comes from the stance the science computes; standing up or leaving for
//! a couple of minutes counts as the break. Pure: time comes in with each frame.

/// What the break timer asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum BreakAction {
    /// Suggest a break: seated this long.
    Suggest {
        /// Seconds seated without a break.
        seated_secs: f64,
    },
    /// A break was taken: withdraw the suggestion, if there was one.
    Taken {
        /// Seconds seated before the break.
        seated_secs: f64,
        /// Whether a break had been suggested.
        suggested: bool,
    },
}

/// Seated time since the last break.
#[derive(Clone, Debug)]
pub struct BreakTimer {
    after_secs: f64,
    break_secs: f64,
    seated_since: Option<f64>,
    not_seated_since: Option<f64>,
    suggested: bool,
    breaks: u32,
}

impl BreakTimer {
    /// Suggests a break after `after_secs` seated; `break_secs` away from the seat is a break.
    pub fn new(after_secs: f64, break_secs: f64) -> Self {
        Self {
            after_secs,
            break_secs,
            seated_since: None,
            not_seated_since: None,
            suggested: false,
            breaks: 0,
        }
    }

    /// Breaks taken so far.
    pub fn breaks(&self) -> u32 {
        self.breaks
    }

    /// Feeds the frame at `t_secs`: whether the person is seen seated.
    pub fn update(&mut self, t_secs: f64, seated: bool) -> Option<BreakAction> {
        if seated {
            self.not_seated_since = None;
            let since = *self.seated_since.get_or_insert(t_secs);
            if !self.suggested && t_secs - since >= self.after_secs {
                self.suggested = true;
                return Some(BreakAction::Suggest {
                    seated_secs: t_secs - since,
                });
            }
            return None;
        }
        let away_since = *self.not_seated_since.get_or_insert(t_secs);
        if self.seated_since.is_some() && t_secs - away_since >= self.break_secs {
            return self.take_break(away_since);
        }
        None
    }

    /// Ends the seated time counted so far with a break from `at_secs` (`None`: none was
    /// counted); the seated clock starts again at the next seated frame.
    fn take_break(&mut self, at_secs: f64) -> Option<BreakAction> {
        let since = self.seated_since.take()?;
        self.not_seated_since = None;
        self.breaks += 1;
        Some(BreakAction::Taken {
            seated_secs: (at_secs - since).max(0.0),
            suggested: std::mem::take(&mut self.suggested),
        })
    }

    /// A set of exercises was completed (the break notification's "Sit tall", every rep done)
    /// while the camera was closed from `at_secs`: it counts as a break, however short. `None`
    /// when no seated time was being counted.
    pub fn exercised(&mut self, at_secs: f64) -> Option<BreakAction> {
        self.take_break(at_secs)
    }

    /// Nobody was watched from `from_secs` to `to_secs` (the camera was closed: paused, the
    /// screen locked, the camera busy): that time counts as not seated, so a long enough gap is
    /// a break.
    pub fn unseen(&mut self, from_secs: f64, to_secs: f64) -> Option<BreakAction> {
        self.update(from_secs, false);
        self.update(to_secs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_is_suggested_after_50_min_seated_and_withdrawn_when_taken() {
        let mut b = BreakTimer::new(50.0 * 60.0, 120.0);
        let mut out = Vec::new();
        // Seated 0–60 min with a 1 min stretch at 20 min (too short to be a break).
        for s in (0..3600).step_by(10) {
            let seated = !(1200..1260).contains(&s);
            if let Some(a) = b.update(f64::from(s), seated) {
                out.push((s, a));
            }
        }
        assert_eq!(
            out,
            [(
                3000,
                BreakAction::Suggest {
                    seated_secs: 3000.0
                }
            )]
        );
        // Standing for 2 min is the break.
        for s in (3600..3800).step_by(10) {
            if let Some(a) = b.update(f64::from(s), false) {
                out.push((s, a));
            }
        }
        assert_eq!(
            out[1],
            (
                3720,
                BreakAction::Taken {
                    seated_secs: 3600.0,
                    suggested: true
                }
            )
        );
        assert_eq!(b.breaks(), 1);
        // The clock starts again.
        assert_eq!(b.update(3800.0, true), None);
        assert_eq!(
            b.update(3800.0 + 3000.0, true),
            Some(BreakAction::Suggest {
                seated_secs: 3000.0
            })
        );
    }

    #[test]
    fn a_break_not_suggested_still_counts_and_time_with_the_camera_closed_counts_as_not_seated() {
        let mut b = BreakTimer::new(3000.0, 120.0);
        assert_eq!(b.update(0.0, true), None);
        assert_eq!(b.update(600.0, true), None);
        // Paused 1 min: not a break; the clock goes on.
        assert_eq!(b.unseen(600.0, 660.0), None);
        assert_eq!(b.update(660.0, true), None);
        // Paused 5 min: a break, unsuggested, after 11 min seated.
        assert_eq!(
            b.unseen(660.0, 960.0),
            Some(BreakAction::Taken {
                seated_secs: 660.0,
                suggested: false
            })
        );
        assert_eq!(b.breaks(), 1);
        assert_eq!(b.update(960.0, true), None);
        assert_eq!(
            b.update(3960.0, true),
            Some(BreakAction::Suggest {
                seated_secs: 3000.0
            })
        );
    }

    #[test]
    fn a_completed_exercise_set_is_a_break_however_short() {
        let mut b = BreakTimer::new(3000.0, 120.0);
        // Nothing seated yet: nothing to end.
        assert_eq!(b.exercised(0.0), None);
        assert_eq!(b.update(0.0, true), None);
        assert_eq!(
            b.update(3000.0, true),
            Some(BreakAction::Suggest {
                seated_secs: 3000.0
            })
        );
        // The camera closed at 3010 s for a 60 s set (too short for a break by itself).
        assert_eq!(b.unseen(3010.0, 3070.0), None);
        assert_eq!(
            b.exercised(3010.0),
            Some(BreakAction::Taken {
                seated_secs: 3010.0,
                suggested: true
            })
        );
        assert_eq!(b.breaks(), 1);
        // The seated clock starts again at the next seated frame.
        assert_eq!(b.update(3070.0, true), None);
        assert_eq!(b.update(6000.0, true), None);
        assert_eq!(
            b.update(6070.0, true),
            Some(BreakAction::Suggest {
                seated_secs: 3000.0
            })
        );
    }
}
