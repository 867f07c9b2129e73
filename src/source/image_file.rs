//! Image files: finding them (folders, explicit files) and decoding them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::frame::{FrameError, OwnedImage};

/// Reading an image file.
#[derive(Debug, thiserror::Error)]
pub enum ImageReadError {
    /// Could not open or read the file.
    #[error("cannot read image {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("cannot read image {path}: the file is empty (0 bytes)")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The bytes are not a decodable image.
    #[error(
        "cannot decode image {path}: {reason}; is it a PNG, JPEG, BMP, WebP, TIFF, GIF or PNM file?"
    )]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// Decoded, but of no usable size.
    #[error("cannot use image {path}: {source}")]
    Frame {
        /// The file.
        path: PathBuf,
        /// Why.
        source: FrameError,
    },
}

impl ImageReadError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ImageReadError::Io { path, .. }
            | ImageReadError::EmptyFile { path }
            | ImageReadError::Decode { path, .. }
            | ImageReadError::Frame { path, .. } => path,
        }
    }
}

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

/// Reads an image and times the read.
///
/// # Errors
/// As [`read_image`].
pub fn read_image_timed(path: &Path) -> Result<(OwnedImage, Duration), ImageReadError> {
    let t0 = Instant::now();
    let img = read_image(path)?;
    Ok((img, t0.elapsed()))
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
