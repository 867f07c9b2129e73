//! Camera pixel formats into RGB frames, in Rust: MJPEG (through zune-jpeg, the `image` crate's
//! JPEG decoder), packed and planar YUV, grey and raw RGB/BGR. Pure functions over bytes, so they
//! are tested without a camera; the camera thread calls [`decode_into`] with each buffer and a
//! reused [`Frame`].

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::frame::{Frame, Resolution};

/// A camera buffer's pixel layout (V4L2 fourcc in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelLayout {
    /// Motion JPEG: each buffer one JPEG image (`MJPG`; webcams often leave out the Huffman
    /// tables, and the decoder then uses the standard ones).
    Mjpeg,
    /// Packed 4:2:2, Y0 U Y1 V (`YUYV`).
    Yuyv,
    /// Packed 4:2:2, U Y0 V Y1 (`UYVY`).
    Uyvy,
    /// Planar 4:2:0, a Y plane then one interleaved UV plane (`NV12`).
    Nv12,
    /// Planar 4:2:0, a Y plane, then U, then V (`YU12`, also called I420).
    Yu12,
    /// Planar 4:2:0, a Y plane, then V, then U (`YV12`).
    Yv12,
    /// 8-bit grey, e.g. an infrared camera (`GREY`).
    Grey,
    /// Packed RGB, 3 bytes a pixel (`RGB3`).
    Rgb24,
    /// Packed BGR, 3 bytes a pixel (`BGR3`).
    Bgr24,
}

impl PixelLayout {
    /// Every layout posture decodes.
    pub const ALL: [PixelLayout; 9] = [
        PixelLayout::Mjpeg,
        PixelLayout::Yuyv,
        PixelLayout::Uyvy,
        PixelLayout::Nv12,
        PixelLayout::Yu12,
        PixelLayout::Yv12,
        PixelLayout::Grey,
        PixelLayout::Rgb24,
        PixelLayout::Bgr24,
    ];

    /// The layout of a V4L2 fourcc (`b"YUYV"`), or `None` for one posture does not decode.
    pub fn from_fourcc(fourcc: [u8; 4]) -> Option<Self> {
        Some(match &fourcc {
            b"MJPG" | b"JPEG" => PixelLayout::Mjpeg,
            b"YUYV" | b"YUY2" => PixelLayout::Yuyv,
            b"UYVY" => PixelLayout::Uyvy,
            b"NV12" => PixelLayout::Nv12,
            b"YU12" | b"I420" => PixelLayout::Yu12,
            b"YV12" => PixelLayout::Yv12,
            b"GREY" | b"Y800" => PixelLayout::Grey,
            b"RGB3" => PixelLayout::Rgb24,
            b"BGR3" => PixelLayout::Bgr24,
            _ => return None,
        })
    }

    /// The V4L2 fourcc.
    pub fn fourcc(self) -> [u8; 4] {
        *match self {
            PixelLayout::Mjpeg => b"MJPG",
            PixelLayout::Yuyv => b"YUYV",
            PixelLayout::Uyvy => b"UYVY",
            PixelLayout::Nv12 => b"NV12",
            PixelLayout::Yu12 => b"YU12",
            PixelLayout::Yv12 => b"YV12",
            PixelLayout::Grey => b"GREY",
            PixelLayout::Rgb24 => b"RGB3",
            PixelLayout::Bgr24 => b"BGR3",
        }
    }

    /// The bytes an uncompressed frame of `res` takes, `None` for MJPEG (variable) or a size
    /// this layout cannot have (odd sizes for 4:2:0, odd widths for 4:2:2).
    pub fn frame_bytes(self, res: Resolution) -> Option<usize> {
        let (w, h) = (res.width as usize, res.height as usize);
        let (row_bytes, planes) = self.planes(w)?;
        let even = match self {
            PixelLayout::Yuyv | PixelLayout::Uyvy => w % 2 == 0,
            PixelLayout::Nv12 | PixelLayout::Yu12 | PixelLayout::Yv12 => w % 2 == 0 && h % 2 == 0,
            _ => true,
        };
        even.then(|| plane_bytes(planes, h, row_bytes))?
    }

