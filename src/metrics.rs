//! Counters, gauges and latency histograms of every stream, in one Prometheus registry, and the
//! health of each camera's source. The pipeline, the sources and the sinks update them; the HTTP
//! endpoints (`/metrics`, `/healthz`) and the command-line summary read them.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use prometheus::{
    Counter, CounterVec, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::frame::Plan;

/// Where a camera's source stands. Each change is logged once and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// Opening the stream (first time or after a backoff).
    Connecting,
    /// Frames arrive.
    Streaming,
    /// No frame for `stall_timeout_s`, or the stream ended: about to reconnect.
    Stalled,
    /// Waiting before the next connection attempt.
    Backoff,
    /// Turned off in the configuration.
    Disabled,
    /// A finite input (a file) reached its end.
    Ended,
    /// The camera's pipeline stopped on an error it cannot retry.
    Failed,
}

impl SourceState {
    const ALL: [SourceState; 7] = [
        SourceState::Connecting,
        SourceState::Streaming,
        SourceState::Stalled,
        SourceState::Backoff,
        SourceState::Disabled,
        SourceState::Ended,
        SourceState::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SourceState::Connecting => "connecting",
            SourceState::Streaming => "streaming",
            SourceState::Stalled => "stalled",
            SourceState::Backoff => "backoff",
            SourceState::Disabled => "disabled",
            SourceState::Ended => "ended",
            SourceState::Failed => "failed",
        }
    }
}

