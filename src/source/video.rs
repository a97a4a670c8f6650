//! Sources decoded by OpenCV's video I/O: files, cameras and network streams.

use std::path::Path;

use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use super::packet_times::PacketTimes;
use super::{redact_url, FrameSource, RawFrame, SourceInfo, StreamOptions, Transport};
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
    next_index: u64,
    last_pts_ms: f64,
    /// A file's container times, for the frames the decoder reports none for.
    packet_times: Option<PacketTimes>,
    /// Reads that failed in the middle of a file (damaged data skipped).
    damaged_reads: u64,
}

/// Failed reads in a row after which a file has ended, rather than hit a damaged stretch.
const DAMAGED_READS_SKIPPED: u32 = 50;
/// Damaged stretches logged one by one; after these, only the total at the end.
const LOGGED_DAMAGE: u64 = 3;

impl VideoSource {
    pub fn open_file(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let capture = VideoCapture::from_file(&name, videoio::CAP_FFMPEG)
            .input_err(|| format!("input '{name}': cannot open"))?;
        let mut source = Self::from_capture(capture, name, false).map_err(|_| {
            Error::input(format!(
                "input '{}': not a video FFmpeg can decode",
                path.display()
            ))
        })?;
        // A second reader of a pipe would take the decoder's data: regular files only.
        if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            source.packet_times = PacketTimes::open(path);
        }
        if let Some(count) = source.packet_times.as_ref().and_then(|t| t.frame_count) {
            // The container's own count; OpenCV's is an estimate from the duration when the
            // container declares none (wrong for a variable frame rate).
            source.info.frame_count = Some(count);
        }
        Ok(source)
    }

    /// Opens a network stream with FFmpeg's open and read timeouts set, so that neither an
    /// unreachable host nor a silent stream can block a read forever.
    pub fn open_url(url: &str, options: &StreamOptions) -> Result<Self> {
        let name = redact_url(url);
        let params = timeout_params(options);
        // OpenCV's own message may quote the URL, password included: it is not passed on.
        let capture = VideoCapture::from_file_with_params(url, videoio::CAP_FFMPEG, &params)
            .map_err(|_| Error::input(format!("stream '{name}': cannot open")))?;
        Self::from_capture(capture, name.clone(), true).map_err(|_| {
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
        Self::from_capture(capture, name.clone(), true).map_err(|_| {
            Error::input(format!(
                "{name}: cannot open /dev/video{index} (busy, or not a capture device)"
            ))
        })
    }

    fn from_capture(capture: VideoCapture, name: String, live: bool) -> Result<Self> {
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
        let fps = prop(videoio::CAP_PROP_FPS);
        let fps = if fps.is_finite() && fps > 0.0 && fps < 1000.0 {
            fps
        } else {
            25.0
        };
        let count = prop(videoio::CAP_PROP_FRAME_COUNT);
        let frame_count = (!live && count.is_finite() && count > 0.0).then_some(count as u64);
        let info = SourceInfo {
            name,
            width,
            height,
            fps,
            frame_count,
            live,
        };
        Ok(Self {
            capture,
            info,
            next_index: 0,
            last_pts_ms: f64::NEG_INFINITY,
            packet_times: None,
            damaged_reads: 0,
        })
    }
}

impl FrameSource for VideoSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<RawFrame>> {
        let mut image = Mat::default();
        let mut failed_reads = 0u32;
        loop {
            let got = self
                .capture
                .read(&mut image)
                .input_err(|| format!("input '{}': decode failed", self.info.name))?;
            if got && !image.empty() {
                break;
            }
            // A damaged stretch of a file fails a read but not the ones after it; the end of
            // the file fails every one.
            failed_reads += 1;
            if self.info.live || failed_reads > DAMAGED_READS_SKIPPED {
                return Ok(None);
            }
        }
        if failed_reads > 0 {
            self.skip_damaged(failed_reads);
        }
        let pts_ms = self.frame_time_ms();
        self.last_pts_ms = pts_ms;
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(RawFrame {
            index,
            pts_ms,
            image,
        }))
    }

    fn check_complete(&self) -> Result<()> {
        if self.damaged_reads > 0 {
            tracing::warn!(
                input = %self.info.name,
                "{} frame(s) could not be decoded (damaged data) and were skipped",
                self.damaged_reads
            );
        }
        if self.reached_end() {
            return Ok(());
        }
        let expected = self
            .info
            .frame_count
            .map_or(String::new(), |n| format!(" of {n}"));
        Err(Error::input(format!(
            "input '{}': stream ended after {}{expected} frames (truncated or corrupt file); outputs hold the frames read",
            self.info.name, self.next_index
        )))
    }
}

impl VideoSource {
    /// Counts frames lost to damaged data; they keep their numbers, so the frames after them
    /// keep the container's. The first stretches are logged, the rest only in the total.
    fn skip_damaged(&mut self, frames: u32) {
        if self.damaged_reads < LOGGED_DAMAGE {
            tracing::warn!(
                input = %self.info.name,
                frame = self.next_index + 1,
                "damaged data: {frames} frame(s) could not be decoded and were skipped"
            );
        }
        self.damaged_reads += u64::from(frames);
        self.next_index += u64::from(frames);
    }

    /// The decoded frame's presentation time: the decoder's while it reports one that moves
    /// forward, else the container's packet time, else (a container without times) the nominal
    /// rate's.
    fn frame_time_ms(&mut self) -> f64 {
        let reported = self
            .capture
            .get(videoio::CAP_PROP_POS_MSEC)
            .unwrap_or(f64::NAN);
        let decoder_ms = (reported.is_finite() && reported > self.last_pts_ms).then_some(reported);
        let container_ms = match self.packet_times.as_mut() {
            Some(times) => times.next_frame_ms(decoder_ms, self.last_pts_ms),
            None => decoder_ms,
        };
        container_ms.unwrap_or_else(|| {
            let nominal = self.next_index as f64 * 1000.0 / self.info.fps;
            nominal.max(self.last_pts_ms + 1.0)
        })
    }

    /// Whether the decoder got to the end of the file: as many frames as the container declares
    /// or, where it declares no count (Matroska, WebM), frames up to its duration. Both with a
    /// small slack, for containers whose figures are estimates.
    fn reached_end(&self) -> bool {
        let (declared, duration_ms) = match &self.packet_times {
            Some(t) => (t.frame_count, t.duration_ms),
            // OpenCV's count, which it estimates from the duration when none is declared.
            None => (self.info.frame_count, None),
        };
        match (declared, duration_ms) {
            (Some(expected), _) => self.next_index + 2 + expected / 100 >= expected,
            // The last frame starts within a few frame intervals of the end.
            (None, Some(d)) => self.last_pts_ms + 3.0 * 1000.0 / self.info.fps + 0.01 * d >= d,
            (None, None) => true,
        }
    }
}
