//! Wiring: capture → preprocess → detector workers → tracker → sinks, each a thread, joined by
//! bounded channels. End of stream is the closing of a channel and flows downstream; a failing
//! stage records its error and closes its channels, so every stage after it still drains and
//! every sink is finalised.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use ndarray::Array4;

use crate::detect::Detector;
use crate::error::{Error, Result};
use crate::frame::{Detection, Frame, FrameMeta, Track, TrackedFrame};
use crate::preprocess::{InputSpec, Letterbox, Preprocessor};
use crate::sink::Sink;
use crate::source::FrameSource;
use crate::track::Tracker;

/// Everything a run needs, already opened and validated, so that a run starts only when all
/// inputs and outputs are known to be good.
pub struct Pipeline {
    pub source: Box<dyn FrameSource>,
    /// One per inference worker.
    pub detectors: Vec<Detector>,
    pub input_spec: InputSpec,
    pub tracker: Tracker,
    pub sinks: Vec<Box<dyn Sink>>,
    pub max_frames: Option<u64>,
}

/// Shared between the pipeline and whoever watches it (the CLI's progress bar, signal handler).
#[derive(Default)]
pub struct Control {
    /// Set to end the stream early (Ctrl-C): capture stops, everything downstream drains.
    pub stop: AtomicBool,
    /// Frames that have passed the tracker.
    pub frames_done: AtomicU64,
    /// Frames a live source dropped to keep latency bounded.
    pub frames_dropped: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub frames: u64,
    pub seconds: f64,
    pub tracks: u64,
    pub dropped: u64,
    pub interrupted: bool,
}

impl Summary {
    pub fn fps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.frames as f64 / self.seconds
        } else {
            0.0
        }
    }
}

struct Preprocessed {
    frame: Frame,
    tensor: Array4<f32>,
    letterbox: Letterbox,
}

struct Detected {
    frame: Frame,
    detections: Vec<Detection>,
}

/// The first error any stage hit; later ones are usually its consequences.
#[derive(Default, Clone)]
struct FirstError(Arc<Mutex<Option<Error>>>);