/// Latency buckets in seconds: a few ms (one frame on a fast path) to 10 s (a stream far behind).
const LATENCY_BUCKETS: [f64; 14] = [
    0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Repeated problems of one camera logged line by line before only every thousandth is.
const LOGGED_ONE_BY_ONE: u64 = 3;

/// The process-wide registry and the metric families, labelled by camera.
pub struct Metrics {
    registry: Registry,
    captured: IntCounterVec,
    processed: IntCounterVec,
    dropped: IntCounterVec,
    undetected: IntCounterVec,
    detected: IntCounterVec,
    budget_skipped: IntCounterVec,
    gated: IntCounterVec,
    reconnects: IntCounterVec,
    state_changes: IntCounterVec,
    sink_errors: IntCounterVec,
    events_dropped: IntCounterVec,
    frames_skipped: IntCounterVec,
    recordings_deleted: IntCounterVec,
    detector_seconds: CounterVec,
    detect_every: IntGaugeVec,
    active_tracks: IntGaugeVec,
    latency: HistogramVec,
    stage: HistogramVec,
    /// Frames waiting for a detector, all cameras together.
    pub detector_queue: IntGauge,
    /// Runs of the network, all workers together: with `detector.batch`, fewer than frames
    /// detected (their ratio is the mean batch).
    pub detector_runs: IntCounter,
    cameras: Mutex<Vec<CameraMetrics>>,
}

/// A metric the registry refused (a name or label set it already has): a programming error,
/// reported rather than panicked on.
fn fail(e: prometheus::Error) -> Error {
    Error::internal(format!("metrics: {e}"))
}

impl Metrics {
    pub fn new() -> Result<Arc<Self>> {
        let registry = Registry::new();
        // A metric made and registered, or why not: the one way every metric below is built.
        fn registered<M: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            made: prometheus::Result<M>,
        ) -> Result<M> {
            let metric = made.map_err(fail)?;
            registry.register(Box::new(metric.clone())).map_err(fail)?;
            Ok(metric)
        }
        let counter = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let histogram = |name: &str, help: &str, label: &str| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            registered(&registry, HistogramVec::new(opts, &[label]))
        };
        let cam = &["camera"];
        let metrics = Self {
            captured: counter(
                "vigil_frames_captured_total",
                "Frames read from the source",
                cam,
            )?,
            processed: counter(
                "vigil_frames_processed_total",
                "Frames detected, tracked and handed to the outputs",
                cam,
            )?,
            dropped: counter(
                "vigil_frames_dropped_total",
                "Frames a live source dropped to keep latency bounded",
                cam,
            )?,
            undetected: counter(
                "vigil_frames_undetected_total",
                "Frames the detector could not take (passed on with nothing detected)",
                cam,
            )?,
            detected: counter(
                "vigil_frames_detected_total",
                "Frames the detector ran on",
                cam,
            )?,
            budget_skipped: counter(
                "vigil_frames_budget_skipped_total",
                "Frames the detection budget (detect_every) left to the tracker's prediction",
                cam,
            )?,
            gated: counter(
                "vigil_frames_gated_total",
                "Frames motion gating kept from the detector: nothing had changed since it last ran",
                cam,
            )?,
            reconnects: counter(
                "vigil_reconnects_total",
                "Times a live source was reopened after a failure or stall",
                cam,
            )?,
            state_changes: counter(
                "vigil_source_state_changes_total",
                "Source state changes, by the state entered",
                &["camera", "state"],
            )?,
            sink_errors: counter(
                "vigil_sink_errors_total",
                "Output failures (each is retried)",
                &["camera", "sink"],
            )?,
            events_dropped: counter(
                "vigil_events_dropped_total",
                "Events or messages dropped because a network output was away too long",
                &["camera", "sink"],
            )?,
            frames_skipped: counter(
                "vigil_sink_frames_skipped_total",
                "Frames a never-blocking output (network, preview) was not ready for",
                &["camera", "sink"],
            )?,
            recordings_deleted: counter(
                "vigil_recordings_deleted_total",
                "Recorded files deleted by retention, by reason (age: record.retain_days, disk: record.min_free_mb)",
                &["camera", "reason"],
            )?,
            detector_seconds: registered(
                &registry,
                CounterVec::new(
                    Opts::new(
                        "vigil_detector_seconds_total",
                        "Time the detector workers spent on this camera's frames (preprocess and inference)",
                    ),
                    cam,
                ),
            )?,
            detect_every: registered(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "vigil_detect_every",
                        "The detector runs on every Nth frame of this camera (the adaptive budget moves it)",
                    ),
                    cam,
                ),
            )?,
            active_tracks: registered(
                &registry,
                IntGaugeVec::new(
                    Opts::new("vigil_active_tracks", "Tracks reported in the latest frame"),
                    cam,
                ),
            )?,
            latency: histogram(
                "vigil_latency_seconds",
                "Capture-to-output latency of each frame",
                "camera",
            )?,
            stage: histogram(
                "vigil_stage_seconds",
                "Time each pipeline stage spends on one frame",
                "stage",
            )?,
            detector_queue: registered(
                &registry,
                IntGauge::new(
                    "vigil_detector_queue_depth",
                    "Frames waiting for a detector worker",
                ),
            )?,
            detector_runs: registered(
                &registry,
                IntCounter::new(
                    "vigil_detector_runs_total",
                    "Runs of the detector network (several frames each when batching)",
                ),
            )?,
            cameras: Mutex::new(Vec::new()),
            registry,
        };
        #[cfg(target_os = "linux")]
        metrics
            .registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .map_err(fail)?;
        Ok(Arc::new(metrics))
    }

    /// The metrics of one camera (created on first use; the same handles afterwards).
    pub fn camera(&self, name: &str) -> CameraMetrics {
        let mut cameras = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cameras.iter().find(|c| c.name == name) {
            return c.clone();
        }
        let l = &[name];
        let camera = CameraMetrics {
            name: name.to_string(),
            captured: self.captured.with_label_values(l),
            processed: self.processed.with_label_values(l),
            dropped: self.dropped.with_label_values(l),
            undetected: self.undetected.with_label_values(l),
            detected: self.detected.with_label_values(l),
            budget_skipped: self.budget_skipped.with_label_values(l),
            gated: self.gated.with_label_values(l),
            reconnects: self.reconnects.with_label_values(l),
            active_tracks: self.active_tracks.with_label_values(l),
            latency: self.latency.with_label_values(l),
            state_changes: self.state_changes.clone(),
            sink_errors: self.sink_errors.clone(),
            events_dropped: self.events_dropped.clone(),
            frames_skipped: self.frames_skipped.clone(),
            recordings_deleted: self.recordings_deleted.clone(),
            detector_seconds: self.detector_seconds.with_label_values(l),
            detect_every: self.detect_every.with_label_values(l),
            health: Arc::new(Health::new()),
        };
        for state in SourceState::ALL {
            // Every series exists from the start, so a scrape shows zeros rather than gaps.
            camera
                .state_changes
                .with_label_values(&[name, state.name()]);
        }
        cameras.push(camera.clone());
        camera
    }

    /// Every camera created so far, in creation order.
    pub fn cameras(&self) -> Vec<CameraMetrics> {
        self.cameras
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Time one stage spent on one frame.
    pub fn observe_stage(&self, stage: &str, seconds: f64) {
        self.stage.with_label_values(&[stage]).observe(seconds);
    }

    /// The mean time one frame spent in `stage` so far, in seconds; `None` before the first.
    pub fn stage_mean_s(&self, stage: &str) -> Option<f64> {
        let h = self.stage.with_label_values(&[stage]);
        (h.get_sample_count() > 0).then(|| h.get_sample_sum() / h.get_sample_count() as f64)
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!("metrics: cannot encode: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// One camera's handles into the registry, and its health. Cheap to clone; all clones share.
#[derive(Clone)]
pub struct CameraMetrics {
    pub name: String,
    pub captured: IntCounter,
    pub processed: IntCounter,
    pub dropped: IntCounter,
    undetected: IntCounter,
    detected: IntCounter,
    budget_skipped: IntCounter,
    gated: IntCounter,
    pub reconnects: IntCounter,
    pub active_tracks: IntGauge,
    pub latency: Histogram,
    state_changes: IntCounterVec,
    sink_errors: IntCounterVec,
    events_dropped: IntCounterVec,
    frames_skipped: IntCounterVec,
    recordings_deleted: IntCounterVec,
    detector_seconds: Counter,
    detect_every: IntGauge,
    pub health: Arc<Health>,
}

impl CameraMetrics {
    /// Records a state change: logged once (the detail says why), counted, shown by `/healthz`.
    pub fn set_state(&self, state: SourceState, detail: Option<&str>) {
        if !self.health.set(state, detail) {
            return;
        }
        self.state_changes
            .with_label_values(&[&self.name, state.name()])
            .inc();
        let camera = &self.name;
        let detail = detail.unwrap_or("");
        match state {
            SourceState::Stalled | SourceState::Backoff | SourceState::Failed => {
                tracing::warn!(camera, state = state.name(), "{detail}")
            }
            _ => tracing::info!(camera, state = state.name(), "{detail}"),
        }
    }

    /// Counts a frame the detector could not take. The first few are logged one by one, then
    /// one line per thousand, so a camera that keeps sending such frames cannot flood the log.
    pub fn frame_undetected(&self, frame: u64, reason: &dyn std::fmt::Display) {
        self.undetected.inc();
        let count = self.undetected.get();
        if count <= LOGGED_ONE_BY_ONE || count.is_multiple_of(1000) {
            let camera = &self.name;
            tracing::warn!(
                camera,
                frame,
                count,
                "frame skipped by the detector: {reason}"
            );
        }
    }

    pub fn recording_deleted(&self, reason: &str) {
        self.recordings_deleted
            .with_label_values(&[&self.name, reason])
            .inc();
    }

    /// Counts a frame the detector ran on, and the time it took.
    pub fn frame_detected(&self, seconds: f64) {
        self.detected.inc();
        self.detector_seconds.inc_by(seconds.max(0.0));
    }

    /// Time the detectors have spent on this camera's frames so far.
    pub fn detector_seconds(&self) -> f64 {
        self.detector_seconds.get()
    }

    pub fn set_detect_every(&self, every: u64) {
        self.detect_every.set(every as i64);
    }

    /// Counts a frame the detector did not see, by the reason its plan gives.
    pub fn frame_not_detected(&self, plan: Plan) {
        match plan {
            Plan::Detect => {}
            Plan::Budget => self.budget_skipped.inc(),
            Plan::Unchanged { .. } => self.gated.inc(),
        }
    }

    /// Frames the detector ran on, skipped by the budget, and kept from it by motion gating.
    pub fn detection_counts(&self) -> [u64; 3] {
        [
            self.detected.get(),
            self.budget_skipped.get(),
            self.gated.get(),
        ]
    }

    pub fn sink_error(&self, sink: &str) {
        self.sink_errors
            .with_label_values(&[&self.name, sink])
            .inc();
    }

    pub fn frame_skipped(&self, sink: &str) {
        self.frames_skipped
            .with_label_values(&[&self.name, sink])
            .inc();
    }

    pub fn events_dropped(&self, sink: &str, n: u64) {
        self.events_dropped
            .with_label_values(&[&self.name, sink])
            .inc_by(n);
    }
}

/// A camera's current state, since when, and the last problem its source or outputs reported.
pub struct Health {
    state: AtomicU8,
    detail: Mutex<HealthDetail>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HealthDetail {
    /// Seconds since the Unix epoch when the current state began.
    pub since_unix_s: f64,
    /// The last error (credentials redacted), kept after recovery for diagnosis.
    pub last_error: Option<String>,
    #[serde(skip)]
    pub since: Instant,
}

/// What `/healthz` shows of a camera.
#[derive(Clone, Debug, Serialize)]
pub struct HealthReport {
    pub state: SourceState,
    pub state_for_s: f64,
    #[serde(flatten)]
    pub detail: HealthDetail,
}

impl Health {
    fn new() -> Self {
        Self {
            state: AtomicU8::new(SourceState::Connecting as u8),
            detail: Mutex::new(HealthDetail {
                since_unix_s: unix_now(),
                last_error: None,
                since: Instant::now(),
            }),
        }
    }

    /// Whether the source is away: stalled, connecting or waiting to reconnect. What the track
    /// stage asks of this handle to end tracks during an outage.
    pub fn is_away(&self) -> bool {
        matches!(
            self.state(),
            SourceState::Stalled | SourceState::Connecting | SourceState::Backoff
        )
    }

    pub fn state(&self) -> SourceState {
        let v = self.state.load(Ordering::Relaxed);
        SourceState::ALL
            .into_iter()
            .find(|s| *s as u8 == v)
            .unwrap_or(SourceState::Failed)
    }

    /// True when the state changed. A detail given with a troubled state becomes `last_error`.
    fn set(&self, state: SourceState, detail: Option<&str>) -> bool {
        let mut d = self.detail.lock().unwrap_or_else(|p| p.into_inner());
        let troubled = matches!(
            state,
            SourceState::Stalled | SourceState::Backoff | SourceState::Failed
        );
        if troubled {
            if let Some(detail) = detail {
                d.last_error = Some(detail.to_string());
            }
        }
        if self.state.swap(state as u8, Ordering::Relaxed) == state as u8 {
            return false;
        }
        d.since = Instant::now();
        d.since_unix_s = unix_now();
        true
    }

    /// Records a problem that does not change the source's state (an output that failed).
    pub fn report_error(&self, message: &str) {
        let mut d = self.detail.lock().unwrap_or_else(|p| p.into_inner());
        d.last_error = Some(message.to_string());
    }

    pub fn report(&self) -> HealthReport {
        let detail = self
            .detail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        HealthReport {
            state: self.state(),
            state_for_s: detail.since.elapsed().as_secs_f64(),
            detail,
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_share_families_and_keep_their_own_series() {
        let m = Metrics::new().unwrap();
        let a = m.camera("a");
        let b = m.camera("b");
        a.captured.inc_by(3);
        b.captured.inc();
        m.camera("a").captured.inc();
        let text = m.encode();
        assert!(
            text.contains("vigil_frames_captured_total{camera=\"a\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("vigil_frames_captured_total{camera=\"b\"} 1"),
            "{text}"
        );
        assert_eq!(m.cameras().len(), 2);
    }

    #[test]
    fn undetected_frames_are_counted_per_camera() {
        let m = Metrics::new().unwrap();
        let gate = m.camera("gate");
        for frame in 0..5 {
            gate.frame_undetected(frame, &"empty picture");
        }
        let text = m.encode();
        assert!(
            text.contains("vigil_frames_undetected_total{camera=\"gate\"} 5"),
            "{text}"
        );
    }

    #[test]
    fn a_state_change_is_counted_once_and_keeps_the_last_error() {
        let m = Metrics::new().unwrap();
        let c = m.camera("gate");
        c.set_state(SourceState::Backoff, Some("refused"));
        c.set_state(SourceState::Backoff, Some("refused again"));
        c.set_state(SourceState::Streaming, None);
        let report = c.health.report();
        assert_eq!(report.state, SourceState::Streaming);
        assert_eq!(report.detail.last_error.as_deref(), Some("refused again"));
        let text = m.encode();
        assert!(
            text.contains("vigil_source_state_changes_total{camera=\"gate\",state=\"backoff\"} 1"),
            "{text}"
        );
    }
}