    /// An uncompressed layout's planes at width `w`: the bytes of one row of the first plane, and
    /// per plane its (rows, row bytes) divisors against the first; `None` for MJPEG.
    fn planes(self, w: usize) -> Option<(usize, &'static [(usize, usize)])> {
        Some(match self {
            PixelLayout::Mjpeg => return None,
            PixelLayout::Yuyv | PixelLayout::Uyvy => (w.checked_mul(2)?, &[(1, 1)]),
            PixelLayout::Grey => (w, &[(1, 1)]),
            PixelLayout::Rgb24 | PixelLayout::Bgr24 => (w.checked_mul(3)?, &[(1, 1)]),
            // Y, then one interleaved UV plane of half the rows.
            PixelLayout::Nv12 => (w, &[(1, 1), (2, 1)]),
            // Y, then U and V planes of half the rows and half the row.
            PixelLayout::Yu12 | PixelLayout::Yv12 => (w, &[(1, 1), (2, 2), (2, 2)]),
        })
    }
}

/// The bytes `planes` take for `h` rows of `stride` bytes in the first plane (`None` on overflow).
fn plane_bytes(planes: &[(usize, usize)], h: usize, stride: usize) -> Option<usize> {
    planes.iter().try_fold(0usize, |sum, &(rd, sd)| {
        sum.checked_add((h / rd).checked_mul(stride / sd)?)
    })
}

impl std::fmt::Display for PixelLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.fourcc()))
    }
}

/// Why a camera buffer did not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// An uncompressed buffer of the wrong length for its size and layout.
    #[error("a {layout} frame of {res} needs {expected} bytes, the camera gave {got}")]
    Length {
        /// The layout.
        layout: PixelLayout,
        /// The size the camera announced.
        res: Resolution,
        /// What that takes.
        expected: usize,
        /// What arrived.
        got: usize,
    },
    /// A size the layout cannot have (odd width for 4:2:2, odd width or height for 4:2:0, zero).
    #[error("a {layout} frame cannot be {res}")]
    Size {
        /// The layout.
        layout: PixelLayout,
        /// The size.
        res: Resolution,
    },
    /// The JPEG decoder refused the bytes.
    #[error("bad MJPEG frame: {0}")]
    Jpeg(String),
}

/// Decodes one camera buffer of `layout` and announced size `res` into `frame`'s RGB bytes,
/// reusing its allocation. An MJPEG frame takes the size its own header gives.
///
/// # Errors
/// [`DecodeError`] when the bytes do not fit the layout or do not decode.
pub fn decode_into(
    layout: PixelLayout,
    res: Resolution,
    data: &[u8],
    frame: &mut Frame,
) -> Result<(), DecodeError> {
    if layout == PixelLayout::Mjpeg {
        return decode_mjpeg(data, frame);
    }
    let expected = layout
        .frame_bytes(res)
        .filter(|_| res.width > 0 && res.height > 0)
        .ok_or(DecodeError::Size { layout, res })?;
    // Drivers may pad the buffer (bytesused rounded up): take the frame's bytes, refuse fewer.
    let data = data.get(..expected).ok_or(DecodeError::Length {
        layout,
        res,
        expected,
        got: data.len(),
    })?;
    let (w, h) = (res.width as usize, res.height as usize);
    let dst = frame.resize(res);
    match layout {
        // Decoded above.
        PixelLayout::Mjpeg => {}
        PixelLayout::Yuyv => packed_422(data, dst, [0, 1, 2, 3]),
        PixelLayout::Uyvy => packed_422(data, dst, [1, 0, 3, 2]),
        PixelLayout::Nv12 => {
            let (y, uv) = data.split_at(w * h);
            planar_420(y, w, h, dst, |i| (uv[2 * i], uv[2 * i + 1]));
        }
        PixelLayout::Yu12 | PixelLayout::Yv12 => {
            let (y, chroma) = data.split_at(w * h);
            let (first, second) = chroma.split_at(w * h / 4);
            let (u, v) = if layout == PixelLayout::Yu12 {
                (first, second)
            } else {
                (second, first)
            };
            planar_420(y, w, h, dst, |i| (u[i], v[i]));
        }
        PixelLayout::Grey => {
            for (px, &g) in dst.chunks_exact_mut(3).zip(data) {
                px.fill(g);
            }
        }
        PixelLayout::Rgb24 => dst.copy_from_slice(data),
        PixelLayout::Bgr24 => {
            for (px, s) in dst.chunks_exact_mut(3).zip(data.chunks_exact(3)) {
                px.copy_from_slice(&[s[2], s[1], s[0]]);
            }
        }
    }
    Ok(())
}

