//! The contract between the HTTP endpoints and the daemon: what the endpoints are given to show
//! (`HttpState`, `CameraView`), what they may ask the daemon to do (`Cameras`), and how its
//! refusals become replies (`ApiError`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::metrics::{CameraMetrics, HealthReport, Metrics};
use crate::sink::Preview;

/// Everything the endpoints show.
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    /// When the daemon started, for `uptime_s`.
    pub started: Instant,
    /// The running cameras and what can be done to them.
    pub cameras: Arc<dyn Cameras>,
}

/// One camera as the endpoints show it.
#[derive(Clone)]
pub struct CameraView {
    pub name: String,
    /// The source's URL with credentials already redacted.
    pub source: String,
    pub enabled: bool,
    pub metrics: CameraMetrics,
    pub preview: Option<Arc<Preview>>,
}

/// What the daemon lets HTTP see and change. Implemented by the daemon's supervisor. Calls may
/// block (a camera being removed drains its frames): call them from `spawn_blocking`.
pub trait Cameras: Send + Sync + 'static {
    /// Every configured camera (disabled ones too), in name order.
    fn views(&self) -> Vec<CameraView>;
    /// Adds or replaces camera `name` from the JSON of a `[cameras.NAME]` section.
    fn put(&self, name: &str, section: serde_json::Value) -> Result<Applied, ApiError>;
    /// Stops and forgets camera `name`.
    fn delete(&self, name: &str) -> Result<(), ApiError>;
    /// Recent events, oldest first, as the same JSON objects MQTT publishes.
    fn events(&self, query: &EventQuery) -> Vec<serde_json::Value>;
    /// The shared detector pool's figures for `/api/stats` (queue depth, runs, busy share, …).
    fn pool(&self) -> serde_json::Value;
    /// Cluster mode: asks for camera `name` to move to instance `to` (a planned move).
    fn move_camera(&self, _name: &str, _to: &str) -> Result<(), ApiError> {
        Err(ApiError::BadRequest(
            "not in cluster mode: a camera has nowhere to move".into(),
        ))
    }
    /// The site's instances and camera owners for `/api/cluster`; `None` outside cluster mode.
    fn cluster(&self) -> Option<serde_json::Value> {
        None
    }
}

/// What `Cameras::put` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Created,
    Replaced,
}

/// Why the daemon refused an API request; each becomes its status and `{"error": message}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the message names the key as config errors do (`cameras.NAME.conf: …`).
    BadRequest(String),
    /// 404
    NotFound(String),
    /// 500
    Internal(String),
}

/// The filter of `GET /api/events`. The endpoint always passes `limit` set (the default or the
/// cap applied) and keeps only the newest `limit` of what `Cameras::events` returns.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct EventQuery {
    pub camera: Option<String>,
    /// The event's `type` field (`track_started`, `track_ended`, `line_crossed`, …).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only events whose `time` (Unix seconds) is after this.
    pub since: Option<f64>,
    /// At most this many, the newest ones (default 100, capped at 10,000).
    pub limit: Option<usize>,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &str {
        match self {
            ApiError::BadRequest(m) | ApiError::NotFound(m) | ApiError::Internal(m) => m,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(m) = &self {
            // The client sees the message too, but an operator reads the log.
            tracing::error!("http: {m}");
        }
        error(self.status(), self.message())
    }
}

/// `{"error": message}` with a status code: every refusal has this shape.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Runs a call into the daemon off the async workers: `Cameras` calls may block. A panic in
/// the call is the daemon's fault, reported as a 500.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("the daemon failed to answer: {e}")))
}

// ---------------------------------------------------------------------------------------------
// The health report, shared by `/healthz` and `/api/stats`

/// The body of `/healthz`: the contract monitoring relies on, so its shape never changes.
#[derive(Serialize)]
pub(super) struct Healthz {
    pub status: &'static str,
    pub uptime_s: f64,
    pub cameras: BTreeMap<String, CameraHealth>,
}

/// One camera in `/healthz`: its source's state, then its counters.
#[derive(Serialize)]
pub(super) struct CameraHealth {
    #[serde(flatten)]
    pub report: HealthReport,
    pub frames_captured: u64,
    pub frames_processed: u64,
    pub frames_dropped: u64,
    pub reconnects: u64,
    pub active_tracks: i64,
}

impl CameraHealth {
    pub fn of(camera: &CameraView) -> Self {
        let m = &camera.metrics;
        Self {
            report: m.health.report(),
            frames_captured: m.captured.get(),
            frames_processed: m.processed.get(),
            frames_dropped: m.dropped.get(),
            reconnects: m.reconnects.get(),
            active_tracks: m.active_tracks.get(),
        }
    }
}

impl Healthz {
    /// The cameras as they are now: one deleted a moment ago is not in it.
    pub fn new(started: Instant, cameras: &[CameraView]) -> Self {
        Self {
            status: "ok",
            uptime_s: started.elapsed().as_secs_f64(),
            cameras: cameras
                .iter()
                .map(|c| (c.name.clone(), CameraHealth::of(c)))
                .collect(),
        }
    }
}
