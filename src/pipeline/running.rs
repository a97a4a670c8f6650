//! One stream's threads, started and stopped as a unit: its sinks, its tracker and its capture.
//! The daemon's supervisor holds one [`RunningStream`] per camera and removes it alone.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::adaptive::{Every, Governed, Membership};
use super::budget::{self, PictureSlots};
use super::capture::{CameraFollow, Capture, Planner};
use super::core::FrameCore;
use super::fanout::{drain_into, SinkLink};
use super::intake::{Intake, QueueSpec, StreamId};
use super::track::{mask_channel, Tally, TrackStage};
use super::{lag_frames, Control, FromDetectors, Outcome, Route, Stream, Summary};
use crate::error::{Error, Result};
use crate::metrics::{CameraMetrics, Metrics, SourceState};

/// How long a capture thread blocked in a read is waited for after its stream stopped: past
/// it, the thread is left to end on its own (everything after it has drained already).
const CAPTURE_GRACE: Duration = Duration::from_secs(3);

/// The first error a stream (or the detector pool) hit; later ones are usually its consequences.
/// With a camera to report to (the daemon), that first error also marks the camera `failed`, with
/// a log line, when it happens rather than at shutdown.
#[derive(Default, Clone)]
pub(super) struct FirstError(Arc<Mutex<Option<Error>>>, Option<CameraMetrics>);

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

    pub fn take(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The error, said again (the original stays for whoever takes it).
    pub fn peek(&self) -> Option<Error> {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().map(|e| Error::internal(e.to_string()))
    }
}

pub(super) fn spawn(
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

/// What a stream takes from the pool it joins.
pub(super) struct PoolLink<'a> {
    pub intake: &'a Arc<Intake<Route>>,
    pub workers: usize,
    /// Set when the workers are gone.
    pub down: &'a Arc<AtomicBool>,
    pub registry: &'a Arc<Metrics>,
    /// The adaptive budget's membership, when it runs.
    pub budget: Option<Sender<Membership>>,
    /// The daemon: the stream's first error marks its camera `failed` at once.
    pub report_failures: bool,
}

/// A stream that runs: its threads, and what ends them.
pub struct RunningStream {
    name: String,
    id: StreamId,
    intake: Arc<Intake<Route>>,
    /// The stream's own stop (see [`Stream::stop`]).
    stop: Arc<AtomicBool>,
    /// Tells the tracker its tracks end because the camera is removed.
    removed: Arc<AtomicBool>,
    /// Tells the tracker its tracks go on elsewhere.
    handing_over: Arc<AtomicBool>,
    capture: Option<JoinHandle<()>>,
    others: Vec<JoinHandle<()>>,
    metrics: CameraMetrics,
    errors: FirstError,
    tally: Receiver<Tally>,
    /// The budget's membership, told when the stream leaves.
    budget: Option<Sender<Membership>>,
    started: Instant,
}

