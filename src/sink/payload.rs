//! The JSON shapes of tracks and events, shared by every output that writes JSON (JSON Lines
//! files, MQTT), so a consumer parses the same fields wherever it reads them.

use std::time::SystemTime;

use serde::Serialize;

use crate::frame::{EndReason, Event, EventKind, Prediction, StreamEnd, Track};
use crate::labels::Labels;
use crate::scene::{SceneEvent, SceneEventKind, SceneFrame, TrackInsight};

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
    /// Ground speed, with `[analytics.homography]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_m_s: Option<f64>,
    /// Counting lines the forecast path crosses, and when.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub time_to_cross: Vec<CrossingRecord<'a>>,
}

/// A forecast line crossing: in `in_s` seconds (± `std_s`).
#[derive(Serialize)]
pub struct CrossingRecord<'a> {
    pub line: &'a str,
    pub in_s: f64,
    pub std_s: f64,
}

#[derive(Serialize)]
pub struct PredictionRecord {
    pub dt_s: f32,
    pub bbox: [f32; 4],
    /// Covariance of the predicted centre, `[sxx, sxy, syy]` in pixels².
    pub cov_xy: [f32; 3],
    /// While the camera moves: where the object goes relative to the scene (the camera held
    /// still), `bbox` and `cov_xy` above being where it will be in the picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene: Option<SceneForecastRecord>,
}

#[derive(Serialize)]
pub struct SceneForecastRecord {
    pub bbox: [f32; 4],
    pub cov_xy: [f32; 3],
}

impl From<&Prediction> for PredictionRecord {
    fn from(p: &Prediction) -> Self {
        Self {
            dt_s: p.dt_s,
            bbox: p.bbox.tlwh(),
            cov_xy: p.cov_xy,
            scene: p.scene.map(|(bbox, cov_xy)| SceneForecastRecord {
                bbox: bbox.tlwh(),
                cov_xy,
            }),
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
            speed_m_s: None,
            time_to_cross: Vec::new(),
        }
    }

    /// The tracks of a frame with what the analytics add to each.
    pub fn all(tracks: &[Track], scene: &'a SceneFrame, labels: &'a Labels) -> Vec<Self> {
        tracks
            .iter()
            .map(|t| {
                let mut record = Self::new(t, labels);
                if let Some(i) = scene.insights.iter().find(|i| i.id == t.id) {
                    record.add(i);
                }
                record
            })
            .collect()
    }

    fn add(&mut self, insight: &'a TrackInsight) {
        self.speed_m_s = insight.speed_m_s.map(round_2);
        self.time_to_cross = insight
            .crossings
            .iter()
            .map(|c| CrossingRecord {
                line: &c.line,
                in_s: round_2(c.in_s),
                std_s: round_2(c.std_s),
            })
            .collect();
    }
}

fn round_2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
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
    /// Why a track ended between frames: `stream`, `outage` or `removed` (the camera was
    /// removed or replaced); absent on events decided on a frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
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
            reason: None,
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

/// What a track did at a line or in a zone: `line_cross`, `zone_enter`, `zone_exit`, `loiter`.
#[derive(Serialize)]
pub struct SceneEventRecord<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<&'a str>,
    pub id: u64,
    pub class: &'a str,
    /// `in` or `out`, for a line crossing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    pub pts_ms: f64,
    pub time: f64,
    /// Seconds inside the zone, for `zone_exit` and `loiter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dwell_s: Option<f64>,
    /// At a line crossing: box centre speed in pixels per second, and on the ground with a
    /// homography.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_px_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_m_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_kmh: Option<f64>,
}

impl<'a> SceneEventRecord<'a> {
    pub fn new(e: &'a SceneEvent, labels: &'a Labels, camera: Option<&'a str>) -> Self {
        let (kind, direction, dwell_s) = match e.kind {
            SceneEventKind::LineCross(d) => ("line_cross", Some(d.as_str()), None),
            SceneEventKind::ZoneEnter => ("zone_enter", None, None),
            SceneEventKind::ZoneExit { dwell_s } => ("zone_exit", None, Some(round_2(dwell_s))),
            SceneEventKind::Loiter { dwell_s } => ("loiter", None, Some(round_2(dwell_s))),
        };
        let at_line = direction.is_some();
        Self {
            kind,
            camera,
            line: at_line.then_some(&*e.place),
            zone: (!at_line).then_some(&*e.place),
            id: e.id,
            class: labels.name(e.class_id),
            direction,
            pts_ms: round_ms(e.pts_ms),
            time: unix_time_s(),
            dwell_s,
            speed_px_s: at_line.then(|| round_2(e.speed_px_s)),
            speed_m_s: e.speed_m_s.filter(|_| at_line).map(round_2),
            speed_kmh: e.speed_m_s.filter(|_| at_line).map(|v| round_2(v * 3.6)),
        }
    }
}

/// Any event, as JSON outputs list them: a track's lifecycle or what it did in the scene.
#[derive(Serialize)]
#[serde(untagged)]
pub enum AnyEventRecord<'a> {
    Track(EventRecord<'a>),
    Scene(SceneEventRecord<'a>),
}

impl<'a> AnyEventRecord<'a> {
    /// The lifecycle events of a frame, then its scene events.
    pub fn all(
        events: &'a [Event],
        scene: &'a SceneFrame,
        labels: &'a Labels,
        camera: Option<&'a str>,
    ) -> Vec<Self> {
        let track = events
            .iter()
            .map(|e| Self::Track(EventRecord::new(e, labels, camera)));
        let place = scene
            .events
            .iter()
            .map(|e| Self::Scene(SceneEventRecord::new(e, labels, camera)));
        track.chain(place).collect()
    }

    /// The events of tracks ended between frames, each track's saying why.
    pub fn ended(end: &'a StreamEnd, labels: &'a Labels, camera: Option<&'a str>) -> Vec<Self> {
        let mut all = Self::all(&end.events, &end.scene, labels, camera);
        for record in &mut all {
            if let Self::Track(r) = record {
                r.reason = Some(end.reason);
            }
        }
        all
    }
}
