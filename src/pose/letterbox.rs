//! Letterboxing: fit any frame into the model's square input with its aspect ratio kept.
//!
//! The transform is one exact affine map per axis, `model = image * scale + pad`, with
//! `scale = size / max(width, height)` and the padding split evenly on both sides (it may be
//! fractional). Coordinates are continuous (pixel centres at `i + 0.5`), so mapping a point into
//! model space and back is exact up to float rounding. Resampling is bilinear with the sample
//! point at each model pixel's centre (as TensorFlow's `resize_with_pad`, without antialiasing,
//! which is how MoveNet is fed); samples that fall outside the frame are padding (0).
//!
//! A letterbox can also take a [`Crop`]: a square of the frame (which may reach past its edges)
//! mapped onto the whole model input, `model = (image - x0) * size / side`. It is the same affine
//! map with `scale = size / side` and `pad = -x0 * scale`, so the same taps, the same fill loop and
//! the same exact inverse serve both; the full frame is the crop of side `max(width, height)`
//! centred on it. A crop's letterbox costs what the full frame's does: one tap per model column
//! and row, recomputed in place when the crop moves ([`Letterbox::refit`]).
//!
//! Rationale for fixed point: the weights are quantised to 1/2048 and the blend is done in
//! integers, so the result is exactly reproducible by any other implementation of the documented
//! formula (the golden test's numpy reference gives bit-identical tensors), and it is fast.

use crate::frame::FrameError;
use crate::frame::{ImageView, PixelFormat, Resolution};

/// One precomputed bilinear tap along an axis.
#[derive(Clone, Copy, Debug)]
struct Tap {
    /// First source index (pixel), already clamped into the frame.
    i0: u32,
    /// Second source index, clamped.
    i1: u32,
    /// Weight of `i1` in 1/[`ONE`] units; `i0` gets `ONE - w1`.
    w1: u32,
    /// Whether the sample lies on the frame (otherwise it is padding).
    inside: bool,
}

/// A square of the frame, in whole frame pixels: columns `x0..x0 + side`, rows `y0..y0 + side`.
/// It may reach past the frame's edges; what lies outside the frame is padding (0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Crop {
    /// Left edge, frame pixels from the frame's left edge (negative: padding on the left).
    pub x0: i32,
    /// Top edge, frame pixels from the frame's top edge (negative: padding above).
    pub y0: i32,
    /// Side of the square, pixels (at least 1).
    pub side: u32,
}

impl Crop {
    /// Maps a point from crop pixels (0..side, continuous) to frame pixels.
    pub fn frame_from_crop(&self, x_px: f64, y_px: f64) -> (f64, f64) {
        (x_px + f64::from(self.x0), y_px + f64::from(self.y0))
    }

    /// Maps a point from frame pixels to crop pixels (the exact inverse of
    /// [`Crop::frame_from_crop`]).
    pub fn crop_from_frame(&self, x_px: f64, y_px: f64) -> (f64, f64) {
        (x_px - f64::from(self.x0), y_px - f64::from(self.y0))
    }

    /// Whether the whole square lies on a frame of `resolution` (no padding).
    pub fn inside(&self, resolution: Resolution) -> bool {
        let end = |start: i32, len: u32| i64::from(start) + i64::from(self.side) <= i64::from(len);
        self.x0 >= 0
            && self.y0 >= 0
            && end(self.x0, resolution.width)
            && end(self.y0, resolution.height)
    }
}

/// The letterbox for one frame size and one model input size, with its resampling taps
/// precomputed so that filling the input tensor allocates nothing.
#[derive(Clone, Debug)]
pub struct Letterbox {
    size: u32,
    resolution: Resolution,
    crop: Option<Crop>,
    scale: f64,
    pad_x: f64,
    pad_y: f64,
    cols: Vec<Tap>,
    rows: Vec<Tap>,
}

/// Fixed-point one: weights are in 1/2048 units (11 bits per axis; 255 * 2048 * 2048 < 2^31).
const ONE: u32 = 1 << 11;

