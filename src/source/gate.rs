//! A shared rate control for live sources: the run decides how often it wants a frame (the desk
//! mode samples slowly while posture is steady), and the source consults the gate as each frame
//! arrives, *before* decoding it. A camera keeps delivering at its own rate; a refused frame is
//! handed back to the driver undecoded, so it costs almost nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often frames are wanted, shared between the run (which sets it) and the source's thread
/// (which asks it). Cloning shares the same gate.
#[derive(Clone, Debug)]
pub struct RateGate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    origin: Instant,
    /// Wanted interval between admitted frames, µs (0: every frame).
    interval_us: AtomicU64,
    /// When the last frame was admitted, µs after `origin` (`u64::MAX`: never).
    last_us: AtomicU64,
    admitted: AtomicU64,
    skipped: AtomicU64,
}

impl Default for RateGate {
    fn default() -> Self {
        Self::new()
    }
}

impl RateGate {
    /// A gate that admits every frame until [`RateGate::set_interval`] says otherwise.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                interval_us: AtomicU64::new(0),
                last_us: AtomicU64::new(u64::MAX),
                admitted: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
            }),
        }
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.inner.origin).as_micros())
            .unwrap_or(u64::MAX - 1)
    }

    /// Wants one frame per `interval` from now on (a shorter interval takes effect at once).
    pub fn set_interval(&self, interval: Duration) {
        let us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        self.inner.interval_us.store(us, Ordering::SeqCst);
    }

    /// The interval wanted.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.inner.interval_us.load(Ordering::SeqCst))
    }

    /// Whether the frame arriving at `now` should be decoded and analysed; counts it either way.
    pub fn admit(&self, now: Instant) -> bool {
        self.admit_micros(self.micros(now))
    }

    /// [`RateGate::admit`] on media time (a file read faster or slower than real time).
    pub fn admit_media(&self, t_secs: f64) -> bool {
        self.admit_micros((t_secs.max(0.0) * 1e6) as u64)
    }

    fn admit_micros(&self, t: u64) -> bool {
        let last = self.inner.last_us.load(Ordering::SeqCst);
        let interval = self.inner.interval_us.load(Ordering::SeqCst);
        // Frames come at the camera's own rate: admit the first one at or past the due time,
        // less a millisecond of jitter so that 2 fps from a 30 fps camera stays 2 fps.
        let due = last == u64::MAX || t.saturating_sub(last) + 1_000 >= interval;
        if due {
            self.inner.last_us.store(t, Ordering::SeqCst);
            self.inner.admitted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.inner.skipped.fetch_add(1, Ordering::Relaxed);
        }
        due
    }

    /// Frames admitted so far.
    pub fn admitted(&self) -> u64 {
        self.inner.admitted.load(Ordering::Relaxed)
    }

    /// Frames refused so far (never decoded when the source gates before decoding).
    pub fn skipped(&self) -> u64 {
        self.inner.skipped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_30_fps_stream_through_a_half_second_gate_admits_two_frames_a_second() {
        let gate = RateGate::new();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Every frame passes until an interval is set.
        assert!(gate.admit(at(0)) && gate.admit(at(33)));
        gate.set_interval(Duration::from_millis(500));
        let admitted: Vec<u64> = (2..=90)
            .map(|i| i * 100 / 3)
            .filter(|&ms| gate.admit(at(ms)))
            .collect();
        // 0.07 s to 3 s of 30 fps after a frame at 0.033 s: one frame every 0.5 s.
        assert_eq!(admitted, [533, 1033, 1533, 2033, 2533]);
        // Speeding up takes effect at the next frame that is due under the new interval.
        gate.set_interval(Duration::from_millis(100));
        let last = *admitted.last().unwrap();
        assert!(gate.admit(at(last + 100)));
        assert_eq!(gate.admitted(), 2 + 5 + 1);
        assert_eq!(gate.skipped(), 89 - 5);
    }
}
