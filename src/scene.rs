//! What the analytics saw on a frame (`SceneFrame`: line crossings, zone visits, counts,
//! per-track speeds and forecast crossings), as every output receives it with the frame. Plain
//! data; `analytics` computes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::geom::{Polygon, Segment};

/// Which way a crossing went. With the line's points `a` → `b`, "in" goes from the side where
/// (bx−ax)(y−ay) − (by−ay)(x−ax) < 0 to the side where it is > 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// What a track did at a line or in a zone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SceneEventKind {
    LineCross(Direction),
    ZoneEnter,
    ZoneExit { dwell_s: f64 },
    Loiter { dwell_s: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SceneEvent {
    pub kind: SceneEventKind,
    /// The line or zone, by name.
    pub place: Arc<str>,
    pub id: u64,
    pub class_id: usize,
    pub pts_ms: f64,
    /// Box centre speed, pixels per second.
    pub speed_px_s: f64,
    /// Ground speed, with a homography.
    pub speed_m_s: Option<f64>,
}

/// The lines and zones of a stream, by name, for drawing and reporting.
#[derive(Debug, Default)]
pub struct Layout {
    pub lines: Vec<(Arc<str>, Segment)>,
    pub zones: Vec<(Arc<str>, Polygon)>,
}

/// A forecast that a track will cross a line.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossingForecast {
    pub line: Arc<str>,
    /// Seconds from this frame.
    pub in_s: f64,
    /// Standard deviation of `in_s`, from the forecast's position uncertainty.
    pub std_s: f64,
}

/// What the analytics add to one track in one frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrackInsight {
    pub id: u64,
    pub speed_m_s: Option<f64>,
    pub crossings: Vec<CrossingForecast>,
}

/// What the analytics saw on one frame; empty without `[analytics]`.
#[derive(Clone, Debug, Default)]
pub struct SceneFrame {
    pub events: Vec<SceneEvent>,
    pub layout: Arc<Layout>,
    /// `[in, out]` crossings so far, per line of the layout.
    pub line_counts: Vec<[u64; 2]>,
    /// Tracks inside each zone of the layout now, per class id.
    pub occupancy: Vec<BTreeMap<usize, u32>>,
    /// Tracks with a ground speed or a forecast crossing.
    pub insights: Vec<TrackInsight>,
}