// Fills `out` with one tap per model pixel along an axis (reusing its allocation).
fn fill_taps(out: &mut Vec<Tap>, len_in: u32, size: u32, scale: f64, pad: f64) {
    let last = f64::from(len_in) - 1.0;
    out.clear();
    out.extend((0..size).map(|u| {
        let s = (f64::from(u) + 0.5 - pad) / scale - 0.5;
        let inside = s >= -0.5 && s <= f64::from(len_in) - 0.5;
        let c = s.clamp(0.0, last);
        let i0 = c.floor();
        let i1 = (i0 + 1.0).min(last);
        let w1 = ((c - i0) * f64::from(ONE)).round() as u32;
        Tap {
            i0: i0 as u32,
            i1: i1 as u32,
            w1,
            inside,
        }
    }));
}

impl Letterbox {
    /// The letterbox from frames of `resolution` into a `size` x `size` model input.
    pub fn new(resolution: Resolution, size: u32) -> Self {
        Self::with_crop(resolution, size, None)
    }

    /// The letterbox from the square `crop` of frames of `resolution` (the whole frame for
    /// `None`) into a `size` x `size` model input.
    pub fn with_crop(resolution: Resolution, size: u32, crop: Option<Crop>) -> Self {
        let mut lb = Self {
            size,
            resolution,
            crop,
            scale: 1.0,
            pad_x: 0.0,
            pad_y: 0.0,
            cols: Vec::with_capacity(size as usize),
            rows: Vec::with_capacity(size as usize),
        };
        lb.refit(resolution, crop);
        lb
    }

    /// Points this letterbox at another frame size or crop, recomputing its taps in place (no
    /// allocation when the model size is unchanged).
    pub fn refit(&mut self, resolution: Resolution, crop: Option<Crop>) {
        let (w, h) = (resolution.width.max(1), resolution.height.max(1));
        let s = f64::from(self.size);
        let (scale, pad_x, pad_y) = match crop {
            None => {
                let scale = s / f64::from(w.max(h));
                (
                    scale,
                    (s - f64::from(w) * scale) / 2.0,
                    (s - f64::from(h) * scale) / 2.0,
                )
            }
            Some(c) => {
                let scale = s / f64::from(c.side.max(1));
                (scale, -f64::from(c.x0) * scale, -f64::from(c.y0) * scale)
            }
        };
        self.resolution = resolution;
        self.crop = crop;
        self.scale = scale;
        self.pad_x = pad_x;
        self.pad_y = pad_y;
        fill_taps(&mut self.cols, w, self.size, scale, pad_x);
        fill_taps(&mut self.rows, h, self.size, scale, pad_y);
    }

    /// The crop this letterbox reads (`None`: the whole frame).
    pub fn crop(&self) -> Option<Crop> {
        self.crop
    }

    /// The frame size this letterbox was built for.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// The side of the model's square input, in pixels.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Model pixels per frame pixel.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Maps a point from frame pixels to model pixels.
    pub fn model_from_image(&self, x_px: f64, y_px: f64) -> (f64, f64) {
        (
            x_px * self.scale + self.pad_x,
            y_px * self.scale + self.pad_y,
        )
    }

    /// Maps a point from model pixels back to frame pixels (the exact inverse of
    /// [`Letterbox::model_from_image`]).
    pub fn image_from_model(&self, u_px: f64, v_px: f64) -> (f64, f64) {
        (
            (u_px - self.pad_x) / self.scale,
            (v_px - self.pad_y) / self.scale,
        )
    }

    /// Maps MoveNet's normalised output (0..1 across the padded square) to frame pixels.
    pub fn image_from_normalized(&self, x_norm: f32, y_norm: f32) -> (f32, f32) {
        let s = f64::from(self.size);
        let (x, y) = self.image_from_model(f64::from(x_norm) * s, f64::from(y_norm) * s);
        (x as f32, y as f32)
    }

    /// Resamples `image` into `out` as interleaved RGB (NHWC without the batch), rounding each
    /// value to the nearest integer in 0..=255, padding with 0.
    ///
    /// # Errors
    /// [`FrameError::SizeMismatch`] when `image` is not of this letterbox's resolution or `out`
    /// does not hold `size * size * 3` values.
    pub fn fill_rgb_i32(&self, image: ImageView<'_>, out: &mut [i32]) -> Result<(), FrameError> {
        self.check(image, out.len())?;
        self.fill_with(image, |pixel, c, v| out[pixel * 3 + c] = i32::from(v));
        Ok(())
    }

