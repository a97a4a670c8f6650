//! Wiring: for each stream a capture thread, a tracker thread and one thread per sink; between
//! them one pool of detector workers shared by every stream. Joined by bounded queues. End of
//! stream is the closing of a queue and flows downstream; a failing stage records its error and
//! closes its queues, so every stage after it still drains and every sink is finalised.
//!
//! ```text
//!  capture(A) ─┐                         ┌─▶ track(A) ─▶ sinks(A)
//!  capture(B) ─┼─▶ intake ─▶ detect ×N ──┼─▶ track(B) ─▶ sinks(B)
//!  capture(C) ─┘  (a queue    (preprocess └─▶ track(C) ─▶ sinks(C)
//!                 per stream)  + model)
//! ```

mod adaptive;
mod budget;
mod intake;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use opencv::core::Mat;
use opencv::prelude::*;

use crate::analytics::{Analyzer, LineTotal};
use crate::detect::{DetectionFilter, Detector, Failure, FrameDetections};
use crate::error::{Error, Result};
use crate::frame::{Detection, EndReason, Frame, FrameMeta, Plan, StreamEnd, Track, TrackedFrame};
use crate::geom::{Affine, BBox};
use crate::metrics::{CameraMetrics, Metrics, SourceState};
use crate::motion::{
    grey_thumbnail, ActivityGate, AutoMeasure, GateConfig, MotionConfig, MotionEstimator, Verdict,
};
use crate::preprocess::{InputSpec, Preprocessor};
use crate::privacy::Privacy;
use crate::sink::{Sink, SinkPolicy};
use crate::source::FrameSource;
use crate::track::{CameraMotion, FixedLag, Tracker};
use adaptive::{Every, Governed, Governor};
use intake::{Intake, Pushed, QueueSpec, Taken};

/// Outputs that need no picture (files of tracks, network messages) may fall this many frames
/// behind: what they are sent is small.
const LOSSLESS_QUEUE: usize = 8;
const NEVER_BLOCK_QUEUE: usize = 64;
/// Latencies kept per stream for the summary's percentiles (a few MB at most).
const LATENCY_SAMPLES: usize = 500_000;
/// How often a tracker waiting for frames looks whether its source has gone away.
const OUTAGE_CHECK: Duration = Duration::from_millis(250);

/// One camera or input: its source, its own tracker and outputs. IDs never cross streams.
pub struct Stream {
    pub name: String,
    pub source: Box<dyn FrameSource>,
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

/// Everything a run needs, already opened and validated, so that a run starts only when all
/// inputs and outputs are known to be good.
pub struct Pipeline {
    pub streams: Vec<Stream>,
    /// One per inference worker, shared by all streams.
    pub detectors: Vec<Detector>,
    pub metrics: Arc<Metrics>,
    /// The daemon: a stream's failure is logged and shown as `failed` as it happens, while the
    /// other streams go on. Otherwise the caller reports it from the outcome.
    pub report_failures: bool,
    /// The adaptive detection budget: the share of the CPU the detectors may use (0: off).
    pub cpu_target: f64,
}

/// Shared between the pipeline and whoever watches it (the CLI's progress bar, signal handler).
#[derive(Default)]
pub struct Control {
    /// Set to end the streams early (Ctrl-C): capture stops, everything downstream drains.
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
    /// Capture-to-output latency of each frame, ms (the first `LATENCY_SAMPLES`).
    pub latency_ms: Vec<f32>,
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

struct Detected {
    frame: Frame,
    /// `None` when the detection budget skipped the frame.
    detections: Option<Vec<Detection>>,
}

/// Whether the frame at position `seq` of a stream is detected under `detect_every` (the
/// first always is).
pub fn detected(seq: u64, detect_every: u64) -> bool {
    seq.is_multiple_of(detect_every.max(1))
}

/// A tracked frame on its way to the outputs (through the output lag, if any): the picture, what
/// was detected in it, and where the tracks it did not see are predicted to be, so that the
/// privacy filter hides a person the detector briefly missed.
struct Held {
    frame: Frame,
    detections: Option<Vec<Detection>>,
    /// `detections` are those of an earlier frame with the same picture (motion gating).
    unchanged: bool,
    unseen: Vec<(usize, BBox)>,
}

/// What a stream's tracker receives from the detector workers.
enum FromDetectors {
    Frame(Detected),
    /// The stream ended after the frame before this sequence number.
    End(u64),
}

/// What a sink thread receives: every frame, and the events of tracks ended between frames
/// (after an outage of the source, and at the end).
enum ToSink {
    Frame(Arc<TrackedFrame>),
    End(Arc<StreamEnd>),
}

struct SinkLink {
    tx: Sender<ToSink>,
    policy: SinkPolicy,
    kind: &'static str,
    /// Sinks that draw get the picture; the others a copy of the frame without it, so a slow
    /// network output never keeps pictures alive.
    needs_image: bool,
}

/// Where the detector workers send each stream's results.
#[derive(Clone, Copy)]
struct Outputs<'a> {
    streams: &'a [Sender<FromDetectors>],
    /// Whether any output of the stream draws on the picture; if none does, the picture is
    /// released as soon as the detector has seen it.
    keep_images: &'a [bool],
    /// Each stream's camera, to name it when one of its frames cannot be detected.
    cameras: &'a [CameraMetrics],
}

impl Outputs<'_> {
    /// Hands stream `i`'s frame to its tracker (without its picture where no output draws);
    /// a tracker that has gone takes no more of the stream's frames.
    fn deliver(
        &self,
        intake: &Intake,
        i: usize,
        mut frame: Frame,
        detections: Option<Vec<Detection>>,
    ) {
        if !self.keep_images[i] {
            frame.release_image();
        }
        if self.streams[i]
            .send(FromDetectors::Frame(Detected { frame, detections }))
            .is_err()
        {
            intake.abandon(i);
        }
    }
}

