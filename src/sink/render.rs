//! Rendering a frame, its skeleton and a heads-up display into a packed `0RGB` `u32` buffer:
//! what the window shows. Pure (no window, no I/O), so it is tested by checking pixels.

use crate::frame::{Frame, Resolution};
use crate::pose::Pose;
use crate::run::FrameUpdate;
use crate::science::judge::Judgement;
use crate::science::metrics::{Metric, View};
use crate::sink::draw::{self, Canvas, Placement, Rgb};

/// The metrics the HUD shows for a side view.
pub const HUD_SIDE: [Metric; 3] = [
    Metric::TrunkFlexionDeg,
    Metric::NeckFlexionDeg,
    Metric::HeadPitchDeg,
];
/// The metrics the HUD shows for a front (or oblique) view.
pub const HUD_FRONT: [Metric; 3] = [
    Metric::ShoulderTiltDeg,
    Metric::HeadTiltDeg,
    Metric::HeadDropRatio,
];

/// The HUD for one analysed frame: the view, the view's metrics, the verdict, a banner for the
/// `alert` in progress (or the exercise's prompt and count), and the `status` line.
pub fn hud(update: &FrameUpdate<'_>, alert: Option<&str>, status: &str) -> Hud {
    let a = update.analysis;
    let lower = |s: String| s.to_lowercase();
    let mut lines = vec![format!(
        "view {}  {}",
        a.view.map_or("?".into(), |v| lower(format!("{v:?}"))),
        a.stance.map_or(String::new(), |s| lower(format!("{s:?}")))
    )];
    let shown = if a.view == Some(View::Side) {
        HUD_SIDE
    } else {
        HUD_FRONT
    };
    for m in shown {
        lines.push(match a.metrics.get(m) {
            Some(x) => format!("{} {:+.1}{}", m.label(), x.value, m.unit().suffix()),
            None => format!("{} --", m.label()),
        });
    }
    let (score, mut banner) = match (&a.judgement, a.away) {
        (_, true) => (None, Some(("away: paused".to_owned(), GREY))),
        (
            Judgement::Judged {
                score,
                band,
                reason,
                ..
            },
            _,
        ) => {
            lines.push(reason.clone());
            (
                Some((*score, band.rgb())),
                alert.map(|r| (format!("sit up: {r}"), ALERT)),
            )
        }
        (Judgement::NotJudged { reason }, _) => {
            lines.push(format!("not judged: {reason}"));
            (None, None)
        }
        (Judgement::NoPerson, _) if a.person => {
            lines.push("not judged: ears, shoulders or hips not seen".to_owned());
            (None, None)
        }
        (Judgement::NoPerson, _) => (None, None),
    };
    if let Some(ex) = update.exercise {
        let engine = &ex.engine;
        let prompt = &engine.phase().prompt;
        banner = Some((
            match engine.count() {
                Some(c) => format!("{prompt}: {c}"),
                None => prompt.clone(),
            },
            WHITE,
        ));
        lines.insert(
            0,
            format!(
                "reps {} of {}, not counted {}",
                engine.reps().len(),
                ex.reps,
                engine.rejected()
            ),
        );
    }
    Hud {
        lines,
        status: status.to_owned(),
        score,
        banner,
    }
}

const GREY: Rgb = [160, 160, 160];
const WHITE: Rgb = [255, 255, 255];
const ALERT: Rgb = [255, 70, 70];

/// Text and gauges drawn over the image.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hud {
    /// Lines at the top left (e.g. the current angles).
    pub lines: Vec<String>,
    /// The status line at the bottom (fps, latency, dropped frames).
    pub status: String,
    /// A score 0..=100 and its colour, drawn as a bar on the right; none when not judged.
    pub score: Option<(f32, Rgb)>,
    /// A banner across the middle (an alert), with its colour.
    pub banner: Option<(String, Rgb)>,
}

/// Packs an RGB colour as minifb's `0RGB`.
pub const fn pack(c: Rgb) -> u32 {
    ((c[0] as u32) << 16) | ((c[1] as u32) << 8) | c[2] as u32
}

/// The window buffer: a frame fitted into it (aspect ratio kept, black bars), with overlays.
pub struct Renderer {
    width: u32,
    height: u32,
    buffer: Vec<u32>,
    /// Source column and row of each buffer column and row inside the fitted area.
    x_map: Vec<u32>,
    y_map: Vec<u32>,
    source: Resolution,
    placement: Placement,
    area: (u32, u32, u32, u32),
}

struct U32Canvas<'a> {
    buf: &'a mut [u32],
    width: u32,
    height: u32,
}

impl Canvas for U32Canvas<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    fn put(&mut self, x: u32, y: u32, color: Rgb) {
        if let Some(p) = self
            .buf
            .get_mut(y as usize * self.width as usize + x as usize)
        {
            *p = pack(color);
        }
    }
}

/// Text scale: each 8x8 glyph is drawn 2x.
const TEXT_SCALE: u32 = 2;
/// Height of a text line in pixels.
pub const LINE_PX: u32 = 8 * TEXT_SCALE + 4;