    /// Resamples `image` into `out` as planar RGB (NCHW without the batch), each value `v`
    /// (the same integer [`Letterbox::fill_rgb_i32`] gives, padding 0) stored as `v * scale - offset`
    /// in f32 — the normalisation MoveNet's original graph does itself, done here for the prepared
    /// graph so that its first convolution sees the same bits.
    ///
    /// # Errors
    /// As [`Letterbox::fill_rgb_i32`].
    pub fn fill_planar_f32(
        &self,
        image: ImageView<'_>,
        scale: f32,
        offset: f32,
        out: &mut [f32],
    ) -> Result<(), FrameError> {
        self.check(image, out.len())?;
        let plane = self.size as usize * self.size as usize;
        // Three lookups instead of a multiply per value: the same f32 expression, computed once.
        let table: [f32; 256] = std::array::from_fn(|v| v as f32 * scale - offset);
        self.fill_with(image, |pixel, c, v| {
            out[c * plane + pixel] = table[usize::from(v)];
        });
        Ok(())
    }

    fn check(&self, image: ImageView<'_>, out_len: usize) -> Result<(), FrameError> {
        if image.resolution() != self.resolution {
            let bpp = image.format().bytes_per_pixel();
            return Err(FrameError::SizeMismatch {
                resolution: self.resolution,
                expected: self.resolution.pixels() * bpp,
                got: image.data().len(),
            });
        }
        let n = self.size as usize * self.size as usize * 3;
        if out_len != n {
            return Err(FrameError::SizeMismatch {
                resolution: Resolution::new(self.size, self.size),
                expected: n,
                got: out_len,
            });
        }
        Ok(())
    }

    // Invariant (checked by the caller with `check`): the image has this letterbox's resolution.
    fn fill_with(&self, image: ImageView<'_>, store: impl FnMut(usize, usize, u8)) {
        match image.format() {
            PixelFormat::Rgb8 => self.fill_impl::<3, false>(image.data(), store),
            PixelFormat::Rgba8 => self.fill_impl::<4, false>(image.data(), store),
            PixelFormat::Gray8 => self.fill_impl::<1, true>(image.data(), store),
        }
    }

