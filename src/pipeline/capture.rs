//! A stream's capture thread: reads frames, decides at capture what the detector will see (the
//! schedule, motion gating, the adaptive budget), measures the camera's own motion while frames
//! are still in order and whole, and queues them for the shared detector workers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use opencv::core::Mat;
use opencv::prelude::*;

use super::adaptive::Every;
use super::budget::PictureSlots;
use super::intake::{Intake, Pushed, StreamId};
use super::{detected, Route, Schedule};
use crate::error::Result;
use crate::frame::{Frame, FrameMeta, Plan};
use crate::geom::{Affine, BBox};
use crate::metrics::CameraMetrics;
use crate::motion::{
    grey_thumbnail, ActivityGate, AutoMeasure, MotionConfig, MotionEstimator, Verdict,
};
use crate::source::FrameSource;
use crate::track::CameraMotion;

/// `camera_motion = "auto"`: a camera still for this many frames (a second at 25 fps) is then
/// measured only one frame in `AUTO_RECHECK` (a third of a second).
const AUTO_STILL_WINDOW: usize = 25;
const AUTO_RECHECK: u32 = 8;

/// What one capture thread reads and where its frames go.
pub(super) struct Capture {
    pub id: StreamId,
    pub source: Box<dyn FrameSource>,
    pub max_frames: Option<u64>,
    pub max_fps: f64,
    pub slots: Arc<PictureSlots>,
    pub camera: CameraFollow,
    pub planner: Planner,
    pub intake: Arc<Intake<Route>>,
    /// The stream's own stop: its removal, or the whole run's.
    pub stop: Arc<AtomicBool>,
    pub metrics: CameraMetrics,
}

impl Capture {
    /// Reads frames until the end of the stream, `max_frames`, or a stop request, and queues them
    /// for the detectors: a file waits for room (lossless), a live source replaces its oldest
    /// waiting frame (every drop counted), so latency stays bounded. Each picture needs one of
    /// the stream's `slots`: a file waits for one, a live source reads on and drops the frame.
    pub fn run(&mut self) -> Result<()> {
        let mut count = 0;
        let mut next_due_ms = f64::NEG_INFINITY;
        let live = self.source.info().live;
        let stop = &*self.stop;
        while !stop.load(Ordering::Relaxed) && self.max_frames.is_none_or(|m| count < m) {
            let slot = if live {
                self.slots.try_take()
            } else {
                match self.slots.take(stop) {
                    Some(slot) => Some(slot),
                    None => return Ok(()), // stopped while waiting
                }
            };
            let Some(raw) = self.source.next_frame()? else {
                // A source cut short by a stop is not a truncated file.
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                return self.source.check_complete();
            };
            self.metrics.captured.inc();
            let Some(slot) = slot else {
                self.metrics.dropped.inc(); // every picture is still in use: stay current
                continue;
            };
            if self.max_fps > 0.0 {
                if raw.pts_ms < next_due_ms {
                    self.metrics.dropped.inc();
                    continue;
                }
                // Allow 10 % jitter, so a 25 fps camera capped at 25 keeps every frame.
                next_due_ms = raw.pts_ms + 900.0 / self.max_fps;
            }
            let number = raw.index + 1;
            let plan = self.planner.plan(count, &raw.image, number, raw.pts_ms);
            count += 1;
            let frame = Frame {
                meta: FrameMeta {
                    seq: 0, // numbered when a detector takes it
                    number,
                    pts_ms: raw.pts_ms,
                    captured_at: Instant::now(),
                    camera: self.camera.measure(&raw.image),
                    plan,
                },
                image: raw.image,
                slot,
            };
            match self.intake.push(self.id, frame, stop) {
                Pushed::Queued => {}
                Pushed::ReplacedOldest => self.metrics.dropped.inc(),
                Pushed::Closed => return Ok(()), // nobody takes this stream's frames any more
            }
        }
        Ok(())
    }
}

/// A stream's measurement of its camera's own motion (`tracker.camera_motion = "on"` or
/// `"auto"`). Moving objects are masked out with the boxes the stream's tracker reported last,
/// which it sends back on a channel (a few frames old: close enough to hide them).
pub(super) struct CameraFollow {
    estimator: Option<MotionEstimator>,
    /// With `auto`: when to measure.
    auto: Option<AutoMeasure>,
    /// The tracker's latest boxes; only the newest message matters.
    masks: Receiver<Vec<BBox>>,
    boxes: Vec<BBox>,
}

impl CameraFollow {
    pub fn new(mode: CameraMotion, masks: Receiver<Vec<BBox>>) -> Self {
        let estimator =
            (mode != CameraMotion::Off).then(|| MotionEstimator::new(MotionConfig::default()));
        let auto =
            (mode == CameraMotion::Auto).then(|| AutoMeasure::new(AUTO_STILL_WINDOW, AUTO_RECHECK));
        Self {
            estimator,
            auto,
            masks,
            boxes: Vec::new(),
        }
    }

    /// The camera's motion since the previous frame measured (frames dropped before this point
    /// are skipped by the measurement itself); the identity when off, unsure or below noise, and
    /// on the frames `auto` leaves unmeasured.
    fn measure(&mut self, image: &Mat) -> Affine {
        let Some(estimator) = self.estimator.as_mut() else {
            return Affine::IDENTITY;
        };
        if self.auto.as_mut().is_some_and(|a| !a.due()) {
            return Affine::IDENTITY;
        }
        if let Some(newest) = self.masks.try_iter().last() {
            self.boxes = newest;
        }
        let (w, h) = (image.cols() as f64, image.rows() as f64);
        let moved = match estimator.estimate(image, &self.boxes) {
            Ok(moved) => moved,
            Err(e) => {
                tracing::debug!("camera motion not measured: {e}");
                return Affine::IDENTITY;
            }
        };
        let Some(auto) = self.auto.as_mut() else {
            return moved.or_identity_below_noise(w, h);
        };
        let was_still = auto.is_still();
        let applied = auto.measured(&moved, w, h);
        if auto.is_still() != was_still {
            if auto.is_still() {
                tracing::info!("camera motion: the camera is still, measured one frame in {AUTO_RECHECK} from now on");
            } else {
                tracing::info!("camera motion: the camera moves, measured on every frame again");
            }
        }
        applied.or_identity_below_noise(w, h)
    }
}

/// Follows a stream's [`Schedule`] at capture, where its frames are in order and whole.
pub(super) struct Planner {
    /// The schedule's `detect_every`, or what the adaptive budget made of it.
    detect_every: Every,
    gate: Option<ActivityGate>,
}

impl Planner {
    pub fn new(schedule: Schedule, detect_every: Every) -> Self {
        let gate = schedule.motion_gate;
        Self {
            detect_every,
            gate: gate.enabled.then(|| ActivityGate::new(gate)),
        }
    }

    /// The plan for the `count`th frame read (0-based), source number `number`.
    fn plan(&mut self, count: u64, image: &Mat, number: u64, pts_ms: f64) -> Plan {
        if !detected(count, self.detect_every.load(Ordering::Relaxed)) {
            return Plan::Budget;
        }
        let Some(gate) = self.gate.as_mut() else {
            return Plan::Detect;
        };
        match grey_thumbnail(image) {
            Ok(thumbnail) => match gate.judge(thumbnail, number, pts_ms) {
                Verdict::Changed => Plan::Detect,
                Verdict::Unchanged { since } => Plan::Unchanged { since },
            },
            Err(e) => {
                tracing::debug!("motion gate: {e}");
                Plan::Detect
            }
        }
    }
}
