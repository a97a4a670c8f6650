//! The types that cross stage boundaries: frames with their timing, detections, and tracks.

use std::time::Instant;

use opencv::core::Mat;
use serde::Serialize;

use crate::geom::BBox;

/// Where and when a frame came from.
#[derive(Clone, Copy, Debug)]
pub struct FrameMeta {
    /// 0-based position in the pipeline: dense, the order frames are processed and written in.
    pub seq: u64,
    /// 1-based frame number as the source counts it (image sequences may start later or skip).
    pub number: u64,
    /// Presentation time from the source, in milliseconds since the stream's start. The tracker
    /// steps its motion model by differences of this, so dropped frames do not distort velocities.
    pub pts_ms: f64,
    /// Wall-clock time the frame was captured, for latency measurement.
    pub captured_at: Instant,
}

/// A decoded BGR image with its metadata.
pub struct Frame {
    pub meta: FrameMeta,
    pub image: Mat,
}

/// One object found by the detector, in source-image pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    pub class_id: usize,
}

/// Where a track is expected to be `dt_s` seconds after the frame it was reported with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    pub dt_s: f32,
    pub bbox: BBox,
    /// Covariance of the predicted box centre: `[sxx, sxy, syy]` in pixels².
    pub cov_xy: [f32; 3],
}

/// A confirmed object identity in one frame, as the tracker reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Stable identity, never reused within a run.
    pub id: u64,
    pub class_id: usize,
    /// Score of the detection that last updated the track.
    pub score: f32,
    pub bbox: BBox,
    /// Velocity of the box centre in pixels per second.
    pub velocity: [f32; 2],
    pub predicted: Vec<Prediction>,
}

/// A frame with the tracks the tracker reported for it: what every sink consumes.
pub struct TrackedFrame {
    pub frame: Frame,
    pub tracks: Vec<Track>,
}