    // Calls `store(pixel, channel, value)` for every model pixel (row-major) and channel.
    // Invariant: `data` holds this letterbox's resolution in BPP bytes per pixel; taps index
    // inside the frame.
    fn fill_impl<const BPP: usize, const GRAY: bool>(
        &self,
        data: &[u8],
        mut store: impl FnMut(usize, usize, u8),
    ) {
        let stride = self.resolution.width as usize * BPP;
        let side = self.size as usize;
        for (y, row) in self.rows.iter().enumerate() {
            let base = y * side;
            if !row.inside {
                for x in 0..side {
                    for c in 0..3 {
                        store(base + x, c, 0);
                    }
                }
                continue;
            }
            let r0 = &data[row.i0 as usize * stride..][..stride];
            let r1 = &data[row.i1 as usize * stride..][..stride];
            let (wy1, wy0) = (row.w1, ONE - row.w1);
            for (x, col) in self.cols.iter().enumerate() {
                if !col.inside {
                    for c in 0..3 {
                        store(base + x, c, 0);
                    }
                    continue;
                }
                let (a, b) = (col.i0 as usize * BPP, col.i1 as usize * BPP);
                let (wx1, wx0) = (col.w1, ONE - col.w1);
                for c in 0..3 {
                    let ci = if GRAY { 0 } else { c };
                    let top = u32::from(r0[a + ci]) * wx0 + u32::from(r0[b + ci]) * wx1;
                    let bot = u32::from(r1[a + ci]) * wx0 + u32::from(r1[b + ci]) * wx1;
                    // Round half up: add half of ONE * ONE before the shift. ≤ 255 by construction.
                    let v = (top * wy0 + bot * wy1 + (ONE * ONE / 2)) >> 22;
                    store(base + x, c, v as u8);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OwnedImage;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_point_mapped_into_model_space_and_back_lands_within_half_a_pixel(
            w in 1u32..4000, h in 1u32..4000, fx in 0.0f64..1.0, fy in 0.0f64..1.0,
            size in prop::sample::select(vec![192u32, 256]),
        ) {
            let lb = Letterbox::new(Resolution::new(w, h), size);
            let (x, y) = (fx * f64::from(w), fy * f64::from(h));
            let (u, v) = lb.model_from_image(x, y);
            prop_assert!((0.0..=f64::from(size)).contains(&u) && (0.0..=f64::from(size)).contains(&v));
            // Through the f32 normalised path the decoder uses.
            let (xb, yb) = lb.image_from_normalized((u / f64::from(size)) as f32, (v / f64::from(size)) as f32);
            prop_assert!((f64::from(xb) - x).abs() < 0.5, "x {x} -> {xb}");
            prop_assert!((f64::from(yb) - y).abs() < 0.5, "y {y} -> {yb}");
        }
    }

    #[test]
    fn round_trip_for_portrait_landscape_and_square_frames_of_odd_sizes() {
        for (w, h) in [
            (333, 777),
            (1281, 719),
            (641, 479),
            (513, 513),
            (1, 1),
            (3, 1001),
        ] {
            let lb = Letterbox::new(Resolution::new(w, h), 192);
            for &(x, y) in &[
                (0.0, 0.0),
                (f64::from(w), f64::from(h)),
                (f64::from(w) / 3.0, f64::from(h) * 0.7),
            ] {
                let (u, v) = lb.model_from_image(x, y);
                let (xb, yb) = lb.image_from_normalized((u / 192.0) as f32, (v / 192.0) as f32);
                assert!(
                    (f64::from(xb) - x).abs() < 0.5 && (f64::from(yb) - y).abs() < 0.5,
                    "{w}x{h}: ({x},{y}) -> ({xb},{yb})"
                );
            }
        }
    }

    #[test]
    fn the_frame_is_centred_and_padded_with_zero() {
        // A 4x2 white frame into an 8x8 square: scale 2, 2 rows of padding above and below.
        let data = vec![255u8; 4 * 2 * 3];
        let img = ImageView::new(Resolution::new(4, 2), PixelFormat::Rgb8, &data).unwrap();
        let lb = Letterbox::new(img.resolution(), 8);
        let mut out = vec![-1; 8 * 8 * 3];
        lb.fill_rgb_i32(img, &mut out).unwrap();
        for v in 0..8 {
            let expect = if (2..6).contains(&v) { 255 } else { 0 };
            assert!(
                out[v * 24..(v + 1) * 24].iter().all(|&p| p == expect),
                "row {v}"
            );
        }
    }

    #[test]
    fn gray_and_rgba_frames_give_the_same_tensor_as_their_rgb_copy() {
        let (w, h) = (37u32, 23u32);
        let gray: Vec<u8> = (0..w * h).map(|i| (i * 7 % 251) as u8).collect();
        let rgb: Vec<u8> = gray.iter().flat_map(|&g| [g, g, g]).collect();
        let rgba: Vec<u8> = gray.iter().flat_map(|&g| [g, g, g, 9]).collect();
        let r = Resolution::new(w, h);
        let lb = Letterbox::new(r, 64);
        let fill = |f, d: &[u8]| {
            let mut out = vec![0; 64 * 64 * 3];
            lb.fill_rgb_i32(ImageView::new(r, f, d).unwrap(), &mut out)
                .unwrap();
            out
        };
        let want = fill(PixelFormat::Rgb8, &rgb);
        assert_eq!(fill(PixelFormat::Gray8, &gray), want);
        assert_eq!(fill(PixelFormat::Rgba8, &rgba), want);
    }

    proptest! {
        #[test]
        fn a_point_mapped_into_a_crop_and_back_is_where_it_was(
            x0 in -500i32..1500, y0 in -500i32..1500, side in 1u32..2500,
            fx in 0.0f64..1.0, fy in 0.0f64..1.0,
            size in prop::sample::select(vec![192u32, 256]),
        ) {
            let crop = Crop { x0, y0, side };
            let lb = Letterbox::with_crop(Resolution::new(640, 480), size, Some(crop));
            let (x, y) = crop.frame_from_crop(fx * f64::from(side), fy * f64::from(side));
            let (u, v) = lb.model_from_image(x, y);
            prop_assert!((u - fx * f64::from(size)).abs() < 1e-9 && (v - fy * f64::from(size)).abs() < 1e-9);
            let (xb, yb) = lb.image_from_model(u, v);
            prop_assert!((xb - x).abs() < 1e-9 && (yb - y).abs() < 1e-9, "({x},{y}) -> ({xb},{yb})");
            let (xn, yn) = lb.image_from_normalized((u / f64::from(size)) as f32, (v / f64::from(size)) as f32);
            prop_assert!((f64::from(xn) - x).abs() < 0.5 && (f64::from(yn) - y).abs() < 0.5);
            let (xc, yc) = crop.crop_from_frame(x, y);
            prop_assert!((xc - fx * f64::from(side)).abs() < 1e-9 && (yc - fy * f64::from(side)).abs() < 1e-9);
        }
    }

    fn test_frame(w: u32, h: u32) -> OwnedImage {
        let data = (0..w * h * 3).map(|i| (i * 31 % 253) as u8).collect();
        OwnedImage::new(Resolution::new(w, h), PixelFormat::Rgb8, data).unwrap()
    }

    fn filled(lb: &Letterbox, img: ImageView<'_>) -> Vec<i32> {
        let n = lb.size() as usize;
        let mut out = vec![-1; n * n * 3];
        lb.fill_rgb_i32(img, &mut out).unwrap();
        out
    }

    #[test]
    fn the_whole_frame_is_the_centred_square_crop() {
        let img = test_frame(64, 48);
        let whole = Letterbox::new(img.resolution(), 24);
        let crop = Crop {
            x0: 0,
            y0: -8,
            side: 64,
        };
        let cropped = Letterbox::with_crop(img.resolution(), 24, Some(crop));
        assert_eq!(filled(&cropped, img.view()), filled(&whole, img.view()));
    }

    #[test]
    fn a_crop_gives_the_tensor_of_the_cropped_image_letterboxed_whole() {
        // A crop on the frame, downscaled (side >= size): the same taps, so the same bits as
        // cutting the crop out first.
        let img = test_frame(80, 60);
        let crop = Crop {
            x0: 13,
            y0: 7,
            side: 41,
        };
        let copy = crate::pose::tracking::copy_crop(img.view(), crop).unwrap();
        let cropped = Letterbox::with_crop(img.resolution(), 32, Some(crop));
        let whole = Letterbox::new(copy.resolution(), 32);
        assert_eq!(filled(&cropped, img.view()), filled(&whole, copy.view()));
    }

    #[test]
    fn refitting_to_a_new_crop_equals_building_it_afresh() {
        let img = test_frame(80, 60);
        let a = Crop {
            x0: -5,
            y0: 30,
            side: 50,
        };
        let b = Crop {
            x0: 20,
            y0: 3,
            side: 17,
        };
        let mut lb = Letterbox::with_crop(img.resolution(), 32, Some(a));
        lb.refit(img.resolution(), Some(b));
        let fresh = Letterbox::with_crop(img.resolution(), 32, Some(b));
        assert_eq!(filled(&lb, img.view()), filled(&fresh, img.view()));
        assert_eq!(lb.crop(), Some(b));
        // Padding where the crop leaves the frame: its 5 columns left of the frame are the first 3
        // model columns, black.
        lb.refit(img.resolution(), Some(a));
        let out = filled(&lb, img.view());
        assert!((0..32).all(|v| out[v * 32 * 3..][..3 * 3].iter().all(|&p| p == 0)));
    }

    #[test]
    fn a_frame_of_another_size_is_refused() {
        let data = vec![0u8; 10 * 10 * 3];
        let img = ImageView::new(Resolution::new(10, 10), PixelFormat::Rgb8, &data).unwrap();
        let lb = Letterbox::new(Resolution::new(20, 10), 8);
        assert!(lb.fill_rgb_i32(img, &mut vec![0; 8 * 8 * 3]).is_err());
    }
}
