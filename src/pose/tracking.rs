//! The tracking crop: feed the model a square around the person found in the previous frame
//! instead of the whole frame, as MoveNet's own video pipeline does.
//!
//! A person 2 m from a side camera fills about a third of the frame; letterboxed whole, they get a
//! third of the model's 192 (or 256) pixels. Cropped around them, they get all of them, and the
//! head and torso keypoints move 1–2 px closer to the truth; a desk webcam's user gains too, as
//! long as the crop stays on the frame (see `docs/architecture.md`, "Tracking crop", and the
//! measurements in `docs/performance.md`).
//!
//! Per frame, [`TrackingEstimator`]:
//! 1. takes the previous frame's pose, when it was tracked (mean head and torso score at least
//!    [`TrackingOptions::min_score`]);
//! 2. boxes its confident keypoints, grows the box to a square of [`TrackingOptions::grow`] times
//!    its longer side around the same centre, and shifts the square into the frame
//!    ([`crop_around`]);
//! 3. uses it only when its side is at most [`TrackingOptions::max_fraction`] of the frame's
//!    shorter side (by default: when it fits on the frame; a padded crop was measured to lose
//!    keypoints of people cut by the frame's edge);
//! 4. runs the model on the crop; when the crop's pose is not tracked (the person left the crop,
//!    or someone else's outline scored low), runs the model again on the whole frame, for this
//!    frame, and starts untracked from it.
//!
//! The crop is a whole-pixel square and the keypoints come back in frame pixels through the
//! letterbox's exact map (see [`super::letterbox`]), so cropping changes what the model sees,
//! never where a keypoint is reported for the same model output.

use super::letterbox::Crop;
use super::{Estimate, Joint, Pose, PoseEstimator, StageTimings};
use crate::error::PoseError;
use crate::frame::{FrameError, ImageView, OwnedImage, Resolution};

/// Whether runs crop around the tracked person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CropMode {
    /// Crop while a person is tracked and the crop fits on the frame; the whole frame otherwise.
    #[default]
    Auto,
    /// Always the whole frame.
    Off,
}

/// The tracking crop's settings. The defaults are the measured ones (`docs/performance.md`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackingOptions {
    /// Crop or not.
    pub mode: CropMode,
    /// The crop's side over the longer side of the confident keypoints' box (1.25: 12.5% of margin
    /// on each side of the longer side).
    pub grow: f32,
    /// Crop only when the crop's side is at most this fraction of the frame's shorter side (1:
    /// whenever the square fits on the frame; at most 1, as the crop is never padded).
    pub max_fraction: f32,
    /// A keypoint is confident at this score; a pose is tracked when the mean score of its head
    /// and torso keypoints (nose, eyes, ears, shoulders, hips) reaches it.
    pub min_score: f32,
    /// The smallest crop, in frame pixels.
    pub min_side: u32,
}

impl Default for TrackingOptions {
    fn default() -> Self {
        Self {
            mode: CropMode::Auto,
            grow: 1.25,
            max_fraction: 1.0,
            min_score: super::DEFAULT_SCORE_THRESHOLD,
            min_side: 32,
        }
    }
}

/// What a [`TrackingEstimator`] did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackingStats {
    /// Frames estimated.
    pub frames: u64,
    /// Frames whose pose came from a crop.
    pub cropped: u64,
    /// Frames whose crop did not hold the person and were estimated again on the whole frame.
    pub fallbacks: u64,
}

/// The head and torso joints whose mean score decides whether a pose is tracked.
const CORE: [Joint; 9] = [
    Joint::Nose,
    Joint::LeftEye,
    Joint::RightEye,
    Joint::LeftEar,
    Joint::RightEar,
    Joint::LeftShoulder,
    Joint::RightShoulder,
    Joint::LeftHip,
    Joint::RightHip,
];

/// Whether `pose` holds a person to track: the mean score of its head and torso keypoints reaches
/// `min_score`.
pub fn is_tracked(pose: &Pose, min_score: f32) -> bool {
    let mean = CORE.iter().map(|&j| pose.get(j).score).sum::<f32>() / CORE.len() as f32;
    mean >= min_score
}

