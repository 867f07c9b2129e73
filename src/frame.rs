//! Frames: an image's size, pixel layout and bytes, borrowed or owned.

/// A frame whose bytes do not match its declared size.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Zero width or height.
    #[error("image is empty ({resolution})")]
    Empty {
        /// The declared size.
        resolution: Resolution,
    },
    /// The buffer length does not match width x height x bytes per pixel.
    #[error("image buffer holds {got} bytes, expected {expected} for {resolution}")]
    SizeMismatch {
        /// The declared size.
        resolution: Resolution,
        /// Bytes the size requires.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Width and height of an image in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Resolution {
    /// Columns, in pixels.
    pub width: u32,
    /// Rows, in pixels.
    pub height: u32,
}

impl Resolution {
    /// A resolution of `width` x `height` pixels.
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Number of pixels.
    pub fn pixels(self) -> usize {
        self.width as usize * self.height as usize
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// How the bytes of one pixel are laid out. Rows are packed (stride = width * bytes per pixel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// 3 bytes: red, green, blue.
    Rgb8,
    /// 4 bytes: red, green, blue, alpha (alpha is ignored).
    Rgba8,
    /// 1 byte: luminance.
    Gray8,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 => 3,
            PixelFormat::Rgba8 => 4,
            PixelFormat::Gray8 => 1,
        }
    }
}

/// A borrowed image: what the pose estimator reads.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    resolution: Resolution,
    format: PixelFormat,
    // Invariant: len == width * height * format.bytes_per_pixel(), width > 0, height > 0
    // (checked in `ImageView::new`).
    data: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// Wraps `data` as an image of `resolution` in `format`.
    ///
    /// # Errors
    /// [`FrameError::Empty`] for a zero-sized image, [`FrameError::SizeMismatch`] when `data` does
    /// not hold exactly `width * height` pixels.
    pub fn new(
        resolution: Resolution,
        format: PixelFormat,
        data: &'a [u8],
    ) -> Result<Self, FrameError> {
        if resolution.width == 0 || resolution.height == 0 {
            return Err(FrameError::Empty { resolution });
        }
        let expected = resolution.pixels() * format.bytes_per_pixel();
        if data.len() != expected {
            return Err(FrameError::SizeMismatch {
                resolution,
                expected,
                got: data.len(),
            });
        }
        Ok(Self {
            resolution,
            format,
            data,
        })
    }

    /// Size in pixels.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// Pixel layout.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// The packed pixel bytes, row by row.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// An owned image, e.g. a decoded file or a camera frame.
#[derive(Clone, Debug)]
pub struct OwnedImage {
    resolution: Resolution,
    format: PixelFormat,
    // Invariant: as in `ImageView`.
    data: Vec<u8>,
}

impl OwnedImage {
    /// Takes ownership of `data` as an image of `resolution` in `format`.
    ///
    /// # Errors
    /// As [`ImageView::new`].
    pub fn new(
        resolution: Resolution,
        format: PixelFormat,
        data: Vec<u8>,
    ) -> Result<Self, FrameError> {
        ImageView::new(resolution, format, &data)?;
        Ok(Self {
            resolution,
            format,
            data,
        })
    }

    /// Borrows the image.
    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            resolution: self.resolution,
            format: self.format,
            data: &self.data,
        }
    }

    /// Size in pixels.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// Converts a decoded `image` crate picture, keeping RGB, RGBA and 8-bit gray as they are and
    /// converting anything else (16-bit, float, gray+alpha) to RGB.
    ///
    /// # Errors
    /// [`FrameError::Empty`] for a zero-sized picture.
    pub fn from_dynamic(img: image::DynamicImage) -> Result<Self, FrameError> {
        let resolution = Resolution::new(img.width(), img.height());
        let (format, data) = match img {
            image::DynamicImage::ImageRgb8(b) => (PixelFormat::Rgb8, b.into_raw()),
            image::DynamicImage::ImageRgba8(b) => (PixelFormat::Rgba8, b.into_raw()),
            image::DynamicImage::ImageLuma8(b) => (PixelFormat::Gray8, b.into_raw()),
            other => (PixelFormat::Rgb8, other.to_rgb8().into_raw()),
        };
        Self::new(resolution, format, data)
    }

    /// The image as packed RGB bytes (a copy, converting gray and RGBA).
    pub fn to_rgb8(&self) -> Vec<u8> {
        match self.format {
            PixelFormat::Rgb8 => self.data.clone(),
            PixelFormat::Rgba8 => self
                .data
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
            PixelFormat::Gray8 => self.data.iter().flat_map(|&g| [g, g, g]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_checks_its_size() {
        let r = Resolution::new(2, 3);
        assert!(ImageView::new(r, PixelFormat::Rgb8, &[0; 18]).is_ok());
        assert!(matches!(
            ImageView::new(r, PixelFormat::Rgb8, &[0; 17]),
            Err(FrameError::SizeMismatch {
                expected: 18,
                got: 17,
                ..
            })
        ));
        assert!(matches!(
            ImageView::new(Resolution::new(0, 3), PixelFormat::Gray8, &[]),
            Err(FrameError::Empty { .. })
        ));
    }

    #[test]
    fn to_rgb8_expands_gray_and_drops_alpha() {
        let g = OwnedImage::new(Resolution::new(2, 1), PixelFormat::Gray8, vec![7, 9]).unwrap();
        assert_eq!(g.to_rgb8(), vec![7, 7, 7, 9, 9, 9]);
        let a =
            OwnedImage::new(Resolution::new(1, 1), PixelFormat::Rgba8, vec![1, 2, 3, 4]).unwrap();
        assert_eq!(a.to_rgb8(), vec![1, 2, 3]);
    }
}

/// A captured frame: RGB pixels with their sequence number and timestamps. Buffers are reused:
/// a source resizes and overwrites a frame handed back to it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Position in the stream, from 0.
    pub seq: u64,
    /// When the frame was captured (for cameras) or read (for files and images).
    pub captured_at: std::time::Instant,
    /// Media time: seconds since the stream started (the frame's own time for files, elapsed
    /// wall time for cameras).
    pub t_secs: f64,
    resolution: Resolution,
    // Invariant: len == resolution.pixels() * 3.
    rgb: Vec<u8>,
}

impl Default for Frame {
    fn default() -> Self {
        Self {
            seq: 0,
            captured_at: std::time::Instant::now(),
            t_secs: 0.0,
            resolution: Resolution::new(0, 0),
            rgb: Vec::new(),
        }
    }
}

impl Frame {
    /// Sets the frame's size, keeping the buffer's allocation when it is large enough, and
    /// returns the RGB bytes to fill (contents unspecified).
    pub fn resize(&mut self, resolution: Resolution) -> &mut [u8] {
        self.resolution = resolution;
        self.rgb.resize(resolution.pixels() * 3, 0);
        &mut self.rgb
    }

    /// Size in pixels.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// The RGB bytes.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// The RGB bytes, writable (the size stays as it is).
    pub fn rgb_mut(&mut self) -> &mut [u8] {
        &mut self.rgb
    }

    /// Borrows the frame as an image.
    ///
    /// # Errors
    /// [`FrameError::Empty`] before the frame was filled.
    pub fn view(&self) -> Result<ImageView<'_>, FrameError> {
        ImageView::new(self.resolution, PixelFormat::Rgb8, &self.rgb)
    }
}
