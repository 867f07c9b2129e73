//! Webcams: V4L2 directly on Linux ([`super::v4l2`]), nokhwa elsewhere (Media Foundation on
//! Windows, AVFoundation on macOS); nokhwa also lists the cameras. A camera thread opens the device
//! in the mode [`super::modes::choose`] picks and decodes each buffer into a reused [`Frame`]; the
//! rest of the program sees only frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
#[cfg(not(target_os = "linux"))]
use nokhwa::Camera;
use nokhwa::utils::{ApiBackend, FrameFormat};
#[cfg(not(target_os = "linux"))]
use nokhwa::utils::{CameraFormat, CameraIndex, RequestedFormat, RequestedFormatType};

use super::decode::{PixelLayout, decode_into};
use super::gate::RateGate;
pub use super::modes::CameraRequest;
#[cfg(not(target_os = "linux"))]
use super::modes::{CameraMode, choose};
use super::{FrameSource, SourceError};
use crate::frame::{Frame, Resolution};

/// A camera listed by the system.
#[derive(Clone, Debug)]
pub struct CameraListing {
    /// Index to pass to `--camera`.
    pub index: String,
    /// Human-readable name.
    pub name: String,
    /// Driver description.
    pub description: String,
}

/// The cameras the system reports (empty when there are none or no camera backend works).
pub fn list_cameras() -> Result<Vec<CameraListing>, SourceError> {
    let cams = nokhwa::query(ApiBackend::Auto).map_err(|e| SourceError::NoCamera {
        detail: e.to_string(),
    })?;
    Ok(cams
        .into_iter()
        .map(|c| CameraListing {
            index: c.index().to_string(),
            name: c.human_name(),
            description: c.description().to_owned(),
        })
        .collect())
}

/// The pixel layout of one of nokhwa's frame formats.
pub fn layout_of(format: FrameFormat) -> PixelLayout {
    match format {
        FrameFormat::MJPEG => PixelLayout::Mjpeg,
        FrameFormat::YUYV => PixelLayout::Yuyv,
        FrameFormat::NV12 => PixelLayout::Nv12,
        FrameFormat::GRAY => PixelLayout::Grey,
        FrameFormat::RAWRGB => PixelLayout::Rgb24,
        FrameFormat::RAWBGR => PixelLayout::Bgr24,
    }
}

/// Decodes one camera buffer (MJPEG, YUYV, NV12, grey or raw RGB) into `frame`'s RGB bytes,
/// reusing its allocation, with posture's own Rust decoders ([`super::decode`]).
///
/// # Errors
/// [`SourceError::CameraLost`] when the bytes do not decode.
pub fn decode_buffer(buffer: &nokhwa::Buffer, frame: &mut Frame) -> Result<(), SourceError> {
    let res = buffer.resolution();
    decode_into(
        layout_of(buffer.source_frame_format()),
        Resolution::new(res.width(), res.height()),
        buffer.buffer(),
        frame,
    )
    .map_err(|e| SourceError::CameraLost(format!("cannot decode a camera frame: {e}")))
}

/// A live webcam. nokhwa's camera is not `Send`, so it lives on its own thread
/// (`posture-camera`), which opens the device, decodes each buffer into a reused [`Frame`] and
/// hands it over a bounded channel.
pub struct CameraSource {
    request: CameraRequest,
    fps: f64,
    resolution: Resolution,
    worker: Option<Worker>,
    /// Set once by [`FrameSource::gate_before_decoding`]; the camera thread reads it per frame.
    gate: Arc<OnceLock<RateGate>>,
}

