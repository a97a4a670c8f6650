//! A stream's tracker thread: puts the workers' results back in order, tracks, passes each frame
//! through the stream's [`FrameCore`] (lag, privacy, analytics), and fans out to the sinks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::core::{for_sinks, FrameCore, Held};
use super::fanout::{SinkLink, ToSink};
use super::snapshot::{Snapshot, Snapshots};
use super::{Control, Detected, FromDetectors};
use crate::detect::DetectionFilter;
use crate::frame::{Detection, EndReason, FrameMeta, Plan, Track, TrackedFrame};
use crate::geom::BBox;
use crate::metrics::{CameraMetrics, Health, Metrics};
use crate::track::{CameraMotion, Tracker};

/// How often a tracker waiting for frames looks whether its source has gone away.
const OUTAGE_CHECK: Duration = Duration::from_millis(250);
/// Latencies kept per stream for the summary's percentiles (a few MB at most).
const LATENCY_SAMPLES: usize = 500_000;

/// What the track stage leaves for the stream's outcome.
#[derive(Default)]
pub(super) struct Tally {
    pub tracks: u64,
    pub latency_ms: Vec<f32>,
    pub line_totals: Vec<crate::analytics::LineTotal>,
    /// The camera's state at the end, when the stream was handed over (its tracks not ended).
    pub handed: Option<Snapshot>,
}

pub(super) struct TrackStage {
    pub tracker: Tracker,
    pub filter: DetectionFilter,
    pub core: FrameCore,
    pub sinks: Vec<SinkLink>,
    pub metrics: CameraMetrics,
    pub registry: Arc<Metrics>,
    pub control: Arc<Control>,
    /// The source's health, as the source itself reports it: whether it is away.
    pub source: Arc<Health>,
    /// Set when the camera is being removed: its tracks end with reason `removed`.
    pub removed: Arc<AtomicBool>,
    /// Set when the camera is handed over to another instance: its tracks do not end here,
    /// they go on there (`Tally::handed`).
    pub handing_over: Arc<AtomicBool>,
    /// The tracks of the latest frame.
    pub last_tracks: Vec<Track>,
    /// Cluster mode: where the camera's state is left for its next owner.
    pub snapshots: Option<Snapshots>,
    /// Set when the detector workers are gone: no frame will come.
    pub pool_down: Arc<AtomicBool>,
    /// Where the tracked boxes go back to capture, to mask them out of the camera-motion
    /// measurement (only with camera motion on).
    pub masks: Option<Sender<Vec<BBox>>>,
    pub tally: Tally,
    /// The source number of the last frame detected and what was kept of its detections: an
    /// unchanged frame after it (motion gating) sees the same.
    pub last_detected: Option<(u64, Vec<Detection>)>,
    /// The latest stream time the detectors delivered, and when: how long the source has been
    /// quiet.
    pub last_received: Option<(f64, Instant)>,
}