/// The first error a stream (or the detector pool) hit; later ones are usually its consequences.
/// With a camera to report to (the daemon), that first error also marks the camera `failed`, with
/// a log line, when it happens rather than at shutdown.
#[derive(Default, Clone)]
struct FirstError(Arc<Mutex<Option<Error>>>, Option<CameraMetrics>);

impl FirstError {
    fn record(&self, stage: &str, result: Result<()>) {
        if let Err(e) = result {
            tracing::debug!(stage, error = %e, "stage failed");
            let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if let (None, Some(camera)) = (slot.as_ref(), &self.1) {
                camera.set_state(SourceState::Failed, Some(&format!("{stage}: {e}")));
            }
            slot.get_or_insert(e);
        }
    }

    fn take(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// `camera_motion = "auto"`: a camera still for this many frames (a second at 25 fps) is then
/// measured only one frame in `AUTO_RECHECK` (a third of a second).
const AUTO_STILL_WINDOW: usize = 25;
const AUTO_RECHECK: u32 = 8;

/// A stream's measurement of its camera's own motion (`tracker.camera_motion = "on"` or
/// `"auto"`), in its capture thread: frames are in order there and still whole. Moving objects
/// are masked out with the boxes the stream's tracker reported last (a few frames old: close
/// enough to hide them).
struct CameraFollow {
    estimator: Option<MotionEstimator>,
    /// With `auto`: when to measure.
    auto: Option<AutoMeasure>,
    masks: Arc<Mutex<Vec<BBox>>>,
}

impl CameraFollow {
    fn new(mode: CameraMotion, masks: Arc<Mutex<Vec<BBox>>>) -> Self {
        let estimator =
            (mode != CameraMotion::Off).then(|| MotionEstimator::new(MotionConfig::default()));
        let auto =
            (mode == CameraMotion::Auto).then(|| AutoMeasure::new(AUTO_STILL_WINDOW, AUTO_RECHECK));
        Self {
            estimator,
            auto,
            masks,
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
        let boxes = self.masks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (w, h) = (image.cols() as f64, image.rows() as f64);
        let moved = match estimator.estimate(image, &boxes) {
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
struct Planner {
    /// The schedule's `detect_every`, or what the adaptive budget made of it.
    detect_every: Every,
    gate: Option<ActivityGate>,
}

impl Planner {
    fn new(schedule: Schedule, detect_every: Every) -> Self {
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

/// Thread handles of one run, by role: capture threads may sit in a blocking read when a stop
/// comes, so they are waited for only briefly.
#[derive(Default)]
struct Threads {
    capture: Vec<JoinHandle<()>>,
    others: Vec<JoinHandle<()>>,
}

fn spawn(
    name: String,
    errors: &FirstError,
    body: impl FnOnce() -> Result<()> + Send + 'static,
) -> Result<JoinHandle<()>> {
    let errors = errors.clone();
    let stage = name.clone();
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || errors.record(&stage, body()))
        .map_err(|e| Error::internal(format!("cannot start thread {name}: {e}")))
}

impl Pipeline {
    /// Runs every stream to its end, a stop request, or its first error. An error of one stream
    /// ends that stream only; an error of the detector pool ends the run (`Err`).
    pub fn run(self, control: Arc<Control>) -> Result<Vec<Outcome>> {
        let started = Instant::now();
        let pool_error = FirstError::default();
        // Checked before any thread starts, so that a failure here leaves none behind.
        let spec = self
            .detectors
            .first()
            .map(Detector::input_spec)
            .ok_or_else(|| Error::internal("no detector"))?;

        let workers = self.detectors.len().max(1);
        let limits: Vec<budget::Limits> = self
            .streams
            .iter()
            .map(|s| {
                let info = s.source.info();
                let held_back = lag_frames(s.tracker.config().output_lag_s, info.fps);
                budget::limits(info.width, info.height, info.live, workers, held_back)
            })
            .collect();
        let queues: Vec<QueueSpec> = self
            .streams
            .iter()
            .zip(&limits)
            .map(|(s, l)| QueueSpec {
                live: s.source.info().live,
                capacity: l.queue,
                in_flight_limit: l.in_flight,
            })
            .collect();
        let intake = Arc::new(Intake::new(&queues));
        let mut threads = Threads::default();
        let mut det_txs = Vec::new();
        let mut keep_images = Vec::new();
        let mut cameras = Vec::new();
        let mut finished = Vec::new();
        let mut governed = Vec::new();
        for (i, (stream, limits)) in self.streams.into_iter().zip(limits).enumerate() {
            let floor = stream.schedule.detect_every.max(1);
            let every: Every = Arc::new(AtomicU64::new(floor));
            governed.push(Governed {
                every: every.clone(),
                floor,
                metrics: stream.metrics.clone(),
            });
            // The tracker's channel holds as many frames as may be in flight, so a worker's send
            // to it never waits.
            let (det_tx, det_rx) = bounded::<FromDetectors>(limits.in_flight);
            det_txs.push(det_tx);
            keep_images.push(stream.sinks.iter().any(|s| s.needs_image()));
            cameras.push(stream.metrics.clone());
            finished.push(start_stream(
                i,
                (stream, limits, every),
                det_rx,
                (&intake, &control, &self.metrics),
                self.report_failures,
                &mut threads,
            )?);
        }
        // Held until the run ends: dropping it stops the thread.
        let _governor = if self.cpu_target > 0.0 {
            let started = Governor::start(self.cpu_target, governed)
                .map_err(|e| Error::internal(format!("cannot start the budget thread: {e}")))?;
            Some(started)
        } else {
            None
        };
        let keep_images = Arc::new(keep_images);
        let cameras = Arc::new(cameras);
        for (k, mut detector) in self.detectors.into_iter().enumerate() {
            let (intake, txs, ctl, metrics, keep, cams) = (
                intake.clone(),
                det_txs.clone(),
                control.clone(),
                self.metrics.clone(),
                keep_images.clone(),
                cameras.clone(),
            );
            let body = move || {
                let outputs = Outputs {
                    streams: &txs,
                    keep_images: &keep,
                    cameras: &cams,
                };
                let result = detect(&mut detector, spec, &intake, outputs, &ctl, &metrics);
                if result.is_err() {
                    ctl.stop.store(true, Ordering::Relaxed); // no detector, no run
                }
                result
            };
            threads
                .others
                .push(spawn(format!("detect-{k}"), &pool_error, body)?);
        }
        drop(det_txs);
        threads.join(&control);
        if let Some(e) = pool_error.take() {
            return Err(e);
        }
        let seconds = started.elapsed().as_secs_f64();
        let interrupted = control.stop.load(Ordering::Relaxed);
        Ok(finished
            .into_iter()
            .map(|f| f.outcome(seconds, interrupted))
            .collect())
    }
}

/// What a stream leaves behind for its outcome once its threads are done.
struct Finished {
    name: String,
    metrics: CameraMetrics,
    errors: FirstError,
    tracks: Arc<AtomicU64>,
    latency: Arc<Mutex<Vec<f32>>>,
    line_totals: Arc<Mutex<Vec<LineTotal>>>,
}

impl Finished {
    fn outcome(self, seconds: f64, interrupted: bool) -> Outcome {
        let m = &self.metrics;
        let latency_ms =
            std::mem::take(&mut *self.latency.lock().unwrap_or_else(|p| p.into_inner()));
        let line_totals =
            std::mem::take(&mut *self.line_totals.lock().unwrap_or_else(|p| p.into_inner()));
        Outcome {
            summary: Summary {
                name: self.name,
                frames: m.processed.get(),
                seconds,
                tracks: self.tracks.load(Ordering::Relaxed),
                captured: m.captured.get(),
                dropped: m.dropped.get(),
                interrupted,
                line_totals,
                latency_ms,
            },
            error: self.errors.take(),
        }
    }
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

/// Starts one stream's capture, tracker and sink threads.
fn start_stream(
    i: usize,
    (stream, limits, every): (Stream, budget::Limits, Every),
    det_rx: Receiver<FromDetectors>,
    (intake, control, registry): (&Arc<Intake>, &Arc<Control>, &Arc<Metrics>),
    report_failures: bool,
    threads: &mut Threads,
) -> Result<Finished> {
    let metrics = stream.metrics.clone();
    let errors = FirstError(Arc::default(), report_failures.then(|| metrics.clone()));
    let name = stream.name.clone();
    let mut links = Vec::new();
    for (k, mut sink) in stream.sinks.into_iter().enumerate() {
        let (policy, kind, needs_image) = (sink.policy(), sink.kind(), sink.needs_image());
        let (tx, rx) = bounded::<ToSink>(match (needs_image, policy) {
            (true, _) => limits.image_sink,
            (false, SinkPolicy::Lossless) => LOSSLESS_QUEUE,
            (false, SinkPolicy::NeverBlock) => NEVER_BLOCK_QUEUE,
        });
        links.push(SinkLink {
            tx,
            policy,
            kind,
            needs_image,
        });
        let registry = registry.clone();
        threads
            .others
            .push(spawn(format!("sink-{name}-{k}"), &errors, move || {
                drain_into(&mut *sink, &rx, &registry)
            })?);
    }

    let finished = Finished {
        name: name.clone(),
        metrics: metrics.clone(),
        errors: errors.clone(),
        tracks: Arc::new(AtomicU64::new(0)),
        latency: Arc::new(Mutex::new(Vec::new())),
        line_totals: Arc::default(),
    };
    let mut stage = TrackStage {
        tracker: stream.tracker,
        filter: stream.filter,
        analyzer: stream.analyzer,
        privacy: stream.privacy,
        sinks: links,
        metrics: metrics.clone(),
        registry: registry.clone(),
        control: control.clone(),
        latency: finished.latency.clone(),
        masks: Arc::default(),
        last_detected: None,
        last_received: None,
    };
    let (stage_camera_motion, masks) = (stage.tracker.config().camera_motion, stage.masks.clone());
    let (seen, totals, taker) = (
        finished.tracks.clone(),
        finished.line_totals.clone(),
        intake.clone(),
    );
    threads
        .others
        .push(spawn(format!("track-{name}"), &errors, move || {
            let result = stage.run(&det_rx, || taker.delivered(i));
            seen.store(stage.tracker.confirmed_count(), Ordering::Relaxed);
            *totals.lock().unwrap_or_else(|p| p.into_inner()) = stage.analyzer.totals();
            drop(det_rx);
            taker.abandon(i); // nothing more is wanted from this stream's capture
            result
        })?);

    let (intake, ctl) = (intake.clone(), control.clone());
    let (mut source, max_frames, max_fps) = (stream.source, stream.max_frames, stream.max_fps);
    let slots = budget::PictureSlots::new(limits.pictures);
    let mut camera = CameraFollow::new(stage_camera_motion, masks);
    let mut planner = Planner::new(stream.schedule, every);
    threads
        .capture
        .push(spawn(format!("capture-{name}"), &errors, move || {
            let _closed = CloseOnDrop(&intake, i); // even if the source panics
            let result = capture(
                i,
                &mut *source,
                (max_frames, max_fps),
                (&slots, &mut camera, &mut planner),
                &intake,
                &ctl,
                &metrics,
            );
            // Live sources end only when stopped: anything else that ran out has ended.
            if result.is_ok() && !ctl.stop.load(Ordering::Relaxed) {
                metrics.set_state(SourceState::Ended, None);
            }
            result
        })?);
    Ok(finished)
}

/// Tells the intake that a stream's capture is over, however its thread ends.
struct CloseOnDrop<'a>(&'a Intake, usize);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close(self.1);
    }
}

impl Threads {
    /// Waits for every stage. A capture thread blocked in a read after a stop (a stream that
    /// went silent) is left behind after a second: everything after it has already drained.
    fn join(self, control: &Control) {
        for h in self.others {
            let _ = h.join();
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        for h in self.capture {
            while !h.is_finished()
                && control.stop.load(Ordering::Relaxed)
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() || !control.stop.load(Ordering::Relaxed) {
                let _ = h.join();
            }
        }
    }
}

/// Reads frames until the end of the stream, `max_frames`, or a stop request, and queues them
/// for the detectors: a file waits for room (lossless), a live source replaces its oldest
/// waiting frame (every drop counted), so latency stays bounded. Each picture needs one of the
/// stream's `slots`: a file waits for one, a live source reads on and drops the frame.
fn capture(
    i: usize,
    source: &mut dyn FrameSource,
    (max_frames, max_fps): (Option<u64>, f64),
    (slots, camera, planner): (&Arc<budget::PictureSlots>, &mut CameraFollow, &mut Planner),
    intake: &Intake,
    control: &Control,
    metrics: &CameraMetrics,
) -> Result<()> {
    let mut count = 0;
    let mut next_due_ms = f64::NEG_INFINITY;
    let live = source.info().live;
    while !control.stop.load(Ordering::Relaxed) && max_frames.is_none_or(|m| count < m) {
        let slot = if live {
            slots.try_take()
        } else {
            match slots.take(&control.stop) {
                Some(slot) => Some(slot),
                None => return Ok(()), // stopped while waiting
            }
        };
        let Some(raw) = source.next_frame()? else {
            // A source cut short by a stop is not a truncated file.
            if control.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            return source.check_complete();
        };
        metrics.captured.inc();
        let Some(slot) = slot else {
            metrics.dropped.inc(); // every picture of this camera is still in use: stay current
            continue;
        };
        if max_fps > 0.0 {
            if raw.pts_ms < next_due_ms {
                metrics.dropped.inc();
                continue;
            }
            // Allow 10 % jitter, so a 25 fps camera capped at 25 keeps every frame.
            next_due_ms = raw.pts_ms + 900.0 / max_fps;
        }
        let number = raw.index + 1;
        let plan = planner.plan(count, &raw.image, number, raw.pts_ms);
        count += 1;
        let frame = Frame {
            meta: FrameMeta {
                seq: 0, // numbered when a detector takes it
                number,
                pts_ms: raw.pts_ms,
                captured_at: Instant::now(),
                camera: camera.measure(&raw.image),
                plan,
            },
            image: raw.image,
            slot,
        };
        match intake.push(i, frame, &control.stop) {
            Pushed::Queued => {}
            Pushed::ReplacedOldest => metrics.dropped.inc(),
            Pushed::Closed => return Ok(()), // the stream's consumer stopped; its error says why
        }
    }
    Ok(())
}

/// A detector worker: takes frames from every stream in turn, preprocesses and detects, and
/// hands the result to the frame's own stream.
fn detect(
    detector: &mut Detector,
    spec: InputSpec,
    intake: &Intake,
    outputs: Outputs,
    control: &Control,
    metrics: &Metrics,
) -> Result<()> {
    let mut pre = Preprocessor::new(spec);
    let (batch, wait) = detector.batching();
    loop {
        let taken = intake.take_batch(&control.stop, batch, wait);
        if taken.is_empty() {
            return Ok(());
        }
        metrics.detector_queue.set(intake.depth() as i64);
        let mut to_detect = Vec::with_capacity(taken.len());
        for t in taken {
            match t {
                Taken::End(i, seq) => {
                    let _ = outputs.streams[i].send(FromDetectors::End(seq));
                }
                Taken::Frame(i, seq, mut frame) => {
                    frame.meta.seq = seq;
                    if frame.meta.plan == Plan::Detect {
                        to_detect.push((i, frame));
                    } else {
                        outputs.cameras[i].frame_not_detected(frame.meta.plan);
                        outputs.deliver(intake, i, frame, None);
                    }
                }
            }
        }
        let runs = detector.runs();
        let results = detect_frames(detector, &mut pre, &to_detect)?;
        metrics.detector_runs.inc_by(detector.runs() - runs);
        for ((i, frame), result) in to_detect.into_iter().zip(results) {
            let detections = match result {
                Ok((found, times)) => {
                    metrics.observe_stage("preprocess", times.preprocess_s);
                    metrics.observe_stage("inference", times.inference_s);
                    outputs.cameras[i].frame_detected(times.preprocess_s + times.inference_s);
                    found
                }
                // One unusable frame must not end the stream: it passes with nothing detected, so
                // the tracker's order is kept.
                Err(e) => {
                    outputs.cameras[i].frame_detected(0.0);
                    outputs.cameras[i].frame_undetected(frame.meta.number, &e);
                    Vec::new()
                }
            };
            outputs.deliver(intake, i, frame, Some(detections));
        }
    }
}

/// Detects in each frame, in order: whole frames together in one run of the network when the
/// detector batches, the others (tiled) one by one. An error for a frame that cannot be
/// detected; the call's error when the network fails.
fn detect_frames(
    detector: &mut Detector,
    pre: &mut Preprocessor,
    frames: &[(usize, Frame)],
) -> Result<Vec<FrameDetections>> {
    let whole =
        |f: &Frame| detector.detects_whole(f.image.cols() as usize, f.image.rows() as usize);
    let batched: Vec<usize> = if frames.len() > 1 {
        (0..frames.len()).filter(|&k| whole(&frames[k].1)).collect()
    } else {
        Vec::new()
    };
    let mut results: Vec<Option<_>> = (0..frames.len()).map(|_| None).collect();
    if batched.len() > 1 {
        let images: Vec<&Mat> = batched.iter().map(|&k| &frames[k].1.image).collect();
        tracing::debug!(
            frames = images.len(),
            "detector: one run for several frames"
        );
        for (k, result) in batched.iter().zip(detector.detect_batch(pre, &images)?) {
            results[*k] = Some(result);
        }
    }
    for (k, (_, frame)) in frames.iter().enumerate() {
        if results[k].is_none() {
            results[k] = Some(match detector.detect_frame(pre, &frame.image) {
                Ok(found) => Ok(found),
                Err(Failure::Frame(e)) => Err(e),
                Err(Failure::Network(e)) => return Err(e),
            });
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// One stream's tracker thread: puts the workers' results back in order, tracks, derives
/// events, and fans out to the sinks by their policy.
struct TrackStage {
    tracker: Tracker,
    filter: DetectionFilter,
    analyzer: Analyzer,
    privacy: Privacy,
    sinks: Vec<SinkLink>,
    metrics: CameraMetrics,
    registry: Arc<Metrics>,
    control: Arc<Control>,
    latency: Arc<Mutex<Vec<f32>>>,
    /// Where the tracked objects are, for the camera-motion measurement to mask them.
    masks: Arc<Mutex<Vec<BBox>>>,
    /// The source number of the last frame detected and what was kept of its detections: an
    /// unchanged frame after it (motion gating) sees the same.
    last_detected: Option<(u64, Vec<Detection>)>,
    /// The latest stream time the detectors delivered, and when: how long the source has been
    /// quiet.
    last_received: Option<(f64, Instant)>,
}

impl TrackStage {
    /// `delivered` tells the intake that a frame has left the workers for this tracker.
    fn run(&mut self, rx: &Receiver<FromDetectors>, delivered: impl Fn()) -> Result<()> {
        let mut pending: BTreeMap<u64, Detected> = BTreeMap::new();
        let mut lag = self.tracker.config().fixed_lag::<Held>();
        let (mut next, mut end) = (0, None);
        loop {
            let message = match rx.recv_timeout(OUTAGE_CHECK) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    if !self.end_tracks_during_outage(&mut lag) {
                        return Ok(()); // a sink failed; its error says why
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match message {
                FromDetectors::Frame(item) => {
                    delivered();
                    let pts_ms = item.frame.meta.pts_ms;
                    let latest = self.last_received.map_or(pts_ms, |(p, _)| p.max(pts_ms));
                    self.last_received = Some((latest, Instant::now()));
                    pending.insert(item.frame.meta.seq, item);
                }
                FromDetectors::End(seq) => end = Some(seq),
            }
            while let Some(item) = pending.remove(&next) {
                next += 1;
                let (time_s, camera) = (item.frame.meta.pts_ms / 1000.0, item.frame.meta.camera);
                let started = Instant::now();
                let (tracks, detections, unchanged) = self.track(item.detections, &item.frame.meta);
                if self.tracker.config().camera_motion != CameraMotion::Off {
                    *self.masks.lock().unwrap_or_else(|p| p.into_inner()) =
                        tracks.iter().map(|t| t.bbox).collect();
                }
                self.registry
                    .observe_stage("tracking", started.elapsed().as_secs_f64());
                let held = Held {
                    frame: item.frame,
                    detections,
                    unchanged,
                    unseen: self.tracker.unseen(),
                };
                if !self.emit(lag.push(time_s, held, tracks, &camera)) {
                    return Ok(()); // a sink failed; its error says why
                }
            }
            if end == Some(next) {
                break; // every frame of the stream is in: finish now, not when all streams do
            }
        }
        if !pending.is_empty() {
            // Only possible when a worker failed mid-stream: its error is already recorded.
            tracing::debug!(left = pending.len(), "frames left unordered at shutdown");
        }
        // End of stream or a stop: what the lag still holds is written, not lost.
        let last_pts_ms = self.last_received.map_or(0.0, |(pts_ms, _)| pts_ms);
        self.end_tracks(&mut lag, EndReason::Stream, last_pts_ms);
        Ok(())
    }

    /// While a live source is away (stalled or reconnecting) for longer than a track can stay
    /// lost, its tracks end now, not when frames return: a watcher must not see people
    /// "present" through an outage, and a track cannot be continued across it anyway. A slow
    /// detector or a file that has been read to its end is no outage: the source is not
    /// reconnecting. False once a lossless sink has gone.
    fn end_tracks_during_outage(&mut self, lag: &mut FixedLag<Held>) -> bool {
        let Some((pts_ms, received_at)) = self.last_received else {
            return true;
        };
        let away_s = received_at.elapsed().as_secs_f64();
        let reconnecting = matches!(
            self.metrics.health.state(),
            SourceState::Stalled | SourceState::Connecting | SourceState::Backoff
        );
        if !reconnecting || away_s <= self.tracker.config().lost_timeout_s {
            return true;
        }
        self.end_tracks(lag, EndReason::Outage, pts_ms + away_s * 1000.0)
    }

    /// Writes what the lag holds, then ends every track at stream time `pts_ms` (and the
    /// tracker's memory of them: the frames after an outage start afresh, with new ids). False
    /// once a lossless sink has gone.
    fn end_tracks(&mut self, lag: &mut FixedLag<Held>, reason: EndReason, pts_ms: f64) -> bool {
        if !self.emit(lag.finish()) {
            return false;
        }
        let end = Arc::new(self.analyzer.end_all(reason, pts_ms));
        self.tracker.forget_tracks();
        (self.last_received, self.last_detected) = (None, None);
        self.metrics.active_tracks.set(0);
        if end.events.is_empty() {
            return true;
        }
        if reason == EndReason::Outage {
            tracing::info!(camera = %self.metrics.name, tracks = end.events.len(), "source away: its tracks end");
        }
        for sink in &self.sinks {
            send(sink, ToSink::End(end.clone()), &self.metrics);
        }
        true
    }

    /// Tracks one frame: with its detections, with those of the frame it is unchanged from,
    /// or (skipped by the budget, or unchanged from a frame that was never detected) by
    /// prediction alone. Returns the tracks, the detections used, and whether they were reused.
    fn track(
        &mut self,
        found: Option<Vec<Detection>>,
        meta: &FrameMeta,
    ) -> (Vec<Track>, Option<Vec<Detection>>, bool) {
        let (time_s, camera) = (meta.pts_ms / 1000.0, &meta.camera);
        if let Some(found) = found {
            let kept = self.privacy.filter_detections(self.filter.apply(found));
            let tracks = self.tracker.update_moved(&kept, time_s, camera);
            self.last_detected = Some((meta.number, kept.clone()));
            return (tracks, Some(kept), false);
        }
        match (&self.last_detected, meta.plan) {
            (Some((number, kept)), Plan::Unchanged { since }) if *number == since => {
                let kept = kept.clone();
                (
                    self.tracker.update_moved(&kept, time_s, camera),
                    Some(kept),
                    true,
                )
            }
            _ => (self.tracker.carry(time_s, camera), None, false),
        }
    }

    /// Sends tracked frames to every sink; false once a lossless sink has gone.
    fn emit(&mut self, frames: Vec<(Held, Vec<Track>)>) -> bool {
        for (held, tracks) in frames {
            let Held {
                mut frame,
                detections,
                unchanged,
                unseen,
            } = held;
            let detected = detections.is_some();
            let detections = detections.unwrap_or_default();
            let hidden = tracks.iter().map(|t| (t.class_id, t.bbox)).chain(unseen);
            // Before any sink sees the frame: a picture the filter failed on is released here,
            // so every sink below gets the frame without it.
            self.privacy
                .filter_frame(&mut frame, hidden, &self.metrics.name);
            let (events, scene) = self.analyzer.update(frame.meta.pts_ms, &tracks);
            self.metrics.active_tracks.set(tracks.len() as i64);
            let latency = frame.meta.captured_at.elapsed().as_secs_f64();
            // A copy without the picture only where some outputs draw and others do not: when
            // none draws, the detector has released the picture already.
            let mixed = self.sinks.iter().any(|s| s.needs_image)
                && self.sinks.iter().any(|s| !s.needs_image);
            let without_image = mixed.then(|| {
                let meta = frame.meta;
                Arc::new(TrackedFrame {
                    frame: Frame::unbudgeted(meta, Mat::default()),
                    detections: detections.clone(),
                    detected,
                    unchanged,
                    tracks: tracks.clone(),
                    events: events.clone(),
                    scene: scene.clone(),
                })
            });
            let mut with_image = Some(Arc::new(TrackedFrame {
                frame,
                detections,
                detected,
                unchanged,
                tracks,
                events,
                scene,
            }));
            // The last sink to get the frame itself is handed this stage's own reference: if it
            // is the only one, it may draw on the picture instead of a copy.
            let takes_image = |s: &SinkLink| s.needs_image || without_image.is_none();
            let last = self.sinks.iter().rposition(takes_image);
            for (k, sink) in self.sinks.iter().enumerate() {
                let out = match &without_image {
                    Some(light) if !sink.needs_image => Some(light.clone()),
                    _ if Some(k) == last => with_image.take(),
                    _ => with_image.clone(),
                };
                let Some(out) = out else { continue };
                if !send(sink, ToSink::Frame(out), &self.metrics) {
                    return false;
                }
            }
            self.metrics.latency.observe(latency);
            self.metrics.processed.inc();
            self.control.frames_done.fetch_add(1, Ordering::Relaxed);
            let mut samples = self.latency.lock().unwrap_or_else(|p| p.into_inner());
            if samples.len() < LATENCY_SAMPLES {
                samples.push((latency * 1000.0) as f32);
            }
        }
        true
    }
}

/// Hands a frame, or the events of ended tracks, to one sink as its policy says; false when a
/// lossless sink has gone.
fn send(sink: &SinkLink, message: ToSink, metrics: &CameraMetrics) -> bool {
    match sink.policy {
        SinkPolicy::Lossless => sink.tx.send(message).is_ok(),
        SinkPolicy::NeverBlock => {
            if let Err(TrySendError::Full(_)) = sink.tx.try_send(message) {
                metrics.frame_skipped(sink.kind);
            }
            true // a network output that went away never stops the stream
        }
    }
}

/// Writes every frame to a sink and finalises it whether or not the stream ended cleanly.
fn drain_into(sink: &mut dyn Sink, rx: &Receiver<ToSink>, registry: &Metrics) -> Result<()> {
    let stage = format!("output_{}", sink.kind());
    let mut result = Ok(());
    for message in rx {
        let started = Instant::now();
        result = match message {
            ToSink::Frame(mut frame) => match Arc::get_mut(&mut frame) {
                Some(owned) => sink.write_owned(owned),
                None => sink.write(&frame),
            },
            ToSink::End(end) => sink.write_end(&end),
        };
        registry.observe_stage(&stage, started.elapsed().as_secs_f64());
        if result.is_err() {
            break;
        }
    }
    let finished = sink.finish();
    tracing::debug!(sink = %sink.describe(), "finalised");
    result.and(finished)
}

/// Polls `control` while `run` works, for progress display; returns when `done` is set.
pub fn watch(control: &Control, done: &AtomicBool, mut tick: impl FnMut(u64)) {
    while !done.load(Ordering::Relaxed) {
        tick(control.frames_done.load(Ordering::Relaxed));
        thread::sleep(Duration::from_millis(100));
    }
}
