//! Wiring: for each stream a capture thread, a tracker thread and one thread per sink; between
//! them one pool of detector workers shared by every stream. Joined by bounded queues. End of
//! stream is the closing of a queue and flows downstream; a failing stage records its error and
//! closes its queues, so every stage after it still drains and every sink is finalised.
//!
//! ```text
//!  capture(A) ─┐                         ┌─▶ track(A) ─▶ core(A) ─▶ sinks(A)
//!  capture(B) ─┼─▶ intake ─▶ detect ×N ──┼─▶ track(B) ─▶ core(B) ─▶ sinks(B)
//!  capture(C) ─┘  (a queue    (preprocess └─▶ track(C) ─▶ core(C) ─▶ sinks(C)
//!                 per stream)  + model)
//! ```
//!
//! Rooms, by stage: `capture` (reading, scheduling, camera motion), `pool` (the detector
//! workers, which streams join and leave while they run), `track` (ordering and tracking),
//! `core` (lag, privacy, analytics: pure, shared with offline runs), `fanout` (the sinks'
//! channels and threads), `running` (one stream's threads, started and stopped as a unit).

mod adaptive;
mod budget;
mod capture;
pub mod core;
mod fanout;
mod intake;
mod pool;
mod running;
mod snapshot;
mod track;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::analytics::{Analyzer, LineTotal};
use crate::detect::DetectionFilter;
use crate::error::{Error, Result};
use crate::frame::{Detection, Frame};
use crate::metrics::CameraMetrics;
use crate::motion::GateConfig;
use crate::privacy::Privacy;
use crate::sink::Sink;
use crate::source::FrameSource;
use crate::track::Tracker;
pub use intake::StreamId;
pub use pool::{Pool, PoolGauge, PoolStats};
pub use running::RunningStream;
pub use snapshot::{snapshots, Snapshot, Snapshots};

/// One camera or input, opened: its source, its own tracker and outputs. IDs never cross
/// streams.
pub struct Stream {
    pub name: String,
    pub source: Box<dyn FrameSource>,
    /// The flag the source was opened with: setting it ends this stream alone (its removal),
    /// or, shared by every stream of a run, the whole run.
    pub stop: Arc<AtomicBool>,
    pub tracker: Tracker,
    /// This stream's score and class choice, applied to what the shared detectors found.
    pub filter: DetectionFilter,
    pub sinks: Vec<Box<dyn Sink>>,
    pub max_frames: Option<u64>,
    /// Frames faster than this are dropped at capture; 0 keeps all.
    pub max_fps: f64,
    pub metrics: CameraMetrics,
    /// Lifecycle events and the configured lines and zones.
    pub analyzer: Analyzer,
    /// What every picture hides before it reaches an output.
    pub privacy: Privacy,
    /// Which frames the detector sees.
    pub schedule: Schedule,
    /// Cluster mode: where the tracker thread leaves the camera's state for its next owner.
    pub snapshots: Option<Snapshots>,
}

/// Which frames of a stream the detector sees: every `detect_every`th (1: all), and of those,
/// with motion gating, only the ones where something changed since it last looked.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub detect_every: u64,
    pub motion_gate: GateConfig,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            detect_every: 1,
            motion_gate: GateConfig::default(),
        }
    }
}

/// Shared between a run and whoever watches it (the CLI's progress bar, signal handler).
#[derive(Default)]
pub struct Control {
    /// Set to end the run early (Ctrl-C, SIGTERM): every stream's capture stops, everything
    /// downstream drains.
    pub stop: Arc<AtomicBool>,
    /// Frames that have passed a tracker, all streams together.
    pub frames_done: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub frames: u64,
    pub seconds: f64,
    pub tracks: u64,
    pub captured: u64,
    pub dropped: u64,
    pub interrupted: bool,
    /// Crossings per line, direction and class (empty without counting lines).
    pub line_totals: Vec<LineTotal>,
    /// Capture-to-output latency of each frame, ms (the first 500,000).
    pub latency_ms: Vec<f32>,
    /// The camera's state when it was handed over to another instance (cluster mode).
    pub handed: Option<Snapshot>,
}

impl Summary {
    pub fn fps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.frames as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The latency below which a share `q` of frames came out, ms.
    pub fn latency_percentile(&self, q: f64) -> Option<f64> {
        let mut v = self.latency_ms.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f32::total_cmp);
        Some(v[((v.len() - 1) as f64 * q).round() as usize] as f64)
    }
}

/// How one stream ended: what it did, and the first error that stopped it, if any.
pub struct Outcome {
    pub summary: Summary,
    pub error: Option<Error>,
}

/// Runs fixed streams to their ends on a pool that takes no others: `vigil track` and
/// `vigil bench`. An error of one stream ends that stream only (its outcome says so); an error
/// of the detector pool ends the run (`Err`).
pub fn run_all(pool: Pool, streams: Vec<Stream>, control: &Arc<Control>) -> Result<Vec<Outcome>> {
    let mut running = Vec::new();
    for stream in streams {
        match pool.attach(stream, control) {
            Ok(r) => running.push(r),
            Err(e) => {
                control.stop.store(true, Ordering::Relaxed);
                for r in running {
                    r.join();
                }
                pool.shutdown()?;
                return Err(e);
            }
        }
    }
    pool.seal();
    let outcomes: Vec<Outcome> = running.into_iter().map(RunningStream::join).collect();
    pool.shutdown()?;
    Ok(outcomes)
}

/// A detector worker's result for one frame of a stream.
struct Detected {
    frame: Frame,
    /// `None` when the detector did not look (the budget, motion gating).
    detections: Option<Vec<Detection>>,
}

/// What a stream's tracker receives from the detector workers.
enum FromDetectors {
    Frame(Detected),
    /// The stream ended after the frame before this sequence number.
    End(u64),
}

/// Where a worker hands one stream's frames: kept in the stream's intake queue, so a stream
/// that joins later is served like the first.
#[derive(Clone)]
struct Route {
    id: StreamId,
    tx: Sender<FromDetectors>,
    /// Whether any output of the stream draws on the picture; if none does, the picture is
    /// released as soon as the detector has seen it.
    keep_image: bool,
    /// The stream's camera, to name it when one of its frames cannot be detected.
    camera: CameraMetrics,
}

/// Whether the frame at position `seq` of a stream is detected under `detect_every` (the
/// first always is).
pub fn detected(seq: u64, detect_every: u64) -> bool {
    seq.is_multiple_of(detect_every.max(1))
}

/// Frames an output lag of `lag_s` holds back at `fps` (a generous rate where the source does not
/// say), with room for late and early timestamps.
fn lag_frames(lag_s: f64, fps: f64) -> usize {
    if lag_s <= 0.0 {
        return 0;
    }
    let fps = if fps > 0.0 && fps.is_finite() {
        fps
    } else {
        60.0
    };
    (lag_s * fps * 1.5).ceil() as usize + 2
}

/// Polls `control` while `run` works, for progress display; returns when `done` is set.
pub fn watch(control: &Control, done: &AtomicBool, mut tick: impl FnMut(u64)) {
    while !done.load(Ordering::Relaxed) {
        tick(control.frames_done.load(Ordering::Relaxed));
        thread::sleep(Duration::from_millis(100));
    }
}
