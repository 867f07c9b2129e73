//! A folder (or glob pattern) of images, played as a video at a chosen frame rate.

use std::path::PathBuf;

use super::image_file::{expand_inputs, read_image};
use super::{FrameSource, SourceError};
use crate::frame::Frame;

/// Images in path order, one per frame.
pub struct ImageSequenceSource {
    spec: String,
    paths: Vec<PathBuf>,
    next: usize,
    fps: f64,
}

impl ImageSequenceSource {
    /// Opens a folder (searched recursively), a glob pattern (`frames/*.jpg`) or one image
    /// file, to be played at `fps`.
    ///
    /// # Errors
    /// [`SourceError::NoImages`] when nothing matches.
    pub fn open(spec: &str, fps: f64) -> Result<Self, SourceError> {
        let paths: Vec<PathBuf> = if spec.contains(['*', '?', '[']) {
            let mut v: Vec<PathBuf> = glob::glob(spec)
                .map_err(|e| SourceError::NoImages(format!("{spec} (bad pattern: {e})")))?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            v
        } else {
            expand_inputs(&[PathBuf::from(spec)])
                .into_iter()
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect()
        };
        if paths.is_empty() {
            return Err(SourceError::NoImages(spec.to_owned()));
        }
        Ok(Self {
            spec: spec.to_owned(),
            paths,
            next: 0,
            fps: fps.max(0.001),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether there are no images (never true for an opened source).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

impl FrameSource for ImageSequenceSource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        let Some(path) = self.paths.get(self.next) else {
            return Ok(false);
        };
        let image = read_image(path)?;
        let rgb = image.to_rgb8();
        frame.resize(image.resolution()).copy_from_slice(&rgb);
        frame.t_secs = self.next as f64 / self.fps;
        self.next += 1;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!(
            "images {} ({} files @ {} fps)",
            self.spec,
            self.paths.len(),
            self.fps
        )
    }

    fn fps(&self) -> f64 {
        self.fps
    }

    fn is_live(&self) -> bool {
        false
    }

    fn frames_hint(&self) -> Option<u64> {
        Some(self.paths.len() as u64)
    }
}
