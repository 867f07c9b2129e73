//! `posture analyze`: images in, one JSON record per image out.
//!
//! The record format (`posture.analyze`, version 1) is documented in the README and is stable:
//! fields are only ever added.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::ImageReadError;
use crate::frame::OwnedImage;
use crate::pose::{Estimate, Joint};

/// The `format` field of an analyze record.
pub const FORMAT: &str = "posture.analyze";
/// The `version` field of an analyze record.
pub const VERSION: u32 = 1;

/// File extensions (lower case) picked up when a folder is given.
pub const IMAGE_EXTENSIONS: [&str; 11] = [
    "png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif", "pnm", "ppm", "pgm",
];

/// Reads and decodes an image file.
///
/// # Errors
/// [`ImageReadError`] naming the file: unreadable, empty, or not a decodable image.
pub fn read_image(path: &Path) -> Result<OwnedImage, ImageReadError> {
    let io = |source| ImageReadError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::other("it is a directory")));
    }
    if meta.len() == 0 {
        return Err(ImageReadError::EmptyFile {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(io)?;
    let decode_error = |reason: String| ImageReadError::Decode {
        path: path.to_owned(),
        reason,
    };
    // The JPEG decoder fills a cut-off image with grey instead of failing: check the stream
    // reaches its end marker first.
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_reaches_end(&bytes) {
        return Err(decode_error(format!(
            "the JPEG data ends before its end-of-image marker: the file is truncated ({} bytes)",
            bytes.len()
        )));
    }
    let decoded = reader.decode().map_err(|e| decode_error(e.to_string()))?;
    OwnedImage::from_dynamic(decoded).map_err(|source| ImageReadError::Frame {
        path: path.to_owned(),
        source,
    })
}

/// Whether a JPEG stream reaches its end-of-image marker (`FF D9`): walks the marker segments
/// and the entropy-coded data between them, so data appended after the image (motion photos)
/// and thumbnails inside it do not count.
pub fn jpeg_reaches_end(b: &[u8]) -> bool {
    if b.len() < 2 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // The next marker: 0xFF, any fill bytes, then its code.
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // Markers without a length: restarts, TEM, and a stuffed zero.
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {
                let Some(len) = b
                    .get(i..i + 2)
                    .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                else {
                    return false;
                };
                if len < 2 {
                    return false;
                }
                i += len;
                if i > b.len() {
                    return false;
                }
                if marker == 0xDA {
                    // Entropy-coded data runs to the next marker that is not a stuffed zero or
                    // a restart.
                    loop {
                        while i < b.len() && b[i] != 0xFF {
                            i += 1;
                        }
                        match b.get(i + 1) {
                            None => return false,
                            Some(0x00 | 0xD0..=0xD7) => i += 2,
                            Some(0xFF) => i += 1,
                            Some(_) => break,
                        }
                    }
                }
            }
        }
    }
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Expands the inputs: files as given (whatever their extension), folders to the image files
/// inside them (recursively, sorted by path). A folder that cannot be listed is returned as an
/// error entry, so that it is reported like an unreadable image.
pub fn expand_inputs(inputs: &[PathBuf]) -> Vec<Result<PathBuf, ImageReadError>> {
    fn walk(dir: &Path, out: &mut Vec<Result<PathBuf, ImageReadError>>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(source) => {
                out.push(Err(ImageReadError::Io {
                    path: dir.to_owned(),
                    source,
                }));
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                walk(&p, out);
            } else if is_image_file(&p) {
                out.push(Ok(p));
            }
        }
    }
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut out);
        } else {
            out.push(Ok(input.clone()));
        }
    }
    out
}

/// One keypoint as written in JSON.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct KeypointRecord {
    /// Joint name, e.g. `left_shoulder` (the person's own left).
    pub name: String,
    /// Pixels from the image's left edge.
    pub x_px: f32,
    /// Pixels from the image's top edge.
    pub y_px: f32,
    /// Model confidence 0..1.
    pub score: f32,
}

/// Per-stage wall time of one image, in milliseconds.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct TimingsRecord {
    /// Reading and decoding the file.
    pub read_image_ms: f64,
    /// Letterbox and conversion into the model input.
    pub letterbox_ms: f64,
    /// The network.
    pub inference_ms: f64,
    /// Output tensor to keypoints in image pixels.
    pub decode_ms: f64,
}

/// The JSON record of one analysed image.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct AnalysisRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The image path as given.
    pub image: String,
    /// Image width.
    pub width_px: u32,
    /// Image height.
    pub height_px: u32,
    /// `lightning`, `thunder` or the model path.
    pub model: String,
    /// sha256 of the model file.
    pub model_sha256: String,
    /// The 17 keypoints in COCO order, in the image's pixel coordinates.
    pub keypoints: Vec<KeypointRecord>,
    /// Stage timings.
    pub timings: TimingsRecord,
}

/// The JSON record of an image that could not be analysed.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct FailureRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The image path as given.
    pub image: String,
    /// The error, one line.
    pub error: String,
}

/// A duration in milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl AnalysisRecord {
    /// Builds the record of `image` at `path` from its estimate.
    pub fn new(
        path: &Path,
        image: &OwnedImage,
        model: (&str, &str),
        estimate: &Estimate,
        read_image: Duration,
    ) -> Self {
        let keypoints = Joint::ALL
            .into_iter()
            .map(|j| {
                let k = estimate.pose.get(j);
                KeypointRecord {
                    name: j.name().to_owned(),
                    x_px: k.x_px,
                    y_px: k.y_px,
                    score: k.score,
                }
            })
            .collect();
        let t = &estimate.timings;
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            image: path.display().to_string(),
            width_px: image.resolution().width,
            height_px: image.resolution().height,
            model: model.0.to_owned(),
            model_sha256: model.1.to_owned(),
            keypoints,
            timings: TimingsRecord {
                read_image_ms: ms(read_image),
                letterbox_ms: ms(t.letterbox),
                inference_ms: ms(t.inference),
                decode_ms: ms(t.decode),
            },
        }
    }
}

impl FailureRecord {
    /// The record of `path` failing with `error`.
    pub fn new(path: &Path, error: &dyn std::fmt::Display) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            image: path.display().to_string(),
            error: error.to_string(),
        }
    }
}

/// Reads an image and times the read.
///
/// # Errors
/// As [`read_image`].
pub fn read_image_timed(path: &Path) -> Result<(OwnedImage, Duration), ImageReadError> {
    let t0 = Instant::now();
    let img = read_image(path)?;
    Ok((img, t0.elapsed()))
}

/// The file name for `image`'s overlay in `dir`: `<stem>.overlay.png`.
pub fn overlay_path(dir: &Path, image: &Path) -> PathBuf {
    let stem = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    dir.join(format!("{stem}.overlay.png"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_to_their_images_sorted_and_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.png", "a.JPG", "notes.txt", "sub/c.webp"] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let explicit = dir.path().join("notes.txt");
        let got: Vec<PathBuf> = expand_inputs(&[dir.path().to_owned(), explicit.clone()])
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let names: Vec<String> = got
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.JPG", "b.png", "sub/c.webp", "notes.txt"]);
    }

    #[test]
    fn an_empty_file_and_a_non_image_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let junk = dir.path().join("junk.jpg");
        std::fs::write(&junk, b"this is not a jpeg").unwrap();
        let e = read_image(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.png") && e.contains("empty"), "{e}");
        let e = read_image(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.jpg"), "{e}");
        let e = read_image(&dir.path().join("missing.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.png"), "{e}");
    }
}
