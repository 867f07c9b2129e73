//! Choosing a camera mode (pixel format, size, frame rate) from the list the device offers: a pure
//! function over that list, so it is tested on recorded lists of real cameras.
//!
//! The rule: among the modes posture can decode, prefer MJPEG or YUYV (what webcams stream
//! best), then the size closest to the one asked for (a larger one before a smaller one of the
//! same distance), then the frame rate closest to the one asked for (a faster one first); failing
//! those, any decodable format (grey infrared cameras, YU12 virtual cameras...). When nothing is
//! decodable, the error lists what the camera offers.

use super::decode::PixelLayout;
use crate::frame::Resolution;

/// What to ask the camera for; it gives the closest it supports.
#[derive(Clone, Copy, Debug)]
pub struct CameraRequest {
    /// Device index (0 is the first camera).
    pub index: u32,
    /// Requested frame size.
    pub resolution: Resolution,
    /// Requested frames per second.
    pub fps: u32,
}

/// One mode a camera offers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraMode {
    /// V4L2 fourcc, e.g. `*b"MJPG"`.
    pub fourcc: [u8; 4],
    /// Frame size.
    pub resolution: Resolution,
    /// Frames per second.
    pub fps: f64,
}

impl CameraMode {
    /// A mode of `fourcc`, `width`x`height` at `fps`.
    pub fn new(fourcc: &[u8; 4], width: u32, height: u32, fps: f64) -> Self {
        Self {
            fourcc: *fourcc,
            resolution: Resolution::new(width, height),
            fps,
        }
    }

    /// How posture decodes this mode, if it does.
    pub fn layout(&self) -> Option<PixelLayout> {
        PixelLayout::from_fourcc(self.fourcc)
    }
}

impl std::fmt::Display for CameraMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}@{}",
            String::from_utf8_lossy(&self.fourcc),
            self.resolution,
            self.fps
        )
    }
}

/// No offered mode can be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the camera offers {offered}, and posture decodes none of these formats (it reads MJPG, YUYV, UYVY, NV12, YU12, YV12, GREY, RGB3, BGR3)"
)]
pub struct NoDecodableMode {
    /// What the camera offers, as `FOURCC WxH@fps` items (formats repeated once per size).
    pub offered: String,
}

/// The mode to open among `offered`, for a request of `want` at `want_fps` (see the module
/// docs for the rule).
///
/// # Errors
/// [`NoDecodableMode`] when no offered mode is decodable (or none is offered).
pub fn choose(
    offered: &[CameraMode],
    want: Resolution,
    want_fps: f64,
) -> Result<CameraMode, NoDecodableMode> {
    let preferred =
        |m: &CameraMode| matches!(m.layout(), Some(PixelLayout::Mjpeg | PixelLayout::Yuyv));
    // Size distance: |log2 of the pixel-count ratio|, a smaller size counting a little more.
    let size_cost = |m: &CameraMode| {
        let have = m.resolution.pixels().max(1) as f64;
        let asked = want.pixels().max(1) as f64;
        let d = (have / asked).log2();
        if d < 0.0 { -d * 1.01 } else { d }
    };
    // Rate distance: relative, a slower rate counting a little more.
    let fps_cost = |m: &CameraMode| {
        let d = (m.fps - want_fps) / want_fps.max(1.0);
        if d < 0.0 { -d * 1.01 } else { d }
    };
    offered
        .iter()
        .filter(|m| m.layout().is_some() && m.resolution.pixels() > 0 && m.fps > 0.0)
        .min_by(|a, b| {
            (!preferred(a))
                .cmp(&!preferred(b))
                .then(size_cost(a).total_cmp(&size_cost(b)))
                .then(fps_cost(a).total_cmp(&fps_cost(b)))
        })
        .copied()
        .ok_or_else(|| NoDecodableMode {
            offered: summarise(offered),
        })
}

/// The sizes to consider from a camera's stepwise (continuous) size range: its smallest and
/// largest, and the size asked for clamped into the range and snapped to its steps. (Listing every
/// step of a range such as 1..8192 by 1 is not an option.)
pub fn stepwise_sizes(
    min: Resolution,
    max: Resolution,
    step: Resolution,
    want: Resolution,
) -> Vec<Resolution> {
    let snap = |v: u32, lo: u32, hi: u32, step: u32| {
        let v = v.clamp(lo, hi.max(lo));
        let step = step.max(1);
        (lo + (v - lo) / step * step).min(hi.max(lo))
    };
    let near = Resolution::new(
        snap(want.width, min.width, max.width, step.width),
        snap(want.height, min.height, max.height, step.height),
    );
    let mut sizes = vec![min, near, max];
    sizes.dedup();
    sizes.retain(|r| r.pixels() > 0);
    sizes
}