impl TrackStage {
    /// `delivered` tells the intake that a frame has left the workers for this tracker.
    pub fn run(&mut self, rx: &Receiver<FromDetectors>, delivered: impl Fn()) {
        let mut pending: BTreeMap<u64, Detected> = BTreeMap::new();
        let (mut next, mut end) = (0, None);
        loop {
            let message = match rx.recv_timeout(OUTAGE_CHECK) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    if self.pool_down.load(Ordering::Relaxed) || !self.end_tracks_during_outage() {
                        break; // no frame will come, or a sink failed (its error says why)
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
                let camera = item.frame.meta.camera;
                let started = Instant::now();
                let (tracks, detections, unchanged) = self.track(item.detections, &item.frame.meta);
                self.last_tracks.clone_from(&tracks);
                if let Some(masks) = &self.masks {
                    let _ = masks.try_send(tracks.iter().map(|t| t.bbox).collect());
                }
                self.registry
                    .observe_stage("tracking", started.elapsed().as_secs_f64());
                let held = Held {
                    frame: item.frame,
                    detections,
                    unchanged,
                    unseen: self.tracker.unseen(),
                };
                let out = self.core.push(held, tracks, &camera);
                if !self.emit(out) {
                    return; // a sink failed; its error says why
                }
                if let Some(mut ends) = self.snapshots.take() {
                    ends.offer(|| self.snapshot());
                    self.snapshots = Some(ends);
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
        self.tally.tracks = self.tracker.confirmed_count();
        if self.handing_over.load(Ordering::Relaxed) {
            // What the lag holds is written; the tracks themselves go on at the next owner.
            let held = self.core.flush();
            self.emit(held);
            self.tally.handed = Some(self.snapshot());
            self.tally.line_totals = self.core.totals();
            return;
        }
        // End of stream, a stop or a removal: what the lag still holds is written, not lost.
        let last_pts_ms = self.last_received.map_or(0.0, |(pts_ms, _)| pts_ms);
        let reason = if self.removed.load(Ordering::Relaxed) {
            EndReason::Removed
        } else {
            EndReason::Stream
        };
        self.end_tracks(reason, last_pts_ms);
        self.tally.tracks = self.tracker.confirmed_count();
        self.tally.line_totals = self.core.totals();
    }

    /// The camera's state now, as its next owner would go on from it.
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            next_id: self.tracker.confirmed_count() + 1,
            tracks: self.last_tracks.clone(),
            analytics: self.core.carry(),
        }
    }

    /// While a live source is away (stalled or reconnecting) for longer than a track can stay
    /// lost, its tracks end now, not when frames return: a watcher must not see people
    /// "present" through an outage, and a track cannot be continued across it anyway. A slow
    /// detector or a file that has been read to its end is no outage: the source is not
    /// reconnecting. False once a lossless sink has gone.
    fn end_tracks_during_outage(&mut self) -> bool {
        let Some((pts_ms, received_at)) = self.last_received else {
            return true;
        };
        let away_s = received_at.elapsed().as_secs_f64();
        if !self.source.is_away() || away_s <= self.tracker.config().lost_timeout_s {
            return true;
        }
        self.end_tracks(EndReason::Outage, pts_ms + away_s * 1000.0)
    }

    /// Writes what the lag holds, then ends every track at stream time `pts_ms` (and the
    /// tracker's memory of them: the frames after an outage start afresh, with new ids). False
    /// once a lossless sink has gone.
    fn end_tracks(&mut self, reason: EndReason, pts_ms: f64) -> bool {
        let held = self.core.flush();
        if !self.emit(held) {
            return false;
        }
        let end = Arc::new(self.core.end_all(reason, pts_ms));
        self.tracker.forget_tracks();
        (self.last_received, self.last_detected) = (None, None);
        self.metrics.active_tracks.set(0);
        if end.events.is_empty() {
            return true;
        }
        if reason != EndReason::Stream {
            tracing::info!(camera = %self.metrics.name, tracks = end.events.len(), reason = ?reason, "tracks end");
        }
        for sink in &self.sinks {
            sink.send(ToSink::End(end.clone()), &self.metrics);
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
            let kept = self.core.admit(self.filter.apply(found));
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

    /// Sends finished frames to every sink; false once a lossless sink has gone.
    fn emit(&mut self, frames: Vec<TrackedFrame>) -> bool {
        let needs_image: Vec<bool> = self.sinks.iter().map(|s| s.needs_image).collect();
        for frame in frames {
            self.metrics.active_tracks.set(frame.tracks.len() as i64);
            let latency = frame.frame.meta.captured_at.elapsed().as_secs_f64();
            for (sink, out) in self.sinks.iter().zip(for_sinks(frame, &needs_image)) {
                if !sink.send(ToSink::Frame(out), &self.metrics) {
                    return false;
                }
            }
            self.metrics.latency.observe(latency);
            self.metrics.processed.inc();
            self.control.frames_done.fetch_add(1, Ordering::Relaxed);
            if self.tally.latency_ms.len() < LATENCY_SAMPLES {
                self.tally.latency_ms.push((latency * 1000.0) as f32);
            }
        }
        true
    }
}

/// The camera-motion feedback channel, when the stream measures camera motion: one message
/// deep, the tracker's newest boxes replacing none (capture reads the latest it finds).
pub(super) fn mask_channel(mode: CameraMotion) -> (Option<Sender<Vec<BBox>>>, Receiver<Vec<BBox>>) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    ((mode != CameraMotion::Off).then_some(tx), rx)
}