impl Renderer {
    /// A `width` x `height` buffer.
    pub fn new(width: u32, height: u32) -> Self {
        let (width, height) = (width.max(1), height.max(1));
        Self {
            width,
            height,
            buffer: vec![0; width as usize * height as usize],
            x_map: Vec::new(),
            y_map: Vec::new(),
            source: Resolution::new(0, 0),
            placement: Placement::IDENTITY,
            area: (0, 0, 0, 0),
        }
    }

    /// Buffer size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The pixels, row by row, `0RGB`.
    pub fn buffer(&self) -> &[u32] {
        &self.buffer
    }

    /// Where frame pixels land in the buffer.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    fn fit(&mut self, source: Resolution) {
        if source == self.source {
            return;
        }
        self.source = source;
        let (sw, sh) = (source.width.max(1) as f32, source.height.max(1) as f32);
        let scale = (self.width as f32 / sw).min(self.height as f32 / sh);
        let (aw, ah) = (
            ((sw * scale) as u32).clamp(1, self.width),
            ((sh * scale) as u32).clamp(1, self.height),
        );
        let (ox, oy) = ((self.width - aw) / 2, (self.height - ah) / 2);
        self.area = (ox, oy, aw, ah);
        self.placement = Placement {
            scale,
            offset_x: ox as f32,
            offset_y: oy as f32,
        };
        let map = |n: u32, src: u32| -> Vec<u32> {
            (0..n)
                .map(|i| (((i as f32 + 0.5) / scale) as u32).min(src.saturating_sub(1)))
                .collect()
        };
        self.x_map = map(aw, source.width);
        self.y_map = map(ah, source.height);
    }

    /// Draws `frame` scaled into the buffer, then the skeleton of `pose` (keypoints scoring at
    /// least `threshold`), then `hud`.
    pub fn render(&mut self, frame: &Frame, pose: Option<&Pose>, threshold: f32, hud: &Hud) {
        self.fit(frame.resolution());
        let (ox, oy, aw, ah) = (
            self.area.0 as usize,
            self.area.1 as usize,
            self.area.2 as usize,
            self.area.3 as usize,
        );
        let width = self.width as usize;
        // Clear only the bars around the image; the image area is overwritten below.
        self.buffer[..oy * width].fill(0);
        self.buffer[(oy + ah) * width..].fill(0);
        for row in oy..oy + ah {
            self.buffer[row * width..row * width + ox].fill(0);
            self.buffer[row * width + ox + aw..(row + 1) * width].fill(0);
        }
        let rgb = frame.rgb();
        let src_w = frame.resolution().width as usize;
        let mut previous: Option<(u32, usize)> = None;
        for (row, &sy) in self.y_map.iter().enumerate() {
            let start = (row + oy) * width + ox;
            // Upscaling repeats source rows: copy the row already converted.
            if let Some((prev_sy, prev_start)) = previous
                && prev_sy == sy
            {
                self.buffer.copy_within(prev_start..prev_start + aw, start);
                continue;
            }
            let src_row = &rgb[sy as usize * src_w * 3..][..src_w * 3];
            for (dst, &sx) in self.buffer[start..start + aw].iter_mut().zip(&self.x_map) {
                let p = &src_row[sx as usize * 3..sx as usize * 3 + 3];
                *dst = (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]);
            }
            previous = Some((sy, start));
        }
        let (width, height, placement) = (self.width, self.height, self.placement);
        let mut canvas = U32Canvas {
            buf: &mut self.buffer,
            width,
            height,
        };
        if let Some(pose) = pose {
            draw::skeleton(&mut canvas, pose, threshold, placement);
        }
        draw_hud(&mut canvas, hud);
    }
}

fn fill_rect(c: &mut impl Canvas, x: u32, y: u32, w: u32, h: u32, color: Rgb) {
    let (cw, ch) = c.size();
    for yy in y..(y + h).min(ch) {
        for xx in x..(x + w).min(cw) {
            c.put(xx, yy, color);
        }
    }
}

/// The 8x8 bitmap of `ch`: ASCII and Latin-1 (the degree sign of the reasons among them), `?`
/// for anything else.
pub fn glyph(ch: char) -> [u8; 8] {
    let code = ch as usize;
    match code {
        0..=0x7f => font8x8::legacy::BASIC_LEGACY[code],
        0xa0..=0xff => font8x8::legacy::LATIN_LEGACY[code - 0xa0],
        _ => font8x8::legacy::BASIC_LEGACY[b'?' as usize],
    }
}

/// Draws `text` with its top-left corner at (`x`, `y`) on a dark box; returns its width.
pub fn text(c: &mut impl Canvas, x: u32, y: u32, text: &str, color: Rgb) -> u32 {
    let w = text.chars().count() as u32 * 8 * TEXT_SCALE;
    fill_rect(
        c,
        x.saturating_sub(2),
        y.saturating_sub(2),
        w + 4,
        8 * TEXT_SCALE + 4,
        [16, 16, 16],
    );
    for (i, ch) in text.chars().enumerate() {
        let glyph = glyph(ch);
        let gx = x + i as u32 * 8 * TEXT_SCALE;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    fill_rect(
                        c,
                        gx + col * TEXT_SCALE,
                        y + row as u32 * TEXT_SCALE,
                        TEXT_SCALE,
                        TEXT_SCALE,
                        color,
                    );
                }
            }
        }
    }
    w
}

