//! The detector workers every stream shares. Streams join (`attach`) and leave (when their
//! threads end) while the workers run: the daemon's cameras come and go; `track` and `bench`
//! attach theirs and then `seal` the pool, whose workers end with the last stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;
use opencv::core::Mat;
use opencv::prelude::*;
use serde::Serialize;

use super::adaptive::{Governor, Membership};
use super::intake::{Intake, Taken};
use super::running::{spawn, FirstError, PoolLink, RunningStream};
use super::{Control, Detected, FromDetectors, Route, Stream};
use crate::detect::{Detector, Failure, FrameDetections};
use crate::error::{Error, Result};
use crate::frame::{Detection, Frame, Plan};
use crate::metrics::Metrics;
use crate::preprocess::{InputSpec, Preprocessor};

/// The running detector workers.
pub struct Pool {
    intake: Arc<Intake<Route>>,
    /// Ends the workers: a shutdown, or a detector that failed (then every stream ends too).
    down: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    error: FirstError,
    registry: Arc<Metrics>,
    /// The adaptive detection budget's membership, when `cpu_target` is set.
    budget: Option<(Governor, Sender<Membership>)>,
    /// The daemon: a stream's failure is logged and shown as `failed` as it happens.
    report_failures: bool,
    runs: Arc<AtomicU64>,
    busy_s: Arc<Mutex<f64>>,
    started: Instant,
}

/// What `/api/stats` shows of the pool.
#[derive(Serialize)]
pub struct PoolStats {
    pub workers: usize,
    /// Frames waiting for a worker, all streams together.
    pub queue_depth: usize,
    /// Runs of the network since the pool started.
    pub runs: u64,
    /// The share of the workers' time spent detecting since the pool started (0–1).
    pub busy_share: f64,
    pub streams: usize,
}

/// Reads the pool's figures from anywhere.
#[derive(Clone)]
pub struct PoolGauge {
    intake: Arc<Intake<Route>>,
    workers: usize,
    runs: Arc<AtomicU64>,
    busy_s: Arc<Mutex<f64>>,
    started: Instant,
}

impl PoolGauge {
    pub fn read(&self) -> PoolStats {
        let busy = *self.busy_s.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = self.started.elapsed().as_secs_f64() * self.workers as f64;
        PoolStats {
            workers: self.workers,
            queue_depth: self.intake.depth(),
            runs: self.runs.load(Ordering::Relaxed),
            busy_share: if elapsed > 0.0 {
                (busy / elapsed).min(1.0)
            } else {
                0.0
            },
            streams: self.intake.streams(),
        }
    }
}

