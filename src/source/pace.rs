//! `--realtime`: a file read at its own frame rate (or a multiple of it), so that it stands in
//! for a camera — frames arrive whether or not the pipeline keeps up, and it drops what it cannot
//! take, as it would with a live stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{FrameSource, RawFrame, SourceInfo};
use crate::error::Result;

pub struct Paced {
    inner: Box<dyn FrameSource>,
    info: SourceInfo,
    speed: f64,
    started: Option<(Instant, f64)>,
    stop: Arc<AtomicBool>,
}

impl Paced {
    pub fn new(inner: Box<dyn FrameSource>, speed: f64, stop: Arc<AtomicBool>) -> Self {
        let info = SourceInfo {
            live: true,
            ..inner.info().clone()
        };
        Self {
            inner,
            info,
            speed,
            started: None,
            stop,
        }
    }
}

impl FrameSource for Paced {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<RawFrame>> {
        let Some(raw) = self.inner.next_frame()? else {
            return Ok(None);
        };
        let (t0, pts0) = *self.started.get_or_insert((Instant::now(), raw.pts_ms));
        let due =
            t0 + Duration::from_secs_f64(((raw.pts_ms - pts0) / 1000.0 / self.speed).max(0.0));
        while Instant::now() < due {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            std::thread::sleep((due - Instant::now()).min(Duration::from_millis(50)));
        }
        Ok(Some(raw))
    }

    fn check_complete(&self) -> Result<()> {
        self.inner.check_complete()
    }
}
