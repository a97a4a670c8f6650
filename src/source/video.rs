//! Live sources decoded by OpenCV's video I/O: cameras and network streams (`live.rs` reopens
//! them). Files are decoded by FFmpeg directly (`file.rs`).

use std::path::Path;

use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use super::{
    nominal_fps, redact_url, FrameClock, FrameSource, RawFrame, SourceInfo, StreamOptions,
    Transport,
};
use crate::error::{Context, Error, Result};

/// FFmpeg reads its demuxer options (the RTSP transport) from this variable when a capture opens.
const FFMPEG_OPTIONS_VAR: &str = "OPENCV_FFMPEG_CAPTURE_OPTIONS";

/// Chooses the RTSP transport of every stream the process opens. OpenCV takes it from the
/// environment at each open, so it is one choice per process, made here before any thread that
/// could read the environment starts. A user's own `OPENCV_FFMPEG_CAPTURE_OPTIONS` wins.
pub fn use_transport(transport: Transport) {
    if std::env::var_os(FFMPEG_OPTIONS_VAR).is_some() {
        return;
    }
    if transport == Transport::Udp {
        // OpenCV asks for TCP when the variable is unset; UDP must be said.
        std::env::set_var(FFMPEG_OPTIONS_VAR, "rtsp_transport;udp");
    }
}

fn timeout_params(options: &StreamOptions) -> Vector<i32> {
    let ms = |s: f64| (s * 1000.0).round().clamp(1.0, i32::MAX as f64) as i32;
    Vector::from_slice(&[
        videoio::CAP_PROP_OPEN_TIMEOUT_MSEC,
        ms(options.open_timeout_s),
        videoio::CAP_PROP_READ_TIMEOUT_MSEC,
        ms(options.stall_timeout_s),
    ])
}

pub struct VideoSource {
    capture: VideoCapture,
    info: SourceInfo,
    clock: FrameClock,
}

impl VideoSource {
    /// Opens a network stream with FFmpeg's open and read timeouts set, so that neither an
    /// unreachable host nor a silent stream can block a read forever.
    pub fn open_url(url: &str, options: &StreamOptions) -> Result<Self> {
        let name = redact_url(url);
        let params = timeout_params(options);
        // OpenCV's own message may quote the URL, password included: it is not passed on.
        let capture = VideoCapture::from_file_with_params(url, videoio::CAP_FFMPEG, &params)
            .map_err(|_| Error::input(format!("stream '{name}': cannot open")))?;
        Self::from_capture(capture, name.clone()).map_err(|_| {
            Error::input(format!(
                "stream '{name}': unreachable or not a video stream"
            ))
        })
    }

    pub fn open_camera(index: i32, options: &StreamOptions) -> Result<Self> {
        let name = format!("camera {index}");
        if cfg!(target_os = "linux") && !Path::new(&format!("/dev/video{index}")).exists() {
            return Err(Error::input(format!(
                "{name}: no such camera (/dev/video{index} does not exist)"
            )));
        }
        // The timeouts guard against a camera that stops delivering; a backend that does not
        // accept them still gets to open the device without them.
        let with_timeouts =
            VideoCapture::new_with_params(index, videoio::CAP_ANY, &timeout_params(options))
                .ok()
                .filter(|c| c.is_opened().unwrap_or(false));
        let capture = match with_timeouts {
            Some(c) => c,
            None => VideoCapture::new(index, videoio::CAP_ANY)
                .input_err(|| format!("{name}: cannot open"))?,
        };
        Self::from_capture(capture, name.clone()).map_err(|_| {
            Error::input(format!(
                "{name}: cannot open /dev/video{index} (busy, or not a capture device)"
            ))
        })
    }

    fn from_capture(capture: VideoCapture, name: String) -> Result<Self> {
        if !capture.is_opened().unwrap_or(false) {
            return Err(Error::input(name));
        }
        let prop = |p| capture.get(p).unwrap_or(0.0);
        let (width, height) = (
            prop(videoio::CAP_PROP_FRAME_WIDTH) as i32,
            prop(videoio::CAP_PROP_FRAME_HEIGHT) as i32,
        );
        if width <= 0 || height <= 0 {
            return Err(Error::input(name));
        }
        let fps = nominal_fps(prop(videoio::CAP_PROP_FPS));
        let info = SourceInfo {
            name,
            width,
            height,
            fps,
            frame_count: None,
            live: true,
        };
        Ok(Self {
            capture,
            clock: FrameClock::new(info.fps),
            info,
        })
    }
}

impl FrameSource for VideoSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<RawFrame>> {
        let mut image = Mat::default();
        let got = self
            .capture
            .read(&mut image)
            .input_err(|| format!("input '{}': decode failed", self.info.name))?;
        if !got || image.empty() {
            return Ok(None); // the stream ended or stalled: `LiveSource` reopens it
        }
        // The decoder's time; OpenCV reports none for some frames (and 0 at a stream's end).
        let reported = self
            .capture
            .get(videoio::CAP_PROP_POS_MSEC)
            .unwrap_or(f64::NAN);
        Ok(Some(self.clock.stamp(image, reported)))
    }
}