/// The crop around `pose` in a frame of `resolution`, or `None` for the whole frame: when fewer
/// than two keypoints are confident, or the crop's side would exceed
/// [`TrackingOptions::max_fraction`] of the frame's shorter side. The square is shifted to lie
/// wholly on the frame.
pub fn crop_around(pose: &Pose, resolution: Resolution, options: &TrackingOptions) -> Option<Crop> {
    let confident = pose
        .keypoints
        .iter()
        .filter(|k| k.score >= options.min_score && k.x_px.is_finite() && k.y_px.is_finite());
    let (mut x_lo, mut y_lo, mut x_hi, mut y_hi) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    let mut n = 0;
    for k in confident {
        (x_lo, x_hi) = (x_lo.min(k.x_px), x_hi.max(k.x_px));
        (y_lo, y_hi) = (y_lo.min(k.y_px), y_hi.max(k.y_px));
        n += 1;
    }
    if n < 2 {
        return None;
    }
    let (w, h) = (resolution.width, resolution.height);
    let shorter = w.min(h) as f32;
    let side = (options.grow * (x_hi - x_lo).max(y_hi - y_lo))
        .ceil()
        .max(options.min_side as f32);
    if side.is_nan() || side > options.max_fraction.min(1.0) * shorter {
        return None;
    }
    let side = side as u32;
    let place = |centre: f32, len: u32| {
        let start = (centre - side as f32 / 2.0).round();
        start.clamp(0.0, (len - side) as f32) as i32
    };
    Some(Crop {
        x0: place((x_lo + x_hi) / 2.0, w),
        y0: place((y_lo + y_hi) / 2.0, h),
        side,
    })
}

/// Copies the square `crop` of `image` into an image of its own (black where the square leaves
/// the frame), in the same pixel format.
///
/// # Errors
/// [`FrameError::Empty`] for a crop of side 0.
pub fn copy_crop(image: ImageView<'_>, crop: Crop) -> Result<OwnedImage, FrameError> {
    let bpp = image.format().bytes_per_pixel();
    let side = crop.side as usize;
    let mut data = vec![0u8; side * side * bpp];
    let (w, h) = (
        i64::from(image.resolution().width),
        i64::from(image.resolution().height),
    );
    let (x0, y0) = (i64::from(crop.x0), i64::from(crop.y0));
    let (xa, xb) = (x0.max(0), (x0 + side as i64).min(w));
    let src = image.data();
    if xa < xb {
        for row in 0..side as i64 {
            let y = y0 + row;
            if !(0..h).contains(&y) {
                continue;
            }
            let from = (y * w + xa) as usize * bpp;
            let len = (xb - xa) as usize * bpp;
            let to = (row as usize * side + (xa - x0) as usize) * bpp;
            data[to..to + len].copy_from_slice(&src[from..from + len]);
        }
    }
    OwnedImage::new(Resolution::new(crop.side, crop.side), image.format(), data)
}

/// A [`PoseEstimator`] that crops each frame around the person found in the previous one (see
/// the module's documentation), over any other estimator. One per run: a new run starts
/// untracked.
pub struct TrackingEstimator<E> {
    inner: E,
    options: TrackingOptions,
    // The last frame's pose, when it was tracked, and that frame's size.
    previous: Option<(Pose, Resolution)>,
    last_crop: Option<Crop>,
    stats: TrackingStats,
}

impl<E: PoseEstimator> TrackingEstimator<E> {
    /// Tracks with `options` over `inner`.
    pub fn new(inner: E, options: TrackingOptions) -> Self {
        Self {
            inner,
            options,
            previous: None,
            last_crop: None,
            stats: TrackingStats::default(),
        }
    }

    /// The estimator the crops go to.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// The settings.
    pub fn options(&self) -> &TrackingOptions {
        &self.options
    }

    /// The crop the last frame's pose came from (`None`: the whole frame).
    pub fn last_crop(&self) -> Option<Crop> {
        self.last_crop
    }

