//! The JSON shapes of tracks and events, shared by every output that writes JSON (JSON Lines
//! files, MQTT), so a consumer parses the same fields wherever it reads them.

use std::time::SystemTime;

use serde::Serialize;

use crate::detect::Labels;
use crate::frame::{Event, EventKind, Prediction, Track};

/// One track in one frame.
#[derive(Serialize)]
pub struct TrackRecord<'a> {
    pub id: u64,
    pub class: &'a str,
    pub score: f32,
    /// `[x, y, w, h]`, top-left corner and size in pixels.
    pub bbox: [f32; 4],
    /// Box centre velocity, pixels per second.
    pub velocity: [f32; 2],
    pub predicted: Vec<PredictionRecord>,
}

#[derive(Serialize)]
pub struct PredictionRecord {
    pub dt_s: f32,
    pub bbox: [f32; 4],
    /// Covariance of the predicted centre, `[sxx, sxy, syy]` in pixels².
    pub cov_xy: [f32; 3],
}

impl From<&Prediction> for PredictionRecord {
    fn from(p: &Prediction) -> Self {
        Self {
            dt_s: p.dt_s,
            bbox: p.bbox.tlwh(),
            cov_xy: p.cov_xy,
        }
    }
}

impl<'a> TrackRecord<'a> {
    pub fn new(t: &Track, labels: &'a Labels) -> Self {
        Self {
            id: t.id,
            class: labels.name(t.class_id),
            score: t.score,
            bbox: t.bbox.tlwh(),
            velocity: t.velocity,
            predicted: t.predicted.iter().map(PredictionRecord::from).collect(),
        }
    }
}

/// One event: `track_started` or `track_ended`, with a summary of the track's path so far.
#[derive(Serialize)]
pub struct EventRecord<'a> {
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The camera's name (daemon); absent for `vigil track`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<&'a str>,
    pub id: u64,
    pub class: &'a str,
    /// Stream time of the event, ms.
    pub pts_ms: f64,
    /// Wall-clock time the event was written, seconds since the Unix epoch (UTC).
    pub time: f64,
    pub first_pts_ms: f64,
    pub last_pts_ms: f64,
    pub duration_s: f64,
    pub frames_seen: u64,
    /// `[x, y, w, h]` where the track was first and last seen.
    pub first_bbox: [f32; 4],
    pub last_bbox: [f32; 4],
    /// Distance the box centre travelled, pixels.
    pub path_px: f32,
}

impl<'a> EventRecord<'a> {
    pub fn new(e: &Event, labels: &'a Labels, camera: Option<&'a str>) -> Self {
        Self {
            kind: e.kind,
            camera,
            id: e.id,
            class: labels.name(e.class_id),
            pts_ms: round_ms(e.pts_ms),
            time: unix_time_s(),
            first_pts_ms: round_ms(e.first_pts_ms),
            last_pts_ms: round_ms(e.last_pts_ms),
            duration_s: ((e.last_pts_ms - e.first_pts_ms) / 1000.0).max(0.0),
            frames_seen: e.frames_seen,
            first_bbox: e.first_bbox.tlwh(),
            last_bbox: e.last_bbox.tlwh(),
            path_px: e.path_px,
        }
    }
}

/// Milliseconds to three decimals: enough for any frame rate, short to read.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Seconds since the Unix epoch, to the millisecond.
pub fn unix_time_s() -> f64 {
    let s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    (s * 1000.0).round() / 1000.0
}