impl RunningStream {
    /// Starts the sink threads, then the tracker, then the capture, each handed its channels.
    pub(super) fn start(
        stream: Stream,
        control: &Arc<Control>,
        pool: PoolLink,
    ) -> Result<RunningStream> {
        let PoolLink {
            intake,
            workers,
            down: pool_down,
            registry,
            budget,
            report_failures,
        } = pool;
        let info = stream.source.info().clone();
        let held_back = lag_frames(stream.tracker.config().output_lag_s, info.fps);
        let limits = budget::limits(info.width, info.height, info.live, workers, held_back);
        let metrics = stream.metrics.clone();
        let errors = FirstError(Arc::default(), report_failures.then(|| metrics.clone()));
        let name = stream.name.clone();
        // The tracker's channel holds as many frames as may be in flight, so a worker's send to
        // it never waits.
        let (det_tx, det_rx) = bounded::<FromDetectors>(limits.in_flight);
        let keep_image = stream.sinks.iter().any(|s| s.needs_image());
        let camera = metrics.clone();
        let id = intake.join(
            QueueSpec {
                live: info.live,
                capacity: limits.queue,
                in_flight_limit: limits.in_flight,
            },
            |id| Route {
                id,
                tx: det_tx,
                keep_image,
                camera,
            },
        );
        let mut running = RunningStream {
            name: name.clone(),
            id,
            intake: intake.clone(),
            stop: stream.stop.clone(),
            removed: Arc::default(),
            handing_over: Arc::default(),
            capture: None,
            others: Vec::new(),
            metrics: metrics.clone(),
            errors: errors.clone(),
            tally: bounded(1).1,
            budget: None,
            started: Instant::now(),
        };
        // From here on, a failure to start a thread stops what has started (by `join`).
        let mut links = Vec::new();
        for (k, mut sink) in stream.sinks.into_iter().enumerate() {
            let (link, rx) = SinkLink::open(&*sink, limits.image_sink);
            links.push(link);
            let registry = registry.clone();
            let started = spawn(format!("sink-{name}-{k}"), &errors, move || {
                drain_into(&mut *sink, &rx, &registry)
            });
            running.keep(started)?;
        }

        let mode = stream.tracker.config().camera_motion;
        let (masks_tx, masks_rx) = mask_channel(mode);
        let lag = stream.tracker.config().fixed_lag();
        let core = FrameCore::new(lag, stream.privacy, stream.analyzer, &name);
        let mut stage = TrackStage {
            tracker: stream.tracker,
            filter: stream.filter,
            core,
            sinks: links,
            metrics: metrics.clone(),
            registry: registry.clone(),
            control: control.clone(),
            source: metrics.health.clone(),
            removed: running.removed.clone(),
            handing_over: running.handing_over.clone(),
            last_tracks: Vec::new(),
            snapshots: stream.snapshots,
            pool_down: pool_down.clone(),
            masks: masks_tx,
            tally: Tally::default(),
            last_detected: None,
            last_received: None,
        };
        let (tally_tx, tally_rx) = bounded(1);
        running.tally = tally_rx;
        let taker = intake.clone();
        let started = spawn(format!("track-{name}"), &errors, move || {
            stage.run(&det_rx, || taker.delivered(id));
            drop(det_rx);
            taker.abandon(id); // nothing more is wanted from this stream's capture
            let _ = tally_tx.send(std::mem::take(&mut stage.tally));
            Ok(())
        });
        running.keep(started)?;

        let floor = stream.schedule.detect_every.max(1);
        let every: Every = Arc::new(AtomicU64::new(floor));
        if let Some(tx) = &budget {
            let governed = Governed {
                every: every.clone(),
                floor,
                metrics: metrics.clone(),
            };
            let _ = tx.send(Membership::Join(id, governed));
        }
        running.budget = budget;
        let mut capture = Capture {
            id,
            source: stream.source,
            max_frames: stream.max_frames,
            max_fps: stream.max_fps,
            slots: PictureSlots::new(limits.pictures),
            camera: CameraFollow::new(mode, masks_rx),
            planner: Planner::new(stream.schedule, every),
            intake: intake.clone(),
            stop: stream.stop,
            metrics: metrics.clone(),
        };
        let started = spawn(format!("capture-{name}"), &errors, move || {
            let intake = capture.intake.clone();
            let _closed = CloseOnDrop(&intake, id); // even if the source panics
            let result = capture.run();
            // Live sources end only when stopped: anything else that ran out has ended.
            if result.is_ok() && !capture.stop.load(Ordering::Relaxed) {
                capture.metrics.set_state(SourceState::Ended, None);
            }
            result
        });
        match started {
            Ok(h) => running.capture = Some(h),
            Err(e) => {
                intake.close(id);
                running.wait();
                return Err(e);
            }
        }
        Ok(running)
    }

    /// Keeps a started thread; on a failure to start one, stops what has started.
    fn keep(&mut self, started: Result<JoinHandle<()>>) -> Result<()> {
        match started {
            Ok(h) => {
                self.others.push(h);
                Ok(())
            }
            Err(e) => {
                self.intake.close(self.id);
                self.intake.abandon(self.id);
                self.wait();
                Err(e)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether every thread of the stream has ended (a file that was read to its end, or a
    /// stream that failed).
    pub fn is_finished(&self) -> bool {
        self.capture.as_ref().is_none_or(JoinHandle::is_finished)
            && self.others.iter().all(JoinHandle::is_finished)
    }

    /// Ends the stream because its camera is removed (or replaced): the capture stops, what it
    /// had captured drains through the tracker, its tracks end with reason `removed`, its
    /// outputs are finalised. Returns once all of that is done.
    pub fn remove(self) -> Outcome {
        self.removed.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    /// Ends the stream here because another instance continues it: like `remove`, but its
    /// tracks do not end; the outcome carries them and the counts (`Summary::handed`).
    pub fn hand_over(self) -> Outcome {
        self.handing_over.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    /// Waits for the stream to end (its source's end, or a stop already asked) and releases
    /// its place in the pool.
    pub fn join(mut self) -> Outcome {
        self.wait()
    }

    fn wait(&mut self) -> Outcome {
        for h in self.others.drain(..) {
            let _ = h.join();
        }
        // The tracker is gone, so nothing takes frames: a capture still reading is told at its
        // next push. One blocked in a read of a silent source is waited for only briefly.
        if let Some(h) = self.capture.take() {
            let deadline = Instant::now() + CAPTURE_GRACE;
            while !h.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                tracing::warn!(camera = %self.name, "the source is still blocked in a read; its thread is left to end on its own");
            }
        }
        self.intake.leave(self.id);
        if let Some(tx) = self.budget.take() {
            let _ = tx.send(Membership::Leave(self.id));
        }
        let tally = self.tally.try_recv().unwrap_or_default();
        let m = &self.metrics;
        Outcome {
            summary: Summary {
                name: self.name.clone(),
                frames: m.processed.get(),
                seconds: self.started.elapsed().as_secs_f64(),
                tracks: tally.tracks,
                captured: m.captured.get(),
                dropped: m.dropped.get(),
                interrupted: self.stop.load(Ordering::Relaxed),
                line_totals: tally.line_totals,
                latency_ms: tally.latency_ms,
                handed: tally.handed,
            },
            error: self.errors.take(),
        }
    }
}

/// Tells the intake that a stream's capture is over, however its thread ends.
struct CloseOnDrop<'a>(&'a Intake<Route>, StreamId);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close(self.1);
    }
}
