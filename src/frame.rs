//! The types that cross stage boundaries: frames with their timing, detections, and tracks.

use std::time::Instant;

use opencv::core::Mat;
use serde::Serialize;

use crate::geom::{Affine, BBox};
use crate::scene::SceneFrame;

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
    /// How the camera moved since the previous frame of the stream (its coordinates → this
    /// frame's), when camera motion is measured; the identity otherwise.
    pub camera: Affine,
    /// Whether the detector looks at this frame, decided at capture.
    pub plan: Plan,
}

/// Whether the detector looks at a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Plan {
    #[default]
    Detect,
    /// Left to the tracker's prediction by the detection budget (`detect_every`).
    Budget,
    /// Nothing has changed since frame `since` (source number) was detected: its detections
    /// still hold (motion gating).
    Unchanged { since: u64 },
}

/// A decoded BGR image with its metadata.
pub struct Frame {
    pub meta: FrameMeta,
    pub image: Mat,
    /// The picture's place in its stream's budget of decoded pictures (`pipeline::budget`),
    /// given back when the frame is dropped or its picture released.
    pub slot: PictureSlot,
}

impl Frame {
    /// A frame whose picture counts against no budget (tests, given detections, benchmarks).
    pub fn unbudgeted(meta: FrameMeta, image: Mat) -> Self {
        Self {
            meta,
            image,
            slot: PictureSlot::default(),
        }
    }

    /// Lets the picture go (no output of the stream draws): its memory and its slot are freed.
    pub fn release_image(&mut self) {
        self.image = Mat::default();
        self.slot = PictureSlot::default();
    }
}

/// A claim on one of a stream's picture slots; dropping it gives the slot back.
#[derive(Default)]
pub struct PictureSlot(Option<Box<dyn FnOnce() + Send + Sync>>);

impl PictureSlot {
    pub fn new(give_back: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(give_back)))
    }
}

impl Drop for PictureSlot {
    fn drop(&mut self) {
        if let Some(give_back) = self.0.take() {
            give_back();
        }
    }
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
    /// While the camera moves: where the object goes relative to the scene (the camera held
    /// still from now on), in this frame's coordinates, with its covariance. `bbox` and
    /// `cov_xy` are then where the box will be in the picture, the camera's own forecast motion
    /// and its uncertainty included.
    pub scene: Option<(BBox, [f32; 3])>,
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

/// What happened to a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The track was reported for the first time.
    TrackStarted,
    /// The track has not been seen for longer than the tracker can re-find it, or the stream ended.
    TrackEnded,
}

/// Tracks ended between frames: at the end of the stream, or when a live source has been
/// away longer than the tracker's lost timeout (the stream stopped; its tracks cannot go on).
#[derive(Clone, Debug)]
pub struct StreamEnd {
    pub reason: EndReason,
    /// Stream time of the end: the last frame's, or where the stream would be during an outage.
    pub pts_ms: f64,
    /// `track_ended` of every track alive.
    pub events: Vec<Event>,
    /// The `zone_exit` of those inside a zone.
    pub scene: SceneFrame,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// Every frame is in (or the run was stopped).
    Stream,
    /// The source is reconnecting: tracks after it are new ones.
    Outage,
    /// The camera was removed from the daemon, or replaced by a new configuration.
    Removed,
}

/// An event about one track, reported with the frame on which it was decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub id: u64,
    pub class_id: usize,
    /// When it happened: the frame's time for a start, the last sighting for an end.
    pub pts_ms: f64,
    pub first_pts_ms: f64,
    pub last_pts_ms: f64,
    /// Frames in which the track was reported.
    pub frames_seen: u64,
    pub first_bbox: BBox,
    pub last_bbox: BBox,
    /// Distance its box centre travelled, in pixels (sum over reported frames).
    pub path_px: f32,
}

/// A frame with the tracks the tracker reported for it and the events decided on it: what every
/// sink consumes.
pub struct TrackedFrame {
    pub frame: Frame,
    /// What the detector found in the frame, after the stream's own filter, before tracking.
    pub detections: Vec<Detection>,
    /// False on a frame the detector skipped (`detect_every`): its tracks are predictions.
    pub detected: bool,
    /// The picture had not changed since the detector last ran (motion gating): `detections`
    /// are that run's.
    pub unchanged: bool,
    pub tracks: Vec<Track>,
    pub events: Vec<Event>,
    /// What the configured lines and zones saw (empty without `[analytics]`).
    pub scene: SceneFrame,
}