    /// Counts of cropped frames and fallbacks so far.
    pub fn stats(&self) -> TrackingStats {
        self.stats
    }

    /// Forgets the tracked person: the next frame is estimated whole.
    pub fn reset(&mut self) {
        self.previous = None;
        self.last_crop = None;
    }

    fn crop_for(&self, resolution: Resolution) -> Option<Crop> {
        if self.options.mode == CropMode::Off {
            return None;
        }
        let (pose, seen_at) = self.previous.as_ref()?;
        if *seen_at != resolution {
            return None;
        }
        crop_around(pose, resolution, &self.options)
    }

    fn whole_frame(
        &mut self,
        image: ImageView<'_>,
        spent: StageTimings,
    ) -> Result<Estimate, PoseError> {
        let mut estimate = self.inner.estimate(image)?;
        estimate.timings = add(estimate.timings, spent);
        self.last_crop = None;
        self.previous = is_tracked(&estimate.pose, self.options.min_score)
            .then_some((estimate.pose, image.resolution()));
        Ok(estimate)
    }
}

fn add(a: StageTimings, b: StageTimings) -> StageTimings {
    StageTimings {
        letterbox: a.letterbox + b.letterbox,
        inference: a.inference + b.inference,
        decode: a.decode + b.decode,
    }
}

impl<E: PoseEstimator> PoseEstimator for TrackingEstimator<E> {
    fn estimate(&mut self, image: ImageView<'_>) -> Result<Estimate, PoseError> {
        self.stats.frames += 1;
        let Some(crop) = self.crop_for(image.resolution()) else {
            return self.whole_frame(image, StageTimings::default());
        };
        let estimate = self.inner.estimate_crop(image, crop)?;
        if is_tracked(&estimate.pose, self.options.min_score) {
            self.stats.cropped += 1;
            self.last_crop = Some(crop);
            self.previous = Some((estimate.pose, image.resolution()));
            return Ok(estimate);
        }
        // The person is not (or no longer) in the crop: this frame again, whole. Its cost is
        // both runs'.
        self.stats.fallbacks += 1;
        self.whole_frame(image, estimate.timings)
    }

