//! A clip stored as concatenated JPEG images (Motion JPEG without a container): how the demo
//! clip is embedded in the binary, decodable with no external tool.

use std::borrow::Cow;
use std::ops::Range;

use super::{FrameSource, SourceError};
use crate::frame::Frame;

/// The frames of an MJPEG byte stream, at a fixed frame rate.
pub struct MjpegSource {
    name: String,
    bytes: Cow<'static, [u8]>,
    frames: Vec<Range<usize>>,
    next: usize,
    fps: f64,
    loops: u32,
    played: u32,
}

/// Splits concatenated JPEGs at each start-of-image marker that follows an end-of-image marker.
fn split_jpegs(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        // A JPEG starts with FF D8 FF; inside entropy-coded data FF is always followed by 00 or
        // a restart marker, so this pattern only occurs at image starts (no EXIF thumbnails in
        // the files this reads).
        if bytes[i] == 0xFF && bytes[i + 1] == 0xD8 && bytes[i + 2] == 0xFF {
            starts.push(i);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| s..starts.get(k + 1).copied().unwrap_or(bytes.len()))
        .collect()
}

impl MjpegSource {
    /// Reads `bytes` as concatenated JPEGs named `name`, played at `fps`.
    ///
    /// # Errors
    /// [`SourceError::Mjpeg`] when there is no JPEG in the bytes.
    pub fn new(name: &str, bytes: Cow<'static, [u8]>, fps: f64) -> Result<Self, SourceError> {
        let frames = split_jpegs(&bytes);
        if frames.is_empty() {
            return Err(SourceError::Mjpeg {
                name: name.to_owned(),
                frame: 0,
                reason: "no JPEG image found".into(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            bytes,
            frames,
            next: 0,
            fps: fps.max(0.001),
            loops: 1,
            played: 0,
        })
    }

    /// Plays the clip `loops` times in a row (media time keeps increasing).
    pub fn looped(mut self, loops: u32) -> Self {
        self.loops = loops.max(1);
        self
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames (never true for a constructed source).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl FrameSource for MjpegSource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        if self.next == self.frames.len() && self.played + 1 < self.loops {
            self.played += 1;
            self.next = 0;
        }
        let Some(range) = self.frames.get(self.next).cloned() else {
            return Ok(false);
        };
        let err = |reason: String| SourceError::Mjpeg {
            name: self.name.clone(),
            frame: self.next as u64,
            reason,
        };
        super::decode::decode_into(
            super::decode::PixelLayout::Mjpeg,
            frame.resolution(),
            &self.bytes[range],
            frame,
        )
        .map_err(|e| err(e.to_string()))?;
        let index = self.played as usize * self.frames.len() + self.next;
        frame.t_secs = index as f64 / self.fps;
        self.next += 1;
        Ok(true)
    }

    fn frames_hint(&self) -> Option<u64> {
        Some(self.frames.len() as u64 * u64::from(self.loops))
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} frames @ {} fps, x{})",
            self.name,
            self.frames.len(),
            self.fps,
            self.loops
        )
    }

    fn fps(&self) -> f64 {
        self.fps
    }

    fn is_live(&self) -> bool {
        false
    }
}

/// The demo clip embedded in the binary: a man balancing on a force plate (pose2sim's
/// `Demo_SinglePerson/videos/cam01.mp4`, BSD-3-Clause), 100 frames at 60 fps, 360x640, as
/// concatenated JPEGs. See `assets/README.md`.
pub static DEMO_CLIP: &[u8] = include_bytes!("../../assets/demo_pose2sim_cam01.mjpeg");
/// The demo clip's frame rate.
pub const DEMO_CLIP_FPS: f64 = 60.0;

/// The demo clip as a source, played `loops` times.
///
/// # Errors
/// Never for the embedded clip (it holds 100 JPEGs); kept fallible like every source.
pub fn demo_clip(loops: u32) -> Result<MjpegSource, SourceError> {
    Ok(MjpegSource::new("demo clip", Cow::Borrowed(DEMO_CLIP), DEMO_CLIP_FPS)?.looped(loops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_jpegs_split_at_their_starts() {
        let a = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 0xFF, 0x00, 0xFF, 0xD9];
        let b = [0xFF, 0xD8, 0xFF, 0xDB, 3, 0xFF, 0xD9];
        let all: Vec<u8> = a.iter().chain(&b).copied().collect();
        assert_eq!(split_jpegs(&all), vec![0..10, 10..17]);
        assert!(split_jpegs(b"no jpeg here").is_empty());
    }

    #[test]
    fn a_corrupt_frame_is_an_error_naming_the_frame() {
        let mut s =
            MjpegSource::new("clip", Cow::Owned(vec![0xFF, 0xD8, 0xFF, 0x00, 0x00]), 10.0).unwrap();
        let e = s.read_into(&mut Frame::default()).unwrap_err().to_string();
        assert!(e.contains("frame 0 of clip"), "{e}");
    }

    #[test]
    fn a_looped_clip_plays_again_with_increasing_time() {
        let mut jpeg = Vec::new();
        let img = image::RgbImage::from_pixel(4, 2, image::Rgb([9, 9, 9]));
        img.write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        let two: Vec<u8> = jpeg.iter().chain(&jpeg).copied().collect();
        let mut s = MjpegSource::new("clip", Cow::Owned(two), 10.0)
            .unwrap()
            .looped(3);
        assert_eq!(s.frames_hint(), Some(6));
        let mut f = Frame::default();
        let mut times = Vec::new();
        while s.read_into(&mut f).unwrap() {
            times.push(f.t_secs);
        }
        assert_eq!(times.len(), 6);
        assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
        assert_eq!(f.resolution(), crate::frame::Resolution::new(4, 2));
    }
}