/// `offered` in a few words: each format with its sizes (`H264 1920x1080, 1280x720`).
fn summarise(offered: &[CameraMode]) -> String {
    if offered.is_empty() {
        return "no video capture format".into();
    }
    let mut formats: Vec<([u8; 4], Vec<Resolution>)> = Vec::new();
    for m in offered {
        match formats.iter_mut().find(|(f, _)| *f == m.fourcc) {
            Some((_, sizes)) if !sizes.contains(&m.resolution) => sizes.push(m.resolution),
            Some(_) => {}
            None => formats.push((m.fourcc, vec![m.resolution])),
        }
    }
    formats
        .iter()
        .map(|(f, sizes)| {
            let sizes: Vec<String> = sizes.iter().map(ToString::to_string).collect();
            format!("{} {}", String::from_utf8_lossy(f), sizes.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VGA: Resolution = Resolution::new(640, 480);

    /// A Logitech C920's list (abridged from `v4l2-ctl --list-formats-ext`): YUYV at every size
    /// but slow when large, MJPEG and H264 up to 1080p at 30 fps.
    fn c920() -> Vec<CameraMode> {
        let mut modes = Vec::new();
        for (w, h, yuyv_fps) in [
            (640, 480, 30.0),
            (160, 90, 30.0),
            (320, 240, 30.0),
            (800, 600, 24.0),
            (1280, 720, 10.0),
            (1920, 1080, 5.0),
        ] {
            modes.push(CameraMode::new(b"YUYV", w, h, yuyv_fps));
            modes.push(CameraMode::new(b"H264", w, h, 30.0));
            modes.push(CameraMode::new(b"MJPG", w, h, 30.0));
            modes.push(CameraMode::new(b"MJPG", w, h, 15.0));
        }
        modes
    }

    #[test]
    fn a_c920_streams_the_size_and_rate_asked_for() {
        let m = choose(&c920(), VGA, 30.0).unwrap();
        assert_eq!(m.resolution, VGA);
        assert_eq!(m.fps, 30.0);
        assert!(matches!(&m.fourcc, b"YUYV" | b"MJPG"), "{m}");
        // 720p at 30 fps: YUYV only does 10 there, MJPEG does 30.
        let m = choose(&c920(), Resolution::new(1280, 720), 30.0).unwrap();
        assert_eq!(m, CameraMode::new(b"MJPG", 1280, 720, 30.0));
    }

    #[test]
    fn a_yuyv_only_laptop_camera_is_used_at_its_nearest_size() {
        let cam = [
            CameraMode::new(b"YUYV", 1280, 720, 10.0),
            CameraMode::new(b"YUYV", 848, 480, 30.0),
            CameraMode::new(b"YUYV", 424, 240, 30.0),
        ];
        assert_eq!(
            choose(&cam, VGA, 30.0).unwrap(),
            CameraMode::new(b"YUYV", 848, 480, 30.0)
        );
    }

    #[test]
    fn an_infrared_grey_camera_and_a_yu12_loopback_device_are_decodable() {
        let ir = [CameraMode::new(b"GREY", 640, 360, 15.0)];
        assert_eq!(choose(&ir, VGA, 30.0).unwrap(), ir[0]);
        let loopback = [CameraMode::new(b"YU12", 1280, 720, 30.0)];
        assert_eq!(choose(&loopback, VGA, 30.0).unwrap(), loopback[0]);
        // A camera with both an IR and a colour stream: the colour one.
        let both = [ir[0], CameraMode::new(b"MJPG", 1280, 720, 30.0)];
        assert_eq!(&choose(&both, VGA, 30.0).unwrap().fourcc, b"MJPG");
    }

    #[test]
    fn a_continuous_size_range_offers_its_ends_and_the_size_asked_for() {
        let r = Resolution::new;
        assert_eq!(
            stepwise_sizes(r(1, 1), r(8192, 8192), r(1, 1), VGA),
            vec![r(1, 1), VGA, r(8192, 8192)]
        );
        // Snapped to 16-pixel steps from 32, clamped to the range.
        assert_eq!(
            stepwise_sizes(r(32, 32), r(1920, 1080), r(16, 16), r(650, 5000)),
            vec![r(32, 32), r(640, 1072), r(1920, 1080)]
        );
        // A zero step is treated as 1, not a division by zero.
        assert_eq!(
            stepwise_sizes(r(2, 2), r(2, 2), r(0, 0), VGA),
            vec![r(2, 2)]
        );
    }

    #[test]
    fn nothing_decodable_names_what_the_camera_offers() {
        let h264 = [
            CameraMode::new(b"H264", 1920, 1080, 30.0),
            CameraMode::new(b"H264", 1920, 1080, 15.0),
            CameraMode::new(b"H264", 1280, 720, 30.0),
        ];
        let e = choose(&h264, VGA, 30.0).unwrap_err().to_string();
        assert!(e.contains("H264 1920x1080, 1280x720"), "{e}");
        assert!(e.contains("MJPG") && e.contains("GREY"), "{e}");
        let e = choose(&[], VGA, 30.0).unwrap_err().to_string();
        assert!(e.contains("no video capture format"), "{e}");
    }
}