struct Worker {
    frames: Receiver<Result<Frame, SourceError>>,
    spare: Sender<Frame>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        // Unblock a pending send so the thread sees `quit`.
        while self.frames.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every frame format posture decodes, in nokhwa's terms.
#[cfg(not(target_os = "linux"))]
static DECODED: [FrameFormat; 6] = [
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::GRAY,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
];

/// The mode a nokhwa camera format describes.
#[cfg(not(target_os = "linux"))]
fn mode_of(format: &CameraFormat) -> CameraMode {
    CameraMode {
        fourcc: layout_of(format.format()).fourcc(),
        resolution: Resolution::new(format.resolution().width(), format.resolution().height()),
        fps: f64::from(format.frame_rate()),
    }
}

/// Opens the camera, lists the modes it offers and streams the one [`choose`] picks for the
/// request (instead of forcing MJPEG at the requested size, which fails on a YUYV-only camera or
/// one without that size).
#[cfg(not(target_os = "linux"))]
fn open(request: &CameraRequest) -> Result<Camera, SourceError> {
    let no_camera = |e: &dyn std::fmt::Display| SourceError::NoCamera {
        detail: format!("camera {}: {e}", request.index),
    };
    let any = RequestedFormat::with_formats(RequestedFormatType::None, &DECODED);
    let mut camera =
        Camera::new(CameraIndex::Index(request.index), any).map_err(|e| no_camera(&e))?;
    let offered: Vec<CameraFormat> = camera
        .compatible_camera_formats()
        .map_err(|e| no_camera(&e))?;
    let modes: Vec<CameraMode> = offered.iter().map(mode_of).collect();
    let chosen =
        choose(&modes, request.resolution, f64::from(request.fps)).map_err(|e| no_camera(&e))?;
    if let Some(format) = offered.iter().find(|f| mode_of(f) == chosen) {
        let exact = RequestedFormat::with_formats(RequestedFormatType::Exact(*format), &DECODED);
        camera
            .set_camera_requset(exact)
            .map_err(|e| no_camera(&e))?;
    }
    camera.open_stream().map_err(|e| no_camera(&e))?;
    Ok(camera)
}

/// The capture device the camera thread drives: V4L2 itself on Linux (every format the device
/// lists), nokhwa elsewhere (Media Foundation, AVFoundation).
#[cfg(target_os = "linux")]
type Device = super::v4l2::V4l2Camera;

/// A nokhwa camera in the chosen mode.
#[cfg(not(target_os = "linux"))]
struct Device(Camera);

#[cfg(not(target_os = "linux"))]
impl Device {
    fn open(request: &CameraRequest) -> Result<Self, SourceError> {
        open(request).map(Self)
    }

    fn resolution(&self) -> Resolution {
        let format = self.0.camera_format();
        Resolution::new(format.resolution().width(), format.resolution().height())
    }

    fn fps(&self) -> f64 {
        f64::from(self.0.camera_format().frame_rate())
    }