/// The bytes of an uncompressed frame whose rows are `stride` bytes apart (V4L2's
/// `bytesperline`, which drivers may pad) as tightly packed rows, copied into `scratch` when they
/// are padded; MJPEG and already packed frames are returned as they are. Planar 4:2:0 chroma
/// rows are taken to be padded in proportion (`stride / 2` for YU12 and YV12, `stride` for the
/// interleaved NV12 plane), as V4L2 specifies.
///
/// # Errors
/// [`DecodeError::Length`] when `data` is shorter than `stride` says.
pub fn packed_rows<'a>(
    layout: PixelLayout,
    res: Resolution,
    stride: usize,
    data: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    let (w, h) = (res.width as usize, res.height as usize);
    let Some((row_bytes, planes)) = layout.planes(w) else {
        return Ok(data);
    };
    if stride <= row_bytes {
        return Ok(data);
    }
    let needed = plane_bytes(planes, h, stride).unwrap_or(usize::MAX);
    if data.len() < needed {
        return Err(DecodeError::Length {
            layout,
            res,
            expected: needed,
            got: data.len(),
        });
    }
    scratch.clear();
    let mut at = 0;
    for &(rd, sd) in planes {
        let (rows, src_stride, bytes) = (h / rd, stride / sd, row_bytes / sd);
        for r in 0..rows {
            let start = at + r * src_stride;
            scratch.extend_from_slice(&data[start..start + bytes]);
        }
        at += rows * src_stride;
    }
    Ok(scratch)
}

/// One JPEG into `frame` (RGB), at the size its header gives.
fn decode_mjpeg(data: &[u8], frame: &mut Frame) -> Result<(), DecodeError> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder
        .decode_headers()
        .map_err(|e| DecodeError::Jpeg(e.to_string()))?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| DecodeError::Jpeg("no image size in the header".into()))?;
    let res = Resolution::new(u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
    let dst = frame.resize(res);
    decoder
        .decode_into(dst)
        .map_err(|e| DecodeError::Jpeg(e.to_string()))
}

/// BT.601 limited-range YCbCr to RGB in 8.8 fixed point (the conversion V4L2 cameras use, and
/// the one nokhwa applied before).
#[inline(always)]
fn ycbcr_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (i32::from(y) - 16) * 298;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

/// Packed 4:2:2: each 4 bytes are two pixels; `order` gives the positions of Y0, U, Y1, V.
fn packed_422(data: &[u8], dst: &mut [u8], order: [usize; 4]) {
    let [y0, u, y1, v] = order;
    for (px, s) in dst.chunks_exact_mut(6).zip(data.chunks_exact(4)) {
        px[..3].copy_from_slice(&ycbcr_to_rgb(s[y0], s[u], s[v]));
        px[3..].copy_from_slice(&ycbcr_to_rgb(s[y1], s[u], s[v]));
    }
}