fn draw_hud(c: &mut impl Canvas, hud: &Hud) {
    let (w, h) = c.size();
    for (i, line) in hud.lines.iter().enumerate() {
        text(c, 6, 6 + i as u32 * LINE_PX, line, [255, 255, 255]);
    }
    if !hud.status.is_empty() {
        text(
            c,
            6,
            h.saturating_sub(LINE_PX),
            &hud.status,
            [200, 200, 200],
        );
    }
    if let Some((score, color)) = hud.score {
        // A vertical bar on the right, filled from the bottom by the score.
        let (bw, top, bottom) = (14u32, 30u32, h.saturating_sub(LINE_PX + 10));
        let x = w.saturating_sub(bw + 8);
        let full = bottom.saturating_sub(top);
        fill_rect(c, x, top, bw, full, [50, 50, 50]);
        let filled = (full as f32 * score.clamp(0.0, 100.0) / 100.0) as u32;
        fill_rect(c, x, bottom - filled, bw, filled, color);
        let label = format!("{score:.0}");
        text(
            c,
            w.saturating_sub(label.len() as u32 * 16 + 8),
            6,
            &label,
            color,
        );
    }
    if let Some((banner, color)) = &hud.banner {
        let tw = banner.chars().count() as u32 * 8 * TEXT_SCALE;
        text(c, w.saturating_sub(tw) / 2, h / 2, banner, *color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::{Joint, Keypoint};
    use crate::sink::draw::{CENTER_COLOR, LEFT_COLOR};

    fn gray_frame(w: u32, h: u32) -> Frame {
        let mut f = Frame::default();
        f.resize(Resolution::new(w, h)).fill(100);
        f
    }

    #[test]
    fn the_frame_is_fitted_with_bars_and_scaled() {
        let mut r = Renderer::new(200, 100);
        r.render(&gray_frame(100, 100), None, 0.3, &Hud::default());
        let px = |x: usize, y: usize| r.buffer()[y * 200 + x];
        assert_eq!(px(10, 50), 0, "left bar");
        assert_eq!(px(100, 50), pack([100, 100, 100]), "image");
        assert_eq!(px(190, 50), 0, "right bar");
        assert_eq!(
            r.placement(),
            Placement {
                scale: 1.0,
                offset_x: 50.0,
                offset_y: 0.0
            }
        );
    }

    #[test]
    fn the_skeleton_is_drawn_where_the_keypoints_map_to() {
        let mut pose = Pose::default();
        pose.keypoints[Joint::LeftShoulder as usize] = Keypoint {
            x_px: 400.0,
            y_px: 200.0,
            score: 0.9,
        };
        pose.keypoints[Joint::RightShoulder as usize] = Keypoint {
            x_px: 200.0,
            y_px: 200.0,
            score: 0.9,
        };
        pose.keypoints[Joint::LeftHip as usize] = Keypoint {
            x_px: 400.0,
            y_px: 400.0,
            score: 0.9,
        };
        let mut r = Renderer::new(320, 240);
        r.render(&gray_frame(640, 480), Some(&pose), 0.3, &Hud::default());
        let px = |x: usize, y: usize| r.buffer()[y * 320 + x];
        // Scale 0.5: the left shoulder lands at (200, 100), the shoulder line passes (150, 100),
        // the left torso side passes (200, 150).
        assert_eq!(px(200, 100), pack(LEFT_COLOR));
        assert_eq!(px(150, 100), pack(CENTER_COLOR));
        assert_eq!(px(200, 150), pack(LEFT_COLOR));
        assert_eq!(
            px(50, 200),
            pack([100, 100, 100]),
            "away from the skeleton the image shows"
        );
    }

    #[test]
    fn hud_text_and_score_bar_are_drawn() {
        let mut r = Renderer::new(320, 240);
        let hud = Hud {
            lines: vec!["trunk 12 deg".into()],
            status: "30 fps".into(),
            score: Some((50.0, [0, 255, 0])),
            banner: None,
        };
        r.render(&gray_frame(320, 240), None, 0.3, &hud);
        let buf = r.buffer();
        let white_in_top_left =
            (0..30).any(|y| (0..200).any(|x| buf[y * 320 + x] == pack([255, 255, 255])));
        assert!(white_in_top_left, "text drawn");
        // The bar is half filled: green near its bottom, dark grey near its top.
        let bar_x = 320 - 14 - 8 + 7;
        assert_eq!(
            buf[(240 - LINE_PX as usize - 12) * 320 + bar_x],
            pack([0, 255, 0])
        );
        assert_eq!(buf[32 * 320 + bar_x], pack([50, 50, 50]));
    }
}
