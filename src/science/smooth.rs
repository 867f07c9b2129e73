//! Temporal smoothing with low lag: the One Euro filter (Casiez, Roussel & Vogel, CHI 2012) on
//! keypoints, and dwell-time hysteresis for discrete states (view, stance). Time comes in with
//! the data.

use std::f32::consts::PI;

use crate::pose::{Joint, Keypoint, Pose};

/// A One Euro filter for one value: a low-pass whose cutoff rises with the speed of change, so
/// slow drift is smoothed and fast moves follow with little lag.
#[derive(Clone, Debug)]
pub struct OneEuro {
    min_cutoff_hz: f32,
    beta: f32,
    d_cutoff_hz: f32,
    last: Option<(f64, f32, f32)>,
}

fn alpha(cutoff_hz: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * PI * cutoff_hz);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    /// A filter with minimum cutoff `min_cutoff_hz`, speed coefficient `beta` (per unit/s) and
    /// derivative cutoff `d_cutoff_hz`.
    pub fn new(min_cutoff_hz: f32, beta: f32, d_cutoff_hz: f32) -> Self {
        Self {
            min_cutoff_hz,
            beta,
            d_cutoff_hz,
            last: None,
        }
    }

    /// Filters `x` observed at `t_secs` (times must increase; a repeated time returns the last value).
    pub fn filter(&mut self, t_secs: f64, x: f32) -> f32 {
        let Some((t0, x0, dx0)) = self.last else {
            self.last = Some((t_secs, x, 0.0));
            return x;
        };
        let dt = (t_secs - t0) as f32;
        if dt <= 0.0 {
            return x0;
        }
        let dx = (x - x0) / dt;
        let dx_hat = dx0 + alpha(self.d_cutoff_hz, dt) * (dx - dx0);
        let cutoff = self.min_cutoff_hz + self.beta * dx_hat.abs();
        let x_hat = x0 + alpha(cutoff, dt) * (x - x0);
        self.last = Some((t_secs, x_hat, dx_hat));
        x_hat
    }

    /// Forgets the past (e.g. the keypoint was lost).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// One Euro filters on every keypoint's x and y. A keypoint below the score threshold resets its
/// filters, so a reappearing keypoint does not drag a stale position behind it.
#[derive(Clone, Debug)]
pub struct PoseSmoother {
    filters: Vec<(OneEuro, OneEuro)>,
    threshold: f32,
}

impl PoseSmoother {
    /// Defaults tuned for keypoints in pixels at 10–60 fps: 1 Hz minimum cutoff, beta 0.02.
    pub fn new(threshold: f32) -> Self {
        Self {
            filters: (0..Joint::COUNT)
                .map(|_| (OneEuro::new(1.0, 0.02, 1.0), OneEuro::new(1.0, 0.02, 1.0)))
                .collect(),
            threshold,
        }
    }

    /// The smoothed pose at `t_secs`.
    pub fn smooth(&mut self, t_secs: f64, pose: &Pose) -> Pose {
        let mut out = *pose;
        for (k, (fx, fy)) in out.keypoints.iter_mut().zip(self.filters.iter_mut()) {
            if k.score < self.threshold {
                fx.reset();
                fy.reset();
                continue;
            }
            *k = Keypoint {
                x_px: fx.filter(t_secs, k.x_px),
                y_px: fy.filter(t_secs, k.y_px),
                score: k.score,
            };
        }
        out
    }
}

/// A discrete state that changes only after the new value has been observed for `dwell_secs`
/// without interruption.
#[derive(Clone, Debug)]
pub struct Dwell<T> {
    dwell_secs: f64,
    current: Option<T>,
    pending: Option<(T, f64)>,
}

impl<T: Copy + PartialEq> Dwell<T> {
    /// Nothing yet; changes need `dwell_secs` of agreement (the first value is taken at once).
    pub fn new(dwell_secs: f64) -> Self {
        Self {
            dwell_secs,
            current: None,
            pending: None,
        }
    }

    /// The state now.
    pub fn current(&self) -> Option<T> {
        self.current
    }

    /// Observes `raw` at `t_secs` (`None`: nothing to say; the state is kept).
    pub fn update(&mut self, t_secs: f64, raw: Option<T>) -> Option<T> {
        let Some(raw) = raw else { return self.current };
        if self.current.is_none() {
            self.current = Some(raw);
        } else if self.current == Some(raw) {
            self.pending = None;
        } else {
            match self.pending {
                Some((p, since)) if p == raw => {
                    if t_secs - since >= self.dwell_secs {
                        self.current = Some(raw);
                        self.pending = None;
                    }
                }
                _ => self.pending = Some((raw, t_secs)),
            }
        }
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_euro_smooths_jitter_and_follows_a_step_quickly() {
        let mut f = OneEuro::new(1.0, 0.02, 1.0);
        // ±2 px jitter around 100 at 30 fps: the output stays within ±1.
        let mut worst: f32 = 0.0;
        for i in 0..90 {
            let x = 100.0 + if i % 2 == 0 { 2.0 } else { -2.0 };
            let y = f.filter(f64::from(i) / 30.0, x);
            if i > 10 {
                worst = worst.max((y - 100.0).abs());
            }
        }
        assert!(worst < 1.0, "jitter left {worst}");
        // A 100 px step: more than 90% of the way within 0.3 s.
        let mut y = 0.0;
        for i in 90..99 {
            y = f.filter(f64::from(i) / 30.0, 200.0);
        }
        assert!(y > 190.0, "after 0.3 s: {y}");
    }

    #[test]
    fn dwell_ignores_flicker_and_takes_a_lasting_change() {
        let mut d = Dwell::new(0.5);
        assert_eq!(d.update(0.0, Some('f')), Some('f'));
        // Alternating for 2 s never changes it.
        for i in 1..=20 {
            let v = if i % 2 == 0 { 'f' } else { 's' };
            assert_eq!(d.update(f64::from(i) * 0.1, Some(v)), Some('f'));
        }
        // A lasting change from 2.1 s takes once it has lasted the dwell (0.5 s).
        for i in 21..26 {
            assert_eq!(
                d.update(f64::from(i) * 0.1, Some('s')),
                Some('f'),
                "tick {i}"
            );
        }
        assert_eq!(d.update(2.65, Some('s')), Some('s'));
        assert_eq!(d.update(2.7, None), Some('s'));
    }
}
