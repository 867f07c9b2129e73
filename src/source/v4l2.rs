//! Webcams on Linux through V4L2 itself (the `v4l` crate that nokhwa's Linux backend is built on):
//! posture reads the device's own list of formats, sizes and frame rates, picks a mode with
//! [`choose`], and decodes each memory-mapped buffer in place. Unlike nokhwa's format layer, this
//! sees every fourcc posture decodes — grey infrared cameras (`GREY`, which nokhwa misnames
//! `GRAY` and drops) and YU12/YV12 virtual cameras (v4l2loopback) included.

use std::time::Duration;

use v4l::buffer::Type;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Device, Format, FourCC};

use super::SourceError;
use super::decode::{PixelLayout, decode_into, packed_rows};
use super::gate::RateGate;
use super::modes::{CameraMode, CameraRequest, choose, stepwise_sizes};
use crate::frame::{Frame, Resolution};

/// How long to wait for a frame before the camera counts as lost.
const FRAME_TIMEOUT: Duration = Duration::from_secs(3);

/// An open V4L2 camera, streaming the chosen mode.
pub struct V4l2Camera {
    // Declared before the device so the buffers are unmapped and streaming stops first.
    stream: Stream<'static>,
    _device: Device,
    layout: PixelLayout,
    resolution: Resolution,
    stride: usize,
    fps: f64,
    scratch: Vec<u8>,
}

/// Every mode the device offers (stepwise size ranges reduced with [`stepwise_sizes`]).
fn offered_modes(device: &Device, want: Resolution) -> std::io::Result<Vec<CameraMode>> {
    let mut modes = Vec::new();
    for format in device.enum_formats()? {
        let fourcc = format.fourcc;
        let mut sizes = Vec::new();
        for size in device.enum_framesizes(fourcc)? {
            match size.size {
                FrameSizeEnum::Discrete(d) => sizes.push(Resolution::new(d.width, d.height)),
                FrameSizeEnum::Stepwise(s) => sizes.extend(stepwise_sizes(
                    Resolution::new(s.min_width, s.min_height),
                    Resolution::new(s.max_width, s.max_height),
                    Resolution::new(s.step_width, s.step_height),
                    want,
                )),
            }
        }
        for res in sizes {
            let rate = |f: v4l::Fraction| {
                (f.numerator > 0).then(|| f64::from(f.denominator) / f64::from(f.numerator))
            };
            let mut rates: Vec<f64> = device
                .enum_frameintervals(fourcc, res.width, res.height)
                .unwrap_or_default()
                .into_iter()
                .flat_map(|i| match i.interval {
                    FrameIntervalEnum::Discrete(f) => vec![rate(f)],
                    FrameIntervalEnum::Stepwise(s) => vec![rate(s.min), rate(s.max)],
                })
                .flatten()
                .collect();
            if rates.is_empty() {
                // A driver that lists no rates streams at its own: call it 30.
                rates.push(30.0);
            }
            modes.extend(rates.into_iter().map(|fps| CameraMode {
                fourcc: fourcc.repr,
                resolution: res,
                fps,
            }));
        }
    }
    Ok(modes)
}

impl V4l2Camera {
    /// Opens `/dev/video<index>` in the mode [`choose`] picks for `request`.
    ///
    /// # Errors
    /// [`SourceError::NoCamera`] when there is no such device or it cannot stream;
    /// [`SourceError::CameraFormat`] when it offers nothing posture decodes (naming what it
    /// offers) or refuses the chosen mode.
    pub fn open(request: &CameraRequest) -> Result<Self, SourceError> {
        let index = request.index;
        let no_camera = |e: &dyn std::fmt::Display| SourceError::NoCamera {
            detail: format!("camera {index}: {e}"),
        };
        let device = Device::new(index as usize).map_err(|e| no_camera(&e))?;
        let modes = offered_modes(&device, request.resolution).map_err(|e| no_camera(&e))?;
        let chosen = choose(&modes, request.resolution, f64::from(request.fps)).map_err(|e| {
            SourceError::CameraFormat {
                index,
                reason: e.to_string(),
            }
        })?;
        let asked = Format::new(
            chosen.resolution.width,
            chosen.resolution.height,
            FourCC::new(&chosen.fourcc),
        );
        let format = device
            .set_format(&asked)
            .map_err(|e| SourceError::CameraFormat {
                index,
                reason: format!("it refused {chosen}: {e}"),
            })?;
        // The driver may adjust what was asked; decode what it says it streams.
        let layout = PixelLayout::from_fourcc(format.fourcc.repr).ok_or_else(|| {
            SourceError::CameraFormat {
                index,
                reason: format!(
                    "asked for {chosen}, it streams {} instead, which posture does not decode",
                    format.fourcc
                ),
            }
        })?;
        // A camera that cannot set its rate streams at its own; the rate it reports wins.
        let fps = device
            .set_params(&Parameters::with_fps(chosen.fps.round().max(1.0) as u32))
            .ok()
            .and_then(|p| {
                (p.interval.numerator > 0)
                    .then(|| f64::from(p.interval.denominator) / f64::from(p.interval.numerator))
            })
            .unwrap_or(chosen.fps);
        let mut stream =
            Stream::with_buffers(&device, Type::VideoCapture, 4).map_err(|e| no_camera(&e))?;
        stream.set_timeout(FRAME_TIMEOUT);
        Ok(Self {
            stream,
            _device: device,
            layout,
            resolution: Resolution::new(format.width, format.height),
            stride: format.stride as usize,
            fps,
            scratch: Vec::new(),
        })
    }

    /// The frame size streamed.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// The frame rate streamed.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Waits for the next buffer and decodes it into `frame`.
    ///
    /// # Errors
    /// [`SourceError::CameraLost`] when no frame comes (unplugged, timed out) or it does not
    /// decode.
    pub fn next_into(
        &mut self,
        frame: &mut Frame,
        gate: Option<&RateGate>,
    ) -> Result<bool, SourceError> {
        let lost = |e: &dyn std::fmt::Display| SourceError::CameraLost(e.to_string());
        let (buffer, meta) = self.stream.next().map_err(|e| lost(&e))?;
        // A frame the rate gate refuses goes back to the driver undecoded.
        if gate.is_some_and(|g| !g.admit(std::time::Instant::now())) {
            return Ok(false);
        }
        let used = meta.bytesused as usize;
        let data = if used > 0 && used <= buffer.len() {
            &buffer[..used]
        } else {
            buffer
        };
        let data = packed_rows(
            self.layout,
            self.resolution,
            self.stride,
            data,
            &mut self.scratch,
        )
        .map_err(|e| lost(&e))?;
        decode_into(self.layout, self.resolution, data, frame)
            .map_err(|e| lost(&format!("cannot decode a camera frame: {e}")))?;
        Ok(true)
    }
}