impl Pool {
    /// Starts one thread per detector. `cpu_target`: the adaptive detection budget's share of
    /// the CPU (0: off).
    pub fn start(
        detectors: Vec<Detector>,
        registry: Arc<Metrics>,
        cpu_target: f64,
        report_failures: bool,
    ) -> Result<Pool> {
        // Checked before any thread starts, so that a failure here leaves none behind.
        let spec = detectors
            .first()
            .map(Detector::input_spec)
            .ok_or_else(|| Error::internal("no detector"))?;
        let budget = if cpu_target > 0.0 {
            let (tx, rx) = crossbeam_channel::unbounded();
            let governor = Governor::start(cpu_target, rx)
                .map_err(|e| Error::internal(format!("cannot start the budget thread: {e}")))?;
            Some((governor, tx))
        } else {
            None
        };
        let mut pool = Pool {
            intake: Arc::new(Intake::new()),
            down: Arc::default(),
            workers: Vec::new(),
            error: FirstError::default(),
            registry,
            budget,
            report_failures,
            runs: Arc::default(),
            busy_s: Arc::default(),
            started: Instant::now(),
        };
        for (k, mut detector) in detectors.into_iter().enumerate() {
            let (intake, down, registry) = (
                pool.intake.clone(),
                pool.down.clone(),
                pool.registry.clone(),
            );
            let (runs, busy) = (pool.runs.clone(), pool.busy_s.clone());
            let body = move || {
                let worker = Worker {
                    intake: &intake,
                    down: &down,
                    registry: &registry,
                    runs: &runs,
                    busy_s: &busy,
                };
                let result = worker.run(&mut detector, spec);
                if result.is_err() {
                    // No detector, no run: every stream ends.
                    down.store(true, Ordering::Relaxed);
                    intake.fail();
                }
                result
            };
            match spawn(format!("detect-{k}"), &pool.error, body) {
                Ok(h) => pool.workers.push(h),
                Err(e) => {
                    pool.stop_workers();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// Workers in the pool.
    pub fn workers(&self) -> usize {
        self.workers.len().max(1)
    }

    /// Starts a stream on this pool: its capture, tracker and sink threads.
    pub fn attach(&self, stream: Stream, control: &Arc<Control>) -> Result<RunningStream> {
        if self.down.load(Ordering::Relaxed) {
            return Err(self
                .error
                .peek()
                .unwrap_or_else(|| Error::internal("the detector pool has stopped")));
        }
        let link = PoolLink {
            intake: &self.intake,
            workers: self.workers(),
            down: &self.down,
            registry: &self.registry,
            budget: self.budget.as_ref().map(|(_, tx)| tx.clone()),
            report_failures: self.report_failures,
        };
        RunningStream::start(stream, control, link)
    }

    /// No stream joins any more: the workers end once every attached stream has.
    pub fn seal(&self) {
        self.intake.seal();
    }

    /// A reader of the pool's figures, for `/api/stats`, that never waits for the pool's owner.
    pub fn gauge(&self) -> PoolGauge {
        PoolGauge {
            intake: self.intake.clone(),
            workers: self.workers(),
            runs: self.runs.clone(),
            busy_s: self.busy_s.clone(),
            started: self.started,
        }
    }

    fn stop_workers(&mut self) {
        self.down.store(true, Ordering::Relaxed);
        self.intake.fail();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }

    /// Seals the pool, waits for its workers (they end once every attached stream has: stop or
    /// remove those first) and returns the first detector error, if any.
    pub fn shutdown(mut self) -> Result<()> {
        self.intake.seal();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        self.budget.take();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.stop_workers();
        }
    }
}

/// One worker's view of the pool.
struct Worker<'a> {
    intake: &'a Intake<Route>,
    down: &'a AtomicBool,
    registry: &'a Metrics,
    runs: &'a AtomicU64,
    busy_s: &'a Mutex<f64>,
}

impl Worker<'_> {
    /// Takes frames from every stream in turn, preprocesses and detects, and hands each result
    /// to the frame's own stream.
    fn run(&self, detector: &mut Detector, spec: InputSpec) -> Result<()> {
        let mut pre = Preprocessor::new(spec);
        let (batch, wait) = detector.batching();
        loop {
            let taken = self.intake.take_batch(self.down, batch, wait);
            if taken.is_empty() {
                return Ok(());
            }
            self.registry.detector_queue.set(self.intake.depth() as i64);
            let mut to_detect = Vec::with_capacity(taken.len());
            for t in taken {
                match t {
                    Taken::End(route, seq) => {
                        let _ = route.tx.send(FromDetectors::End(seq));
                    }
                    Taken::Frame(route, seq, mut frame) => {
                        frame.meta.seq = seq;
                        if frame.meta.plan == Plan::Detect {
                            to_detect.push((route, frame));
                        } else {
                            route.camera.frame_not_detected(frame.meta.plan);
                            self.deliver(&route, frame, None);
                        }
                    }
                }
            }
            let (runs, started) = (detector.runs(), Instant::now());
            let results = detect_frames(detector, &mut pre, &to_detect)?;
            if !to_detect.is_empty() {
                *self.busy_s.lock().unwrap_or_else(|p| p.into_inner()) +=
                    started.elapsed().as_secs_f64();
            }
            self.registry.detector_runs.inc_by(detector.runs() - runs);
            self.runs
                .fetch_add(detector.runs() - runs, Ordering::Relaxed);
            for ((route, frame), result) in to_detect.into_iter().zip(results) {
                let detections = match result {
                    Ok((found, times)) => {
                        self.registry
                            .observe_stage("preprocess", times.preprocess_s);
                        self.registry.observe_stage("inference", times.inference_s);
                        route
                            .camera
                            .frame_detected(times.preprocess_s + times.inference_s);
                        found
                    }
                    // One unusable frame must not end the stream: it passes with nothing
                    // detected, so the tracker's order is kept.
                    Err(e) => {
                        route.camera.frame_detected(0.0);
                        route.camera.frame_undetected(frame.meta.number, &e);
                        Vec::new()
                    }
                };
                self.deliver(&route, frame, Some(detections));
            }
        }
    }

    /// Hands a stream's frame to its tracker (without its picture where no output draws); a
    /// tracker that has gone takes no more of the stream's frames.
    fn deliver(&self, route: &Route, mut frame: Frame, detections: Option<Vec<Detection>>) {
        if !route.keep_image {
            frame.release_image();
        }
        if route
            .tx
            .send(FromDetectors::Frame(Detected { frame, detections }))
            .is_err()
        {
            self.intake.abandon(route.id);
        }
    }
}

/// Detects in each frame, in order: whole frames together in one run of the network when the
/// detector batches, the others (tiled) one by one. An error for a frame that cannot be
/// detected; the call's error when the network fails.
fn detect_frames(
    detector: &mut Detector,
    pre: &mut Preprocessor,
    frames: &[(Route, Frame)],
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