/// Planar 4:2:0: a full Y plane, and `chroma(i)` the (U, V) of 2x2 block `i` (row-major over
/// blocks).
fn planar_420(y: &[u8], w: usize, h: usize, dst: &mut [u8], chroma: impl Fn(usize) -> (u8, u8)) {
    let cw = w / 2;
    for row in 0..h {
        let ys = &y[row * w..(row + 1) * w];
        let out = &mut dst[row * w * 3..(row + 1) * w * 3];
        let block_row = (row / 2) * cw;
        for (col, (px, &yv)) in out.chunks_exact_mut(3).zip(ys).enumerate() {
            let (u, v) = chroma(block_row + col / 2);
            px.copy_from_slice(&ycbcr_to_rgb(yv, u, v));
        }
    }
}

/// A `w`x`h` JPEG with detail in both directions, as a webcam's, and the image crate's own decode
/// of it (the reference posture's MJPEG decoding must equal).
#[cfg(test)]
pub(crate) fn test_jpeg(w: u32, h: u32) -> (Vec<u8>, Vec<u8>) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x * y) % 251) as u8])
    });
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let reference = image::load_from_memory(&jpeg).unwrap().to_rgb8().into_raw();
    (jpeg, reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(layout: PixelLayout, res: Resolution, data: &[u8]) -> Frame {
        let mut f = Frame::default();
        decode_into(layout, res, data, &mut f).unwrap();
        assert_eq!(f.resolution(), res);
        f
    }

    /// (Y, U, V) of an RGB colour, BT.601 limited range (the inverse of `ycbcr_to_rgb`).
    fn yuv(rgb: [u8; 3]) -> [u8; 3] {
        let [r, g, b] = rgb.map(f64::from);
        let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
        let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
        let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
        [y, u, v].map(|x| x.round() as u8)
    }

    fn close(a: &[u8], b: [u8; 3], tol: u8) -> bool {
        a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tol)
    }

    const COLOURS: [[u8; 3]; 4] = [[200, 40, 40], [30, 180, 60], [20, 40, 220], [128, 128, 128]];

    /// A 4x4 test picture: four 2x2 blocks of one colour each (4:2:0 and 4:2:2 keep them).
    fn block_colour(x: usize, y: usize) -> [u8; 3] {
        COLOURS[(y / 2) * 2 + x / 2]
    }

    #[test]
    fn every_yuv_layout_gives_the_colours_it_was_made_from() {
        let res = Resolution::new(4, 4);
        let mut yuyv = Vec::new();
        let mut uyvy = Vec::new();
        for y in 0..4 {
            for x in (0..4).step_by(2) {
                let [y0, u, v] = yuv(block_colour(x, y));
                let [y1, ..] = yuv(block_colour(x + 1, y));
                yuyv.extend([y0, u, y1, v]);
                uyvy.extend([u, y0, v, y1]);
            }
        }
        let ys: Vec<u8> = (0..16)
            .map(|i| yuv(block_colour(i % 4, i / 4))[0])
            .collect();
        let us: Vec<u8> = (0..4).map(|b| yuv(COLOURS[b])[1]).collect();
        let vs: Vec<u8> = (0..4).map(|b| yuv(COLOURS[b])[2]).collect();
        let nv12: Vec<u8> = ys
            .iter()
            .copied()
            .chain(us.iter().zip(&vs).flat_map(|(&u, &v)| [u, v]))
            .collect();
        let yu12: Vec<u8> = [&ys[..], &us, &vs].concat();
        let yv12: Vec<u8> = [&ys[..], &vs, &us].concat();
        for (layout, data) in [
            (PixelLayout::Yuyv, yuyv),
            (PixelLayout::Uyvy, uyvy),
            (PixelLayout::Nv12, nv12),
            (PixelLayout::Yu12, yu12),
            (PixelLayout::Yv12, yv12),
        ] {
            let f = frame_of(layout, res, &data);
            for (i, px) in f.rgb().chunks_exact(3).enumerate() {
                let want = block_colour(i % 4, i / 4);
                assert!(close(px, want, 3), "{layout} pixel {i}: {px:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn grey_rgb_and_bgr_are_exact() {
        let res = Resolution::new(2, 1);
        assert_eq!(
            frame_of(PixelLayout::Grey, res, &[7, 250]).rgb(),
            [7, 7, 7, 250, 250, 250]
        );
        let rgb = [1, 2, 3, 4, 5, 6];
        assert_eq!(frame_of(PixelLayout::Rgb24, res, &rgb).rgb(), rgb);
        assert_eq!(
            frame_of(PixelLayout::Bgr24, res, &rgb).rgb(),
            [3, 2, 1, 6, 5, 4]
        );
    }

    #[test]
    fn short_buffers_and_impossible_sizes_are_errors_and_padding_is_ignored() {
        let mut f = Frame::default();
        let res = Resolution::new(4, 2);
        let e = decode_into(PixelLayout::Yuyv, res, &[0; 15], &mut f).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Length {
                layout: PixelLayout::Yuyv,
                res,
                expected: 16,
                got: 15
            }
        );
        assert!(e.to_string().contains("needs 16 bytes"), "{e}");
        let odd = Resolution::new(3, 3);
        assert!(matches!(
            decode_into(PixelLayout::Nv12, odd, &[0; 100], &mut f),
            Err(DecodeError::Size { .. })
        ));
        assert!(matches!(
            decode_into(PixelLayout::Grey, Resolution::new(0, 4), &[], &mut f),
            Err(DecodeError::Size { .. })
        ));
        decode_into(PixelLayout::Grey, res, &[9; 4096], &mut f).unwrap();
        assert_eq!(f.rgb(), [9; 24]);
    }

    #[test]
    fn mjpeg_equals_the_image_crates_own_decode_and_garbage_is_an_error() {
        let (jpeg, reference) = test_jpeg(64, 48);
        // The announced size does not matter for MJPEG: the header's does.
        let mut f = Frame::default();
        decode_into(PixelLayout::Mjpeg, Resolution::new(1, 1), &jpeg, &mut f).unwrap();
        assert_eq!(f.resolution(), Resolution::new(64, 48));
        assert_eq!(f.rgb(), reference.as_slice());
        let e = decode_into(
            PixelLayout::Mjpeg,
            Resolution::new(64, 48),
            b"not a jpeg",
            &mut f,
        )
        .unwrap_err();
        assert!(matches!(e, DecodeError::Jpeg(_)), "{e:?}");
    }

    #[test]
    fn padded_rows_are_packed_before_decoding() {
        let res = Resolution::new(2, 2);
        let mut scratch = Vec::new();
        // Grey rows of 2 pixels padded to 4 bytes.
        let grey = [1, 2, 0, 0, 3, 4, 0, 0];
        let packed = packed_rows(PixelLayout::Grey, res, 4, &grey, &mut scratch).unwrap();
        assert_eq!(packed, [1, 2, 3, 4]);
        // YU12: Y rows padded to 4, U and V rows (1 byte each) padded to 2.
        let yu12 = [1, 2, 0, 0, 3, 4, 0, 0, 5, 0, 6, 0];
        let packed = packed_rows(PixelLayout::Yu12, res, 4, &yu12, &mut scratch).unwrap();
        assert_eq!(packed, [1, 2, 3, 4, 5, 6]);
        // NV12: the UV plane's row (2 bytes) padded to 4.
        let nv12 = [1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0, 0];
        let packed = packed_rows(PixelLayout::Nv12, res, 4, &nv12, &mut scratch).unwrap();
        assert_eq!(packed, [1, 2, 3, 4, 5, 6]);
        // Unpadded data passes through; short data is an error.
        assert_eq!(
            packed_rows(PixelLayout::Grey, res, 2, &[1, 2, 3, 4], &mut scratch).unwrap(),
            [1, 2, 3, 4]
        );
        assert!(packed_rows(PixelLayout::Grey, res, 4, &[1, 2, 0], &mut scratch).is_err());
    }

    #[test]
    fn fourccs_round_trip() {
        for layout in PixelLayout::ALL {
            assert_eq!(PixelLayout::from_fourcc(layout.fourcc()), Some(layout));
        }
        assert_eq!(PixelLayout::from_fourcc(*b"H264"), None);
    }
}
