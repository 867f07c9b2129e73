//! Drawing the skeleton on an image buffer: shared by `analyze --overlay` and the live window.
//!
//! Rationale for not using imageproc: the window buffer is packed `0RGB` `u32`, which imageproc
//! cannot draw on, and the two shapes needed (thick segments, discs) are a few lines each.

use crate::pose::{BONES, Joint, Pose};

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Colour of the person's left side.
pub const LEFT_COLOR: Rgb = [255, 150, 0];
/// Colour of the person's right side.
pub const RIGHT_COLOR: Rgb = [0, 190, 255];
/// Colour of the bones across the body (shoulders, hips) and the face's centre.
pub const CENTER_COLOR: Rgb = [90, 255, 90];

/// Something to draw on, pixel by pixel.
pub trait Canvas {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Sets the pixel at column `x`, row `y` (both inside `size`).
    fn put(&mut self, x: u32, y: u32, color: Rgb);
}

/// Packed RGB bytes, row by row.
pub struct RgbCanvas<'a> {
    /// Invariant: len == width * height * 3.
    data: &'a mut [u8],
    width: u32,
    height: u32,
}

impl<'a> RgbCanvas<'a> {
    /// Wraps `data`; `None` when it does not hold `width * height` RGB pixels.
    pub fn new(data: &'a mut [u8], width: u32, height: u32) -> Option<Self> {
        (data.len() == width as usize * height as usize * 3).then_some(Self {
            data,
            width,
            height,
        })
    }
}

impl Canvas for RgbCanvas<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    fn put(&mut self, x: u32, y: u32, color: Rgb) {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        if let Some(px) = self.data.get_mut(i..i + 3) {
            px.copy_from_slice(&color);
        }
    }
}

/// Fills the disc of `radius` around (`cx`, `cy`) (continuous pixel coordinates).
pub fn disc(canvas: &mut impl Canvas, cx: f32, cy: f32, radius: f32, color: Rgb) {
    segment(canvas, (cx, cy), (cx, cy), radius, color);
}

/// Draws the segment from `a` to `b` with half-width `radius` (a capsule).
pub fn segment(canvas: &mut impl Canvas, a: (f32, f32), b: (f32, f32), radius: f32, color: Rgb) {
    let (w, h) = canvas.size();
    if w == 0
        || h == 0
        || !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite())
    {
        return;
    }
    let x0 = (a.0.min(b.0) - radius).floor().max(0.0) as u32;
    let y0 = (a.1.min(b.1) - radius).floor().max(0.0) as u32;
    let x1 = ((a.0.max(b.0) + radius).ceil().max(0.0) as u32).min(w);
    let y1 = ((a.1.max(b.1) + radius).ceil().max(0.0) as u32).min(h);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let r2 = radius * radius;
    for y in y0..y1 {
        for x in x0..x1 {
            let (px, py) = (x as f32 + 0.5 - a.0, y as f32 + 0.5 - a.1);
            let t = if len2 > 0.0 {
                ((px * dx + py * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (ex, ey) = (px - t * dx, py - t * dy);
            if ex * ex + ey * ey <= r2 {
                canvas.put(x, y, color);
            }
        }
    }
}

fn joint_color(j: Joint) -> Rgb {
    if j.is_left() {
        LEFT_COLOR
    } else if j.is_right() {
        RIGHT_COLOR
    } else {
        CENTER_COLOR
    }
}

/// Where image pixels land on the canvas: `canvas = image * scale + offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Canvas pixels per image pixel.
    pub scale: f32,
    /// Canvas x of the image's left edge.
    pub offset_x: f32,
    /// Canvas y of the image's top edge.
    pub offset_y: f32,
}

impl Placement {
    /// The image drawn at its own size.
    pub const IDENTITY: Placement = Placement {
        scale: 1.0,
        offset_x: 0.0,
        offset_y: 0.0,
    };
}

/// Draws the bones between keypoints whose scores reach `threshold`, then the keypoints.
/// Line width follows the canvas size. Returns how many keypoints were drawn.
pub fn skeleton(canvas: &mut impl Canvas, pose: &Pose, threshold: f32, at: Placement) -> usize {
    let (w, h) = canvas.size();
    let radius = (w.min(h) as f32 / 220.0).max(1.5);
    let p = |j: Joint| {
        pose.visible(j, threshold).map(|k| {
            (
                k.x_px * at.scale + at.offset_x,
                k.y_px * at.scale + at.offset_y,
            )
        })
    };
    for (a, b) in BONES {
        if let (Some(pa), Some(pb)) = (p(a), p(b)) {
            let color = if a.is_left() && b.is_left() {
                LEFT_COLOR
            } else if a.is_right() && b.is_right() {
                RIGHT_COLOR
            } else {
                CENTER_COLOR
            };
            segment(canvas, pa, pb, radius, color);
        }
    }
    let mut drawn = 0;
    for j in Joint::ALL {
        if let Some((x, y)) = p(j) {
            disc(canvas, x, y, radius * 2.2, [255, 255, 255]);
            disc(canvas, x, y, radius * 1.5, joint_color(j));
            drawn += 1;
        }
    }
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::Keypoint;

    #[test]
    fn a_segment_colours_the_pixels_on_it_and_not_those_away_from_it() {
        let mut data = vec![0u8; 20 * 10 * 3];
        let mut c = RgbCanvas::new(&mut data, 20, 10).unwrap();
        segment(&mut c, (2.0, 5.0), (18.0, 5.0), 1.0, [9, 9, 9]);
        let at = |x: usize, y: usize| data[(y * 20 + x) * 3];
        assert_eq!(at(10, 4), 9);
        assert_eq!(at(10, 5), 9);
        assert_eq!(at(10, 0), 0);
        assert_eq!(at(0, 5), 0);
    }

    #[test]
    fn out_of_canvas_and_non_finite_points_are_clipped_not_panics() {
        let mut data = vec![0u8; 4 * 4 * 3];
        let mut c = RgbCanvas::new(&mut data, 4, 4).unwrap();
        segment(&mut c, (-100.0, -100.0), (100.0, 100.0), 2.0, [1, 1, 1]);
        segment(&mut c, (f32::NAN, 0.0), (1.0, 1.0), 2.0, [1, 1, 1]);
        disc(&mut c, 1e9, -1e9, 3.0, [1, 1, 1]);
        assert_eq!(data[0], 1);
    }

    #[test]
    fn only_keypoints_above_the_threshold_are_drawn() {
        let mut pose = Pose::default();
        pose.keypoints[Joint::LeftShoulder as usize] = Keypoint {
            x_px: 10.0,
            y_px: 10.0,
            score: 0.9,
        };
        pose.keypoints[Joint::RightShoulder as usize] = Keypoint {
            x_px: 30.0,
            y_px: 10.0,
            score: 0.9,
        };
        pose.keypoints[Joint::Nose as usize] = Keypoint {
            x_px: 20.0,
            y_px: 3.0,
            score: 0.1,
        };
        let mut data = vec![0u8; 40 * 20 * 3];
        let mut c = RgbCanvas::new(&mut data, 40, 20).unwrap();
        assert_eq!(skeleton(&mut c, &pose, 0.3, Placement::IDENTITY), 2);
        // The shoulder line is drawn in the centre colour between the two shoulders.
        assert_eq!(&data[(10 * 40 + 20) * 3..][..3], &CENTER_COLOR);
        // Nothing at the low-score nose.
        assert_eq!(&data[(3 * 40 + 20) * 3..][..3], &[0, 0, 0]);
    }
}
