//! The adaptive frame rate: sample slowly while posture is steady and good (2 fps, then 1.2 fps
//! once it has stayed so for half a minute), or while nobody is there; sample at the full rate the alert logic needs as soon as something
//! changes (the score moves, a person arrives or leaves) or posture is not good. Pure: time
//! comes in with each sample. The decision goes to a [`crate::source::gate::RateGate`], which
//! the camera consults before decoding.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::run::{Flow, FrameUpdate, Sink};
use crate::science::judge::Band;
use crate::source::gate::RateGate;

/// The rates and what counts as a change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateConfig {
    /// Frames per second analysed while posture is steady and good.
    pub steady_fps: f64,
    /// Frames per second analysed once posture has been steady and good for `calm_after_secs`
    /// more. At most 1 / (1 s - the time to analyse a frame) keeps a slouch's alert within the
    /// onset delay + 1 s: the slouch is seen at the next sample, at most 1 / `calm_fps` later.
    pub calm_fps: f64,
    /// How long posture must stay steady and good, after settling, before `calm_fps`.
    pub calm_after_secs: f64,
    /// Frames per second analysed on change and while posture is not good.
    pub active_fps: f64,
    /// Frames per second analysed while nobody is there (after the change has settled).
    pub away_fps: f64,
    /// How long nothing must change before sampling slows down again.
    pub settle_secs: f64,
    /// A score moving this much (points of 100) from where it settled is a change.
    pub score_step: f32,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            steady_fps: 2.0,
            calm_fps: 1.2,
            calm_after_secs: 30.0,
            active_fps: 10.0,
            away_fps: 1.0,
            settle_secs: 3.0,
            score_step: 8.0,
        }
    }
}

/// What the rate decision needs of one analysed frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// A person is seen.
    pub person: bool,
    /// The posture score, when judged.
    pub score: Option<f32>,
    /// The score's band, when judged.
    pub band: Option<Band>,
    /// Nobody has been seen for a while (scoring paused).
    pub away: bool,
    /// An alert episode is going on.
    pub alerting: bool,
}

/// The rate decision's memory: where the state last settled and when it last changed.
#[derive(Clone, Debug)]
pub struct RatePolicy {
    config: RateConfig,
    settled: Option<(bool, Option<f32>)>,
    changed_at: f64,
}

impl RatePolicy {
    /// A policy that starts fast (nothing has settled yet).
    pub fn new(config: RateConfig) -> Self {
        Self {
            config,
            settled: None,
            changed_at: f64::NEG_INFINITY,
        }
    }

    /// The interval wanted after the frame at `t_secs`.
    pub fn decide(&mut self, t_secs: f64, s: &Sample) -> Duration {
        let c = &self.config;
        let changed = match self.settled {
            None => true,
            Some((person, score)) => {
                person != s.person
                    || score.is_some() != s.score.is_some()
                    || matches!((score, s.score), (Some(a), Some(b)) if (a - b).abs() >= c.score_step)
            }
        };
        if changed {
            self.settled = Some((s.person, s.score));
            self.changed_at = t_secs;
        }
        let unchanged = t_secs - self.changed_at;
        let fps = if unchanged < c.settle_secs || s.alerting {
            c.active_fps
        } else if !s.person || s.away {
            c.away_fps
        } else if s.band == Some(Band::Good) {
            match unchanged >= c.settle_secs + c.calm_after_secs {
                true => c.calm_fps.min(c.steady_fps),
                false => c.steady_fps,
            }
        } else {
            c.active_fps
        };
        Duration::from_secs_f64(1.0 / fps.max(0.01))
    }
}

/// A sink that sets the gate's interval after each frame, from the frame's analysis.
#[derive(Debug)]
pub struct RateSink {
    policy: RatePolicy,
    gate: RateGate,
    alerting: bool,
}

impl RateSink {
    /// Drives `gate` with `config`.
    pub fn new(config: RateConfig, gate: RateGate) -> Self {
        Self {
            policy: RatePolicy::new(config),
            gate,
            alerting: false,
        }
    }
}

impl Sink for RateSink {
    fn event(&mut self, _: f64, event: &Event) -> std::io::Result<()> {
        match event {
            Event::Alert { .. } => self.alerting = true,
            Event::AlertCleared { .. } | Event::Away => self.alerting = false,
            _ => {}
        }
        Ok(())
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> std::io::Result<Flow> {
        let a = update.analysis;
        let sample = Sample {
            person: a.person,
            score: a.judgement.score(),
            band: a.judgement.band(),
            away: a.away,
            alerting: self.alerting,
        };
        self.gate
            .set_interval(self.policy.decide(update.t_secs(), &sample));
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seated(score: f32) -> Sample {
        Sample {
            person: true,
            score: Some(score),
            band: Some(Band::of(score)),
            away: false,
            alerting: false,
        }
    }

    #[test]
    fn steady_good_posture_samples_at_2_fps_and_any_change_speeds_up_at_once() {
        let mut p = RatePolicy::new(RateConfig::default());
        let fast = Duration::from_millis(100);
        let slow = Duration::from_millis(500);
        // Starting: fast until 3 s without change.
        assert_eq!(p.decide(0.0, &seated(90.0)), fast);
        assert_eq!(p.decide(2.9, &seated(86.0)), fast);
        assert_eq!(p.decide(3.0, &seated(92.0)), slow);
        assert_eq!(p.decide(32.9, &seated(88.0)), slow);
        // Half a minute more of it: calmer still, yet under a second between samples.
        let calm = Duration::from_secs_f64(1.0 / 1.2);
        assert_eq!(p.decide(33.0, &seated(88.0)), calm);
        assert!(calm < Duration::from_millis(900));
        assert_eq!(p.decide(60.0, &seated(88.0)), calm);
        // The score moving (a slouch starting) is a change: fast on the very next frame.
        assert_eq!(p.decide(60.8, &seated(75.0)), fast);
        // Fair or poor posture stays fast, even when steady, so that the alert is on time.
        assert_eq!(p.decide(70.0, &seated(35.0)), fast);
        assert_eq!(p.decide(80.0, &seated(36.0)), fast);
        // Leaving: fast while it changes, then the away rate.
        let gone = Sample {
            person: false,
            score: None,
            band: None,
            away: false,
            alerting: false,
        };
        assert_eq!(p.decide(90.0, &gone), fast);
        let away = Sample { away: true, ..gone };
        assert_eq!(p.decide(93.5, &away), Duration::from_secs(1));
        // Arriving is a change.
        assert_eq!(p.decide(200.0, &seated(90.0)), fast);
        // An alert episode keeps it fast until it clears.
        let alerting = Sample {
            alerting: true,
            ..seated(90.0)
        };
        assert_eq!(p.decide(210.0, &alerting), fast);
        assert_eq!(p.decide(211.0, &seated(90.0)), slow);
    }
}
