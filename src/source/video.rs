//! Sources decoded by OpenCV's video I/O: files, cameras and network streams.

use std::path::Path;

use opencv::core::Mat;
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use super::{redact_url, FrameSource, RawFrame, SourceInfo};
use crate::error::{Context, Error, Result};

pub struct VideoSource {
    capture: VideoCapture,
    info: SourceInfo,
    next_index: u64,
    last_pts_ms: f64,
}

impl VideoSource {
    pub fn open_file(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let capture = VideoCapture::from_file(&name, videoio::CAP_FFMPEG)
            .input_err(|| format!("input '{name}': cannot open"))?;
        Self::from_capture(capture, name, false).map_err(|_| {
            Error::input(format!(
                "input '{}': not a video FFmpeg can decode",
                path.display()
            ))
        })
    }

    pub fn open_url(url: &str) -> Result<Self> {
        let name = redact_url(url);
        let capture = VideoCapture::from_file(url, videoio::CAP_FFMPEG)
            .input_err(|| format!("stream '{name}': cannot open"))?;
        Self::from_capture(capture, name.clone(), true).map_err(|_| {
            Error::input(format!(
                "stream '{name}': unreachable or not a video stream"
            ))
        })
    }

    pub fn open_camera(index: i32) -> Result<Self> {
        let name = format!("camera {index}");
        let capture = VideoCapture::new(index, videoio::CAP_ANY)
            .input_err(|| format!("{name}: cannot open"))?;
        Self::from_capture(capture, name.clone(), true)
            .map_err(|_| Error::input(format!("{name}: no such camera")))
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
            return Ok(None);
        }
        // Containers without timestamps report 0 or repeat values; fall back to the nominal rate.
        let reported = self
            .capture
            .get(videoio::CAP_PROP_POS_MSEC)
            .unwrap_or(f64::NAN);
        let nominal = self.next_index as f64 * 1000.0 / self.info.fps;
        let pts_ms = if reported.is_finite() && reported > self.last_pts_ms {
            reported
        } else {
            nominal.max(self.last_pts_ms + 1.0)
        };
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
        let Some(expected) = self.info.frame_count else {
            return Ok(());
        };
        // Frame counts of some containers are estimates from the duration: allow a small slack.
        let slack = 2 + expected / 100;
        if self.next_index + slack < expected {
            return Err(Error::input(format!(
                "input '{}': stream ended after {} of {} frames (truncated or corrupt file); outputs hold the frames read",
                self.info.name, self.next_index, expected
            )));
        }
        Ok(())
    }
}