    /// A crop asked for from outside goes straight to the inner estimator, untracked.
    fn estimate_crop(&mut self, image: ImageView<'_>, crop: Crop) -> Result<Estimate, PoseError> {
        self.inner.estimate_crop(image, crop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;
    use crate::pose::Keypoint;

    /// A fake model: "the person" is the bounding box of the bright pixels of the image it is
    /// given; its 17 keypoints are fixed fractions of that box, all scoring 0.9 (0 when nothing
    /// is bright). Records the size of every image it sees.
    #[derive(Default)]
    struct BrightBox {
        seen: Vec<Resolution>,
    }

    fn spot(j: usize) -> (f32, f32) {
        // Fractions whose products with whole pixels are exact in f32.
        let fy = [0.0, 0.25, 0.5, 1.0][(j / 5).min(3)];
        ((j % 5) as f32 / 4.0, fy)
    }

    impl PoseEstimator for BrightBox {
        fn estimate(&mut self, image: ImageView<'_>) -> Result<Estimate, PoseError> {
            let r = image.resolution();
            self.seen.push(r);
            let bpp = image.format().bytes_per_pixel();
            let (mut lo, mut hi) = ((u32::MAX, u32::MAX), (0u32, 0u32));
            for y in 0..r.height {
                for x in 0..r.width {
                    if image.data()[(y * r.width + x) as usize * bpp] > 128 {
                        lo = (lo.0.min(x), lo.1.min(y));
                        hi = (hi.0.max(x + 1), hi.1.max(y + 1));
                    }
                }
            }
            let mut pose = Pose::default();
            if lo.0 < hi.0 {
                for (j, k) in pose.keypoints.iter_mut().enumerate() {
                    let (fx, fy) = spot(j);
                    *k = Keypoint {
                        x_px: lo.0 as f32 + fx * (hi.0 - lo.0) as f32,
                        y_px: lo.1 as f32 + fy * (hi.1 - lo.1) as f32,
                        score: 0.9,
                    };
                }
            }
            Ok(Estimate {
                pose,
                timings: StageTimings::default(),
            })
        }
    }

    /// A 640x480 gray frame with a bright `w` x `h` rectangle at (`x`, `y`), if any.
    fn frame(rect: Option<(u32, u32, u32, u32)>) -> OwnedImage {
        let (fw, fh) = (640u32, 480u32);
        let mut data = vec![20u8; (fw * fh) as usize];
        if let Some((x, y, w, h)) = rect {
            for row in y..y + h {
                for col in x..x + w {
                    data[(row * fw + col) as usize] = 220;
                }
            }
        }
        OwnedImage::new(Resolution::new(fw, fh), PixelFormat::Gray8, data).unwrap()
    }

    fn tracker(mode: CropMode) -> TrackingEstimator<BrightBox> {
        TrackingEstimator::new(
            BrightBox::default(),
            TrackingOptions {
                mode,
                ..TrackingOptions::default()
            },
        )
    }

    #[test]
    fn a_small_person_is_cropped_and_the_keypoints_come_back_exactly_in_frame_pixels() {
        let img = frame(Some((300, 150, 90, 160)));
        let mut t = tracker(CropMode::Auto);
        let whole = t.estimate(img.view()).unwrap();
        assert_eq!(t.last_crop(), None, "the first frame of a run is untracked");
        let cropped = t.estimate(img.view()).unwrap();
        let crop = t.last_crop().expect("the second frame is cropped");
        // 1.25 x the keypoints' longer side (160), centred on the box, on the frame.
        assert_eq!(crop.side, 200);
        assert_eq!((crop.x0, crop.y0), (245, 130));
        assert_eq!(
            t.inner().seen,
            vec![Resolution::new(640, 480), Resolution::new(200, 200)]
        );
        // Same person, same place: the same keypoints to the bit, though seen through a crop.
        assert_eq!(cropped.pose, whole.pose);
        assert_eq!(
            t.stats(),
            TrackingStats {
                frames: 2,
                cropped: 1,
                fallbacks: 0
            }
        );
    }

    #[test]
    fn a_crop_reaching_past_the_frame_is_shifted_onto_it() {
        let img = frame(Some((0, 300, 90, 160)));
        let mut t = tracker(CropMode::Auto);
        let whole = t.estimate(img.view()).unwrap();
        let cropped = t.estimate(img.view()).unwrap();
        let crop = t.last_crop().unwrap();
        assert!(crop.inside(img.resolution()), "{crop:?}");
        assert_eq!((crop.x0, crop.y0, crop.side), (0, 280, 200));
        assert_eq!(cropped.pose, whole.pose);
    }

    #[test]
    fn a_person_who_leaves_the_crop_is_found_again_on_the_whole_frame_in_the_same_frame() {
        let mut t = tracker(CropMode::Auto);
        t.estimate(frame(Some((300, 150, 90, 160))).view()).unwrap();
        // They moved far away between two frames: the crop shows background only.
        let moved = frame(Some((20, 20, 90, 160)));
        let e = t.estimate(moved.view()).unwrap();
        assert_eq!(t.stats().fallbacks, 1);
        assert_eq!(t.last_crop(), None);
        assert!(is_tracked(&e.pose, 0.3));
        assert_eq!(
            e.pose.get(Joint::Nose).x_px,
            20.0,
            "found where they are now"
        );
        // The next frame crops around the new place.
        let e2 = t.estimate(moved.view()).unwrap();
        let crop = t.last_crop().expect("tracked again");
        assert_eq!((crop.x0, crop.y0), (0, 0));
        assert_eq!(e2.pose, e.pose);
    }

    #[test]
    fn nobody_in_the_frame_falls_back_and_the_next_frame_starts_untracked() {
        let mut t = tracker(CropMode::Auto);
        t.estimate(frame(Some((300, 150, 90, 160))).view()).unwrap();
        let empty = frame(None);
        let e = t.estimate(empty.view()).unwrap();
        assert!(!is_tracked(&e.pose, 0.3));
        assert_eq!(t.stats().fallbacks, 1);
        t.estimate(empty.view()).unwrap();
        let full = Resolution::new(640, 480);
        assert_eq!(
            t.inner().seen,
            vec![full, Resolution::new(200, 200), full, full],
            "crop, then the whole frame for the same frame, then whole while lost"
        );
        t.estimate(frame(Some((300, 150, 90, 160))).view()).unwrap();
        assert_eq!(t.last_crop(), None, "found again on a whole frame");
    }

    #[test]
    fn a_desk_webcam_user_is_cropped_to_the_frame_s_height() {
        // 300 px tall: a 375 px square, on the frame (measured: it helps, docs/performance.md).
        let img = frame(Some((200, 180, 240, 300)));
        let mut t = tracker(CropMode::Auto);
        let whole = t.estimate(img.view()).unwrap();
        let cropped = t.estimate(img.view()).unwrap();
        let crop = t.last_crop().unwrap();
        assert_eq!((crop.x0, crop.y0, crop.side), (133, 105, 375));
        assert_eq!(cropped.pose, whole.pose);
    }

    #[test]
    fn a_person_larger_than_the_frame_s_height_is_not_cropped() {
        // 400 px tall: a 500 px square does not fit in 480 rows (no padded crops).
        let img = frame(Some((200, 60, 240, 400)));
        let mut t = tracker(CropMode::Auto);
        for _ in 0..3 {
            t.estimate(img.view()).unwrap();
            assert_eq!(t.last_crop(), None);
        }
        assert_eq!(t.stats().cropped, 0);
    }

    #[test]
    fn off_never_crops() {
        let img = frame(Some((300, 150, 90, 160)));
        let mut t = tracker(CropMode::Off);
        for _ in 0..3 {
            t.estimate(img.view()).unwrap();
        }
        assert_eq!(t.stats().cropped, 0);
        assert!(t.inner().seen.iter().all(|&r| r == img.resolution()));
    }

    #[test]
    fn the_size_limit_is_a_fraction_of_the_shorter_side() {
        let r = Resolution::new(640, 480);
        // Keypoints spanning 250 px: a crop of 313 px, 65% of 480.
        let mut pose = Pose::default();
        for (j, k) in pose.keypoints.iter_mut().enumerate() {
            *k = Keypoint {
                x_px: 200.0 + 10.0 * j as f32,
                y_px: 100.0 + 250.0 * (j as f32 / 16.0),
                score: 0.9,
            };
        }
        let at = |max_fraction| TrackingOptions {
            max_fraction,
            ..TrackingOptions::default()
        };
        assert_eq!(crop_around(&pose, r, &at(0.6)), None);
        assert_eq!(crop_around(&pose, r, &at(0.7)).map(|c| c.side), Some(313));
    }

    #[test]
    fn too_few_confident_keypoints_give_the_whole_frame() {
        let mut pose = Pose::default();
        pose.keypoints[0] = Keypoint {
            x_px: 10.0,
            y_px: 10.0,
            score: 0.9,
        };
        let r = Resolution::new(640, 480);
        assert_eq!(crop_around(&pose, r, &TrackingOptions::default()), None);
    }

    #[test]
    fn copying_a_crop_pads_with_black_outside_the_frame() {
        let data: Vec<u8> = (0..4 * 3 * 3).map(|i| i as u8 + 1).collect();
        let img = OwnedImage::new(Resolution::new(4, 3), PixelFormat::Rgb8, data.clone()).unwrap();
        let crop = Crop {
            x0: -1,
            y0: 1,
            side: 3,
        };
        let copy = copy_crop(img.view(), crop).unwrap();
        let px = |x: usize, y: usize| &copy.view().data()[(y * 3 + x) * 3..][..3];
        assert_eq!(px(0, 0), [0, 0, 0]);
        // Crop (1, 0) is frame (0, 1).
        assert_eq!(px(1, 0), &data[(4 * 3)..][..3]);
        assert_eq!(px(2, 1), &data[(2 * 4 + 1) * 3..][..3]);
        assert_eq!(px(1, 2), [0, 0, 0], "row 3 is below the frame");
    }
}