    fn next_into(
        &mut self,
        frame: &mut Frame,
        gate: Option<&RateGate>,
    ) -> Result<bool, SourceError> {
        let buffer = self
            .0
            .frame()
            .map_err(|e| SourceError::CameraLost(e.to_string()))?;
        if gate.is_some_and(|g| !g.admit(std::time::Instant::now())) {
            return Ok(false);
        }
        decode_buffer(&buffer, frame)?;
        Ok(true)
    }
}

/// Starts the camera thread; returns once the camera is open (or failed to open), with its
/// actual size and frame rate.
fn start(
    request: CameraRequest,
    gate: Arc<OnceLock<RateGate>>,
) -> Result<(Worker, Resolution, f64), SourceError> {
    let (opened_tx, opened_rx) = bounded::<Result<(Resolution, f64), SourceError>>(1);
    let (frames_tx, frames_rx) = bounded::<Result<Frame, SourceError>>(1);
    let (spare_tx, spare_rx) = bounded::<Frame>(2);
    let quit = Arc::new(AtomicBool::new(false));
    let quit_t = Arc::clone(&quit);
    let thread = std::thread::Builder::new()
        .name("posture-camera".into())
        .spawn(move || {
            let mut camera = match Device::open(&request) {
                Ok(c) => c,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            if opened_tx
                .send(Ok((camera.resolution(), camera.fps().max(1.0))))
                .is_err()
            {
                return;
            }
            let mut spare: Option<Frame> = None;
            while !quit_t.load(Ordering::SeqCst) {
                let mut frame = spare
                    .take()
                    .unwrap_or_else(|| spare_rx.try_recv().unwrap_or_default());
                let result = match camera.next_into(&mut frame, gate.get()) {
                    // Refused by the rate gate: not decoded, not sent.
                    Ok(false) => {
                        spare = Some(frame);
                        continue;
                    }
                    Ok(true) => Ok(frame),
                    Err(e) => Err(e),
                };
                let failed = result.is_err();
                if frames_tx.send(result).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|e| SourceError::NoCamera {
            detail: format!("cannot start the camera thread: {e}"),
        })?;
    let worker = Worker {
        frames: frames_rx,
        spare: spare_tx,
        quit,
        thread: Some(thread),
    };
    match opened_rx.recv() {
        Ok(Ok((res, fps))) => Ok((worker, res, fps)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(SourceError::NoCamera {
            detail: "the camera thread ended".into(),
        }),
    }
}

impl CameraSource {
    /// Opens camera `request.index` at the closest format to the request.
    ///
    /// # Errors
    /// [`SourceError::NoCamera`] when there is no such camera or it cannot stream.
    pub fn open(request: CameraRequest) -> Result<Self, SourceError> {
        let gate = Arc::new(OnceLock::new());
        let (worker, resolution, fps) = start(request, Arc::clone(&gate))?;
        Ok(Self {
            request,
            fps,
            resolution,
            worker: Some(worker),
            gate,
        })
    }
}

impl FrameSource for CameraSource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        let worker = self
            .worker
            .as_ref()
            .ok_or_else(|| SourceError::CameraLost("camera closed".into()))?;
        match worker.frames.recv() {
            Ok(Ok(mut got)) => {
                std::mem::swap(frame, &mut got);
                frame.t_secs = frame.captured_at.elapsed().as_secs_f64();
                let _ = worker.spare.try_send(got);
                Ok(true)
            }
            Ok(Err(e)) => {
                self.worker = None;
                Err(e)
            }
            Err(_) => {
                self.worker = None;
                Err(SourceError::CameraLost("the camera thread ended".into()))
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "camera {} ({} @ {} fps)",
            self.request.index, self.resolution, self.fps
        )
    }

    fn fps(&self) -> f64 {
        self.fps
    }

    fn is_live(&self) -> bool {
        true
    }

    fn gate_before_decoding(&mut self, gate: &RateGate) -> bool {
        // A gate set before is kept (one run, one gate).
        let _ = self.gate.set(gate.clone());
        true
    }

    fn reconnect(&mut self) -> Result<(), SourceError> {
        self.worker = None;
        let (worker, resolution, fps) = start(self.request, Arc::clone(&self.gate))?;
        self.worker = Some(worker);
        self.resolution = resolution;
        self.fps = fps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mjpeg_and_yuyv_camera_buffers_decode_into_rgb_frames() {
        // A 32x16 MJPEG frame with detail: the pixels equal the image crate's own decode.
        let (jpeg, reference) = crate::source::decode::test_jpeg(32, 16);
        let buf = nokhwa::Buffer::new(
            nokhwa::utils::Resolution::new(32, 16),
            &jpeg,
            FrameFormat::MJPEG,
        );
        let mut frame = Frame::default();
        decode_buffer(&buf, &mut frame).unwrap();
        assert_eq!(frame.resolution(), Resolution::new(32, 16));
        assert_eq!(frame.rgb(), reference.as_slice());

        // YUYV (4:2:2): mid grey is Y=128, U=V=128.
        let yuyv = vec![128u8; 4 * 2 * 2];
        let buf = nokhwa::Buffer::new(
            nokhwa::utils::Resolution::new(4, 2),
            &yuyv,
            FrameFormat::YUYV,
        );
        decode_buffer(&buf, &mut frame).unwrap();
        assert_eq!(frame.resolution(), Resolution::new(4, 2));
        assert!(
            frame.rgb().iter().all(|&v| (120..=136).contains(&v)),
            "{:?}",
            frame.rgb()
        );

        // A cut buffer is an error, not a panic.
        let buf = nokhwa::Buffer::new(
            nokhwa::utils::Resolution::new(4, 2),
            &yuyv[..5],
            FrameFormat::YUYV,
        );
        let e = decode_buffer(&buf, &mut frame).unwrap_err();
        assert!(e.to_string().contains("needs 16 bytes"), "{e}");
    }
}