impl FirstError {
    fn record(&self, stage: &str, result: Result<()>) {
        if let Err(e) = result {
            tracing::debug!(stage, error = %e, "stage failed");
            let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
    }

    fn take(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Pipeline {
    /// Runs to the end of the stream, a stop request, or the first error.
    pub fn run(self, control: Arc<Control>) -> Result<Summary> {
        let started = Instant::now();
        let errors = FirstError::default();
        let workers = self.detectors.len().max(1);
        let live = self.source.info().live;
        let (frame_tx, frame_rx) = bounded::<Frame>(4);
        let (pre_tx, pre_rx) = bounded::<Preprocessed>(2 * workers);
        let (det_tx, det_rx) = bounded::<Detected>(2 * workers + 2);

        let mut handles: Vec<JoinHandle<()>> = Vec::new();
        let mut spawn =
            |name: &str, errors: &FirstError, body: Box<dyn FnOnce() -> Result<()> + Send>| {
                let errors = errors.clone();
                let stage = name.to_string();
                let handle = thread::Builder::new()
                    .name(stage.clone())
                    .spawn(move || errors.record(&stage, body()))
                    .map_err(|e| Error::internal(format!("cannot start thread {name}: {e}")))?;
                handles.push(handle);
                Ok::<(), Error>(())
            };

        let (mut source, max_frames) = (self.source, self.max_frames);
        let (ctl, drop_rx) = (control.clone(), frame_rx.clone());
        spawn(
            "capture",
            &errors,
            Box::new(move || capture(&mut *source, max_frames, live, &frame_tx, &drop_rx, &ctl)),
        )?;

        let spec = self.input_spec;
        spawn(
            "preprocess",
            &errors,
            Box::new(move || preprocess(spec, &frame_rx, &pre_tx)),
        )?;

        for (i, mut detector) in self.detectors.into_iter().enumerate() {
            let (rx, tx) = (pre_rx.clone(), det_tx.clone());
            spawn(
                &format!("detect-{i}"),
                &errors,
                Box::new(move || detect(&mut detector, &rx, &tx)),
            )?;
        }
        drop((pre_rx, det_tx));

        let mut sink_txs = Vec::new();
        for (i, mut sink) in self.sinks.into_iter().enumerate() {
            let (tx, rx) = bounded::<Arc<TrackedFrame>>(8);
            sink_txs.push(tx);
            spawn(
                &format!("sink-{i}"),
                &errors,
                Box::new(move || drain_into(&mut *sink, &rx)),
            )?;
        }

        let mut tracker = self.tracker;
        let tracks_seen = Arc::new(AtomicU64::new(0));
        let (ctl, seen) = (control.clone(), tracks_seen.clone());
        spawn(
            "track",
            &errors,
            Box::new(move || {
                let result = track(&mut tracker, &det_rx, &sink_txs, &ctl);
                seen.store(tracker.confirmed_count(), Ordering::Relaxed);
                result
            }),
        )?;

        for h in handles {
            if h.join().is_err() {
                errors.record("join", Err(Error::internal("a pipeline thread panicked")));
            }
        }
        if let Some(e) = errors.take() {
            return Err(e);
        }
        Ok(Summary {
            frames: control.frames_done.load(Ordering::Relaxed),
            seconds: started.elapsed().as_secs_f64(),
            tracks: tracks_seen.load(Ordering::Relaxed),
            dropped: control.frames_dropped.load(Ordering::Relaxed),
            interrupted: control.stop.load(Ordering::Relaxed),
        })
    }
}

/// Reads frames until the end of the stream, `max_frames`, or a stop request. Files block when
/// the pipeline is busy (lossless); live sources drop their oldest queued frame instead, so the
/// frame that gets processed is always a recent one.
fn capture(
    source: &mut dyn FrameSource,
    max_frames: Option<u64>,
    live: bool,
    tx: &Sender<Frame>,
    queue: &Receiver<Frame>,
    control: &Control,
) -> Result<()> {
    let mut seq = 0;
    while !control.stop.load(Ordering::Relaxed) && max_frames.is_none_or(|m| seq < m) {
        let Some(raw) = source.next_frame()? else {
            return source.check_complete();
        };
        let meta = FrameMeta {
            seq,
            number: raw.index + 1,
            pts_ms: raw.pts_ms,
            captured_at: Instant::now(),
        };
        let mut frame = Frame {
            meta,
            image: raw.image,
        };
        seq += 1;
        if !live {
            if tx.send(frame).is_err() {
                return Ok(()); // downstream stopped; its error says why
            }
            continue;
        }
        loop {
            match tx.try_send(frame) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    frame = back;
                    if queue.try_recv().is_ok() {
                        control.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(TrySendError::Disconnected(_)) => return Ok(()),
            }
        }
    }
    Ok(())
}

fn preprocess(spec: InputSpec, rx: &Receiver<Frame>, tx: &Sender<Preprocessed>) -> Result<()> {
    let mut pre = Preprocessor::new(spec);
    for frame in rx {
        let (tensor, letterbox) = pre.run(&frame.image)?;
        if tx
            .send(Preprocessed {
                frame,
                tensor,
                letterbox,
            })
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

fn detect(
    detector: &mut Detector,
    rx: &Receiver<Preprocessed>,
    tx: &Sender<Detected>,
) -> Result<()> {
    for item in rx {
        let detections = detector.detect(&item.tensor, &item.letterbox)?;
        if tx
            .send(Detected {
                frame: item.frame,
                detections,
            })
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

/// Puts the workers' out-of-order results back in order, tracks, and fans out to the sinks.
fn track(
    tracker: &mut Tracker,
    rx: &Receiver<Detected>,
    sinks: &[Sender<Arc<TrackedFrame>>],
    control: &Control,
) -> Result<()> {
    let mut pending: BTreeMap<u64, Detected> = BTreeMap::new();
    let mut lag = tracker.config().fixed_lag::<Frame>();
    let mut next = 0;
    for item in rx {
        pending.insert(item.frame.meta.seq, item);
        while let Some(item) = pending.remove(&next) {
            next += 1;
            let time_s = item.frame.meta.pts_ms / 1000.0;
            let tracks = tracker.update(&item.detections, time_s);
            if !send_all(lag.push(time_s, item.frame, tracks), sinks, control) {
                return Ok(()); // a sink failed; its error says why
            }
        }
    }
    if !pending.is_empty() {
        // Only possible when a worker failed mid-stream: its error is already recorded.
        tracing::debug!(left = pending.len(), "frames left unordered at shutdown");
    }
    // End of stream or a stop: what the lag still holds is written, not lost.
    send_all(lag.finish(), sinks, control);
    Ok(())
}

/// Sends tracked frames to every sink; false once a sink has gone.
fn send_all(
    frames: Vec<(Frame, Vec<Track>)>,
    sinks: &[Sender<Arc<TrackedFrame>>],
    control: &Control,
) -> bool {
    for (frame, tracks) in frames {
        let out = Arc::new(TrackedFrame {
            frame,
            tracks,
            events: Vec::new(),
        });
        for sink in sinks {
            if sink.send(out.clone()).is_err() {
                return false;
            }
        }
        control.frames_done.fetch_add(1, Ordering::Relaxed);
    }
    true
}

/// Writes every frame to a sink and finalises it whether or not the stream ended cleanly.
fn drain_into(sink: &mut dyn Sink, rx: &Receiver<Arc<TrackedFrame>>) -> Result<()> {
    let mut result = Ok(());
    for frame in rx {
        result = sink.write(&frame);
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
