//! The multi-object tracker: ByteTrack's association rounds over a time-stepped Kalman filter.
//!
//! Every frame:
//! 1. carry every live track along with the camera, if it moved (its state into this frame's
//!    coordinates), then predict it forward by the real time since the previous frame;
//! 2. match confirmed and lost tracks to the high-score detections (IoU fused with score);
//! 3. match the still-unmatched *tracked* tracks to the low-score detections — the boxes of
//!    partly occluded objects that a one-threshold tracker throws away; unmatched ones become lost;
//! 4. match tentative tracks (born last frame) to the high-score leftovers; unmatched ones die;
//! 5. start tentative tracks from the remaining sure detections;
//! 6. forget tracks lost for longer than `lost_timeout_s`, and drop a lost track that duplicates a
//!    tracked one.
//!
//! A track gets its public ID when it is confirmed, so IDs are dense and never reused.

use serde::Deserialize;

use super::assign::{assign, Assignment};
use super::kalman::{KalmanBox, KalmanNoise};
use super::lag::FixedLag;
use super::reupdate::replay_gap;
use crate::frame::{Detection, Track};
use crate::geom::{Affine, BBox};
use crate::predict::{
    self, CameraForecast, DefaultLookAhead, LookAhead, PictureRecord, ScenePrior,
};

/// The largest coordinate (in pixels) of a box the tracker follows. Anything beyond is a
/// detector's garbage, not an object in a picture, and squared in the Kalman filter's `f32`
/// arithmetic it would overflow to infinite boxes (found by the property tests).
pub const MAX_COORDINATE: f32 = 1e6;

/// `b` enlarged by `buffer` of its width and height on each side (C-BIoU's buffered box).
fn buffered(b: &BBox, buffer: f32) -> BBox {
    if buffer <= 0.0 {
        return *b;
    }
    let (dw, dh) = (buffer * b.width(), buffer * b.height());
    BBox::new(b.x1 - dw, b.y1 - dh, b.x2 + dw, b.y2 + dh)
}

/// A box that is finite, not inside out, and within `MAX_COORDINATE`.
fn trackable(b: &BBox) -> bool {
    let within = |v: f32| v.abs() <= MAX_COORDINATE; // false for NaN too
    within(b.x1) && within(b.y1) && within(b.x2) && within(b.y2) && b.x2 >= b.x1 && b.y2 >= b.y1
}

/// Tracker parameters; every field has a documented default (`[tracker]` in the config).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// Detections at or above this score take part in the first association round.
    pub high_score: f32,
    /// Detections between this and `high_score` take part in the second round only.
    pub low_score: f32,
    /// An unmatched detection must score at least this to start a track.
    pub new_track_score: f32,
    /// Highest cost (1 − IoU·score) accepted in the first round.
    pub match_cost: f32,
    /// Highest cost (1 − IoU) accepted when matching low-score detections.
    pub low_match_cost: f32,
    /// Highest cost accepted when confirming a tentative track.
    pub tentative_match_cost: f32,
    /// How long a lost track may be re-found before it is forgotten, in seconds.
    pub lost_timeout_s: f64,
    /// Buffered IoU (C-BIoU): every box is enlarged by this fraction of its width and height on
    /// each side before the overlap that matching scores is measured, so an object that moved
    /// farther than its size between frames (fast, close, or a low frame rate) still overlaps
    /// its track. 0 = plain IoU.
    pub match_buffer: f64,
    /// The buffer grows by this much per second the track has gone unseen (for both boxes of
    /// the pair): the longer it was hidden, the farther from its prediction it may reappear.
    pub match_buffer_per_s: f64,
    /// How far ahead to forecast each track, in seconds (by `predict`'s look-ahead, never by
    /// advancing the association filter).
    pub horizons_s: Vec<f32>,
    /// The look-ahead's weights when fitted elsewhere (`vigil eval-predict
    /// --look-ahead-weights`); not a config key: the compiled ones otherwise.
    #[serde(skip)]
    pub look_ahead_weights: Option<std::sync::Arc<crate::predict::LookAheadWeights>>,
    /// Position noise as a fraction of box size per `noise_reference_s`.
    pub position_noise: f64,
    /// Velocity noise as a fraction of box size per `noise_reference_s`.
    pub velocity_noise: f64,
    /// The interval the noise weights are per: `"frame"` (one frame of the source at its
    /// nominal rate, as ByteTrack's weights are meant), or a fixed number of seconds.
    pub noise_reference_s: NoiseReference,
    /// When a track is found again after missed frames, re-run its filter along a straight line
    /// from its last observation to the new one (OC-SORT's observation-centric re-update), so the
    /// velocity reflects where the object went rather than the drift of blind prediction.
    pub reupdate_after_occlusion: bool,
    /// Stop extrapolating width and height of lost tracks (ByteTrack does so for height).
    pub freeze_size_while_lost: bool,
    /// Keep reporting a lost track, at its predicted position, for this long after it was last
    /// seen: objects briefly hidden stay on screen and in the outputs (0 disables).
    pub coast_s: f64,
    /// Hold each frame's tracks this long before writing them, to fill gaps closed meanwhile and
    /// smooth boxes with what came after (see `FixedLag`); 0 = online. Replaces coasting.
    pub output_lag_s: f64,
    /// With a lag: standard deviation of the Gaussian that smooths boxes over time, in seconds
    /// (0 = fill gaps only).
    pub smoothing_s: f64,
    /// Follow the camera's own motion, measured from the frames of a video or camera (`on`; `auto`
    /// stops measuring a camera found still, and checks it now and then), or not (`off`).
    /// Tracking given detections reads it from a file instead.
    pub camera_motion: CameraMotion,
}

/// Whether the tracker follows the camera's own motion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraMotion {
    /// A fixed camera (the default): nothing to measure.
    #[default]
    Off,
    /// A moving camera (handheld, vehicle, PTZ, wind): measure its motion on every frame.
    On,
    /// Measure until the camera is found still, then only now and then, until it moves again:
    /// a fixed camera costs next to nothing, one that starts to pan is followed.
    Auto,
}

/// What the Kalman noise weights are relative to. Either way the noise grows with the time
/// elapsed, so a skipped frame adds the uncertainty of the frames it stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "RawNoiseReference")]
pub enum NoiseReference {
    /// One frame interval of the source (the default). Measured: at 14 fps (MOT17-05) the weights
    /// per frame track 2.0 HOTA better than the same weights per 1/30 s, and MOT15's frame rates
    /// (7–30 fps) gain 0.2 together; at 30 fps the two are the same (docs/TRACKER.md).
    #[default]
    Frame,
    /// A fixed interval, in seconds: the same noise per second at every frame rate.
    Seconds(f64),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawNoiseReference {
    Seconds(f64),
    Word(String),
}

impl TryFrom<RawNoiseReference> for NoiseReference {
    type Error = String;
    fn try_from(raw: RawNoiseReference) -> Result<Self, String> {
        match raw {
            RawNoiseReference::Seconds(s) => Ok(Self::Seconds(s)),
            RawNoiseReference::Word(w) if w == "frame" => Ok(Self::Frame),
            RawNoiseReference::Word(w) => Err(format!(
                "\"{w}\" is neither \"frame\" nor a number of seconds"
            )),
        }
    }
}

impl NoiseReference {
    /// The interval in seconds, for a source running at `fps` frames a second.
    fn seconds(self, fps: f64) -> f64 {
        match self {
            Self::Frame if fps.is_finite() && fps > 0.0 => 1.0 / fps,
            Self::Frame => KalmanNoise::default().reference_dt,
            Self::Seconds(s) => s,
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        let noise = KalmanNoise::default();
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            match_cost: 0.8,
            low_match_cost: 0.5,
            tentative_match_cost: 0.7,
            lost_timeout_s: 1.0,
            match_buffer: 0.0,
            match_buffer_per_s: 0.0,
            horizons_s: vec![0.5, 1.0, 2.0],
            look_ahead_weights: None,
            position_noise: noise.position,
            velocity_noise: noise.velocity,
            noise_reference_s: NoiseReference::Frame,
            reupdate_after_occlusion: true,
            freeze_size_while_lost: true,
            coast_s: 0.1,
            output_lag_s: 0.0,
            smoothing_s: 0.067,
            camera_motion: CameraMotion::Off,
        }
    }
}

impl TrackerConfig {
    fn noise(&self, fps: f64) -> KalmanNoise {
        KalmanNoise {
            position: self.position_noise,
            velocity: self.velocity_noise,
            reference_dt: self.noise_reference_s.seconds(fps),
        }
    }

    /// The output stage that goes with these settings.
    pub fn fixed_lag<T>(&self) -> FixedLag<T> {
        FixedLag::new(self.output_lag_s, self.smoothing_s)
    }

    /// Checks ranges; the error names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let unit = [
            ("high_score", self.high_score),
            ("low_score", self.low_score),
            ("new_track_score", self.new_track_score),
            ("match_cost", self.match_cost),
            ("low_match_cost", self.low_match_cost),
            ("tentative_match_cost", self.tentative_match_cost),
        ];
        for (key, v) in unit {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("tracker.{key} = {v} must be within [0, 1]"));
            }
        }
        if self.low_score > self.high_score {
            return Err(format!(
                "tracker.low_score = {} must not exceed tracker.high_score = {}",
                self.low_score, self.high_score
            ));
        }
        let positive = [
            ("lost_timeout_s", self.lost_timeout_s),
            ("position_noise", self.position_noise),
            ("velocity_noise", self.velocity_noise),
            ("noise_reference_s", self.noise_reference_s.seconds(30.0)),
        ];
        let non_negative = [
            ("match_buffer", self.match_buffer),
            ("match_buffer_per_s", self.match_buffer_per_s),
            ("coast_s", self.coast_s),
            ("output_lag_s", self.output_lag_s),
            ("smoothing_s", self.smoothing_s),
        ];
        for (key, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "tracker.{key} = {v} must be zero or a positive number"
                ));
            }
        }
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("tracker.{key} = {v} must be a positive number"));
            }
        }
        validate_horizons(&self.horizons_s).map_err(|e| format!("tracker.horizons_s: {e}"))
    }
}

/// The most look-ahead horizons a track carries: each is a box in every track of every frame
/// written, and a few spread over the next seconds are what a path needs.
const MAX_HORIZONS: usize = 16;
/// The farthest look-ahead, in seconds; past it the forecast is the object's standing still.
const MAX_HORIZON_S: f32 = 600.0;

/// Horizons must rise (a forecast path is read in order, and a time to crossing interpolates
/// between its steps), each within (0, `MAX_HORIZON_S`], and be at most `MAX_HORIZONS`.
pub(crate) fn validate_horizons(horizons_s: &[f32]) -> Result<(), String> {
    if let Some(h) = horizons_s
        .iter()
        .find(|h| !(**h > 0.0 && **h <= MAX_HORIZON_S))
    {
        return Err(format!(
            "{h} is not a horizon: each must be more than 0 and at most {MAX_HORIZON_S} seconds"
        ));
    }
    if let Some(pair) = horizons_s.windows(2).find(|pair| pair[1] <= pair[0]) {
        return Err(format!(
            "{} after {}: horizons must rise, each once",
            pair[1], pair[0]
        ));
    }
    if horizons_s.len() > MAX_HORIZONS {
        return Err(format!(
            "{} horizons, at most {MAX_HORIZONS}",
            horizons_s.len()
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Born from one detection; must be matched in the next frame to be confirmed.
    Tentative,
    /// Confirmed and matched in the latest frame.
    Tracked,
    /// Confirmed but unmatched since `last_seen_s`; kept to bridge occlusions.
    Lost,
}

#[derive(Clone, Debug)]
struct LiveTrack {
    id: Option<u64>,
    phase: Phase,
    kf: KalmanBox,
    class_id: usize,
    score: f32,
    born_s: f64,
    last_seen_s: f64,
    /// The last matched detection's box, and the filter as it was right after that update.
    last_observation: BBox,
    filter_at_observation: KalmanBox,
    /// Frames since the last observation, counting the current one.
    frames_since_observation: u32,
    /// The look-ahead, fed the matched detections; separate from the association filter. None
    /// without horizons: a tracker asked for no forecasts does not pay for them.
    look_ahead: Option<DefaultLookAhead>,
    /// While the camera moves: how its forecasts did in the picture.
    picture: PictureRecord,
}

impl LiveTrack {
    /// Moves everything this track knows of where it was into the coordinates of a camera that
    /// moved by `camera`, so prediction and the re-update after an occlusion work in this frame.
    fn follow_camera(&mut self, camera: &Affine) {
        if camera.is_identity() {
            return;
        }
        self.kf.warp(camera);
        self.filter_at_observation.warp(camera);
        self.last_observation = camera.apply_box(&self.last_observation);
        if let Some(look_ahead) = &mut self.look_ahead {
            look_ahead.follow_camera(camera);
        }
    }

    fn bbox(&self) -> BBox {
        let [cx, cy, w, h] = self.kf.state_box();
        BBox::from_cxcywh(cx as f32, cy as f32, w as f32, h as f32)
    }
}

pub struct Tracker {
    config: TrackerConfig,
    noise: KalmanNoise,
    tracks: Vec<LiveTrack>,
    next_id: u64,
    last_time_s: Option<f64>,
    /// Tracks handed over by the camera's previous owner, taken in at the first frame.
    adopted: Vec<Track>,
    /// The camera's own motion, forecast: the tracks' forecasts are carried through it while
    /// the camera moves.
    camera: CameraForecast,
    /// What its tracks' records have learned of the scene: where a new track's starts.
    scene: ScenePrior,
    /// The same of their records in the picture, while the camera moves.
    picture_scene: ScenePrior,
}

impl Tracker {
    /// A tracker for a source whose nominal frame rate is `fps` (what "one frame" of the noise
    /// weights means; times themselves always come with each frame).
    pub fn new(config: TrackerConfig, fps: f64) -> Self {
        let noise = config.noise(fps);
        Self {
            config,
            noise,
            tracks: Vec::new(),
            next_id: 1,
            last_time_s: None,
            adopted: Vec::new(),
            camera: CameraForecast::default(),
            scene: ScenePrior::default(),
            picture_scene: ScenePrior::default(),
        }
    }

    /// Continues tracks another tracker of this camera was following (a planned hand-over
    /// between instances): they are taken in, confirmed with their ids, at the first frame, so
    /// that the detections there match them as if the camera had never moved.
    pub fn continue_tracks(&mut self, tracks: Vec<Track>) {
        self.adopted = tracks;
    }

    /// The handed-over tracks, as confirmed tracks last seen at `time_s`.
    fn take_in_adopted(&mut self, time_s: f64) {
        for t in std::mem::take(&mut self.adopted) {
            let det = Detection {
                bbox: t.bbox,
                score: t.score,
                class_id: t.class_id,
            };
            self.spawn(&det, time_s, false);
            if let Some(live) = self.tracks.last_mut() {
                live.id = Some(t.id);
                live.phase = Phase::Tracked;
            }
            self.next_id = self.next_id.max(t.id + 1);
        }
    }

    /// Numbers new tracks from `first` on (when higher than where they stand): a camera taken
    /// over from another instance continues above every id used there.
    pub fn continue_ids_from(&mut self, first: u64) {
        self.next_id = self.next_id.max(first);
    }

    /// Forgets every track (ids go on from where they were): the stream stopped, and what
    /// comes after is not a continuation of what was seen.
    pub fn forget_tracks(&mut self) {
        self.tracks.clear();
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// How many identities have been confirmed so far.
    /// The class and predicted box of every confirmed track not seen in the latest frame and
    /// not yet forgotten: what a privacy filter must keep hiding.
    pub fn unseen(&self) -> Vec<(usize, BBox)> {
        self.tracks
            .iter()
            .filter(|t| t.phase == Phase::Lost && t.id.is_some())
            .map(|t| (t.class_id, t.bbox()))
            .collect()
    }

    pub fn confirmed_count(&self) -> u64 {
        self.next_id - 1
    }

    /// Feeds one frame's detections, taken at `time_s` seconds, and returns the tracks seen in it.
    pub fn update(&mut self, detections: &[Detection], time_s: f64) -> Vec<Track> {
        self.update_moved(detections, time_s, &Affine::IDENTITY)
    }

    /// The same for a camera that moved by `camera` since the previous frame (the previous
    /// frame's coordinates → this frame's).
    pub fn update_moved(
        &mut self,
        detections: &[Detection],
        time_s: f64,
        camera: &Affine,
    ) -> Vec<Track> {
        self.step(Some(detections), time_s, camera)
    }

    /// A frame the detector did not look at (`detect_every`): every track moves on by its
    /// prediction, none is matched, lost or started, and the tracks being followed are reported
    /// where they are predicted to be.
    pub fn carry(&mut self, time_s: f64, camera: &Affine) -> Vec<Track> {
        self.step(None, time_s, camera)
    }

    fn step(
        &mut self,
        detections: Option<&[Detection]>,
        time_s: f64,
        camera: &Affine,
    ) -> Vec<Track> {
        let first_frame = self.last_time_s.is_none();
        if first_frame {
            self.take_in_adopted(time_s);
        }
        let dt = self
            .last_time_s
            .map_or(0.0, |last| (time_s - last).max(0.0));
        self.last_time_s = Some(time_s);
        let camera = if camera.is_usable() {
            camera
        } else {
            &Affine::IDENTITY // a broken estimate must not throw every track off
        };
        self.camera.observe(time_s, camera);
        for t in &mut self.tracks {
            t.follow_camera(camera);
            if t.phase == Phase::Lost && self.config.freeze_size_while_lost {
                t.kf.freeze_size();
            }
            t.kf.predict(dt, &self.noise);
            t.frames_since_observation += 1;
        }
        let Some(detections) = detections else {
            return self.report(time_s, true);
        };

        let (low_score, high_score) = (self.config.low_score, self.config.high_score);
        // Sized up front: `partition` grows both by reallocation, a cost per frame.
        let (mut high, mut low) = (
            Vec::with_capacity(detections.len()),
            Vec::with_capacity(detections.len()),
        );
        for d in detections
            .iter()
            .filter(|d| d.score >= low_score && trackable(&d.bbox))
        {
            if d.score >= high_score {
                high.push(d);
            } else {
                low.push(d);
            }
        }

        // Round 1: confirmed tracks (tracked or lost) against sure detections.
        let pool = self.indices(|p| p != Phase::Tentative);
        let round1 = self.associate(&pool, &high, true, self.config.match_cost);
        for &(r, c) in &round1.matches {
            self.apply(pool[r], high[c], time_s);
        }

        // Round 2: tracks that were tracked until now against unsure detections.
        let pending: Vec<usize> = round1
            .unmatched_rows
            .iter()
            .map(|&r| pool[r])
            .filter(|&i| self.tracks[i].phase == Phase::Tracked)
            .collect();
        let round2 = self.associate(&pending, &low, false, self.config.low_match_cost);
        for &(r, c) in &round2.matches {
            self.apply(pending[r], low[c], time_s);
        }
        for &r in &round2.unmatched_rows {
            self.tracks[pending[r]].phase = Phase::Lost;
        }

        let leftover: Vec<&Detection> = round1.unmatched_cols.iter().map(|&c| high[c]).collect();

        // Round 3: tentative tracks against the sure detections nobody took.
        let tentative = self.indices(|p| p == Phase::Tentative);
        let round3 = self.associate(
            &tentative,
            &leftover,
            true,
            self.config.tentative_match_cost,
        );
        for &(r, c) in &round3.matches {
            self.apply(tentative[r], leftover[c], time_s);
        }
        let mut doomed: Vec<usize> = round3
            .unmatched_rows
            .iter()
            .map(|&r| tentative[r])
            .collect();

        for &c in &round3.unmatched_cols {
            let det = leftover[c];
            if det.score >= self.config.new_track_score {
                self.spawn(det, time_s, first_frame);
            }
        }

        doomed.extend(self.expired_or_duplicate(time_s));
        doomed.sort_unstable();
        doomed.dedup();
        for i in doomed.into_iter().rev() {
            self.tracks.swap_remove(i);
        }
        self.report(time_s, false)
    }

    fn indices(&self, keep: impl Fn(Phase) -> bool) -> Vec<usize> {
        // Sized up front: a filtered collect grows from 4 by reallocation, a cost per frame.
        let mut out = Vec::with_capacity(self.tracks.len());
        out.extend((0..self.tracks.len()).filter(|&i| keep(self.tracks[i].phase)));
        out
    }

    /// Matches tracks to detections on cost `1 − IoU` (IoU times the detection score when
    /// `fuse_score`), accepting pairs below `max_cost`, the boxes buffered (`match_buffer`,
    /// `match_buffer_per_s`) when the overlap is measured. Classes never mix.
    fn associate(
        &self,
        tracks: &[usize],
        dets: &[&Detection],
        fuse_score: bool,
        max_cost: f32,
    ) -> Assignment {
        let (buffer, per_s) = (self.config.match_buffer, self.config.match_buffer_per_s);
        let now = self.last_time_s.unwrap_or(0.0);
        // Detections by left edge: each track then looks only at those that can overlap it
        // (its cost is otherwise 1, above any ceiling), not at every box in the frame.
        let mut by_left: Vec<(f32, usize)> = dets
            .iter()
            .enumerate()
            .map(|(col, d)| (d.bbox.x1, col))
            .collect();
        by_left.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let widest = dets.iter().map(|d| d.bbox.width()).fold(0.0f32, f32::max);
        let mut edges = Vec::with_capacity(2 * tracks.len()); // a track overlaps a box or two
        for (row, &i) in tracks.iter().enumerate() {
            let t = &self.tracks[i];
            // Both boxes of a pair get the track's buffer: the longer it went unseen, the
            // farther from its prediction it may be found.
            let b = (buffer + per_s * (now - t.last_seen_s).max(0.0)) as f32;
            let (track_box, class_id) = (buffered(&t.bbox(), b), t.class_id);
            let from = by_left.partition_point(|&(x1, _)| x1 <= track_box.x1 - widest * (1.0 + b));
            let to = by_left.partition_point(|&(x1, _)| x1 < track_box.x2 + widest * b);
            for &(_, col) in &by_left[from..to.max(from)] {
                let det = dets[col];
                if det.class_id != class_id {
                    continue;
                }
                let iou = track_box.iou(&buffered(&det.bbox, b));
                let similarity = if fuse_score { iou * det.score } else { iou };
                let gain = max_cost - (1.0 - similarity);
                if gain > 0.0 {
                    edges.push((row, col, gain as f64));
                }
            }
        }
        assign(tracks.len(), dets.len(), &edges)
    }

    /// Updates track `i` with a matched detection, confirming it if it was tentative.
    fn apply(&mut self, i: usize, det: &Detection, time_s: f64) {
        let (noise, config) = (&self.noise, &self.config);
        let t = &mut self.tracks[i];
        let gap = t.frames_since_observation;
        if config.reupdate_after_occlusion && gap > 1 {
            let (from, to) = (measurement(&t.last_observation), measurement(&det.bbox));
            t.kf = replay_gap(
                &t.filter_at_observation,
                from,
                to,
                gap,
                time_s - t.last_seen_s,
                noise,
            );
        }
        t.kf.update(measurement(&det.bbox), noise);
        t.filter_at_observation = t.kf.clone();
        t.last_observation = det.bbox;
        if let Some(look_ahead) = &mut t.look_ahead {
            look_ahead.observe(time_s, &det.bbox);
            if let Some(p) = look_ahead.prior() {
                self.scene.add(p);
            }
            if self.camera.is_moving() {
                let (cx, cy) = det.bbox.center();
                let camera = &self.camera;
                t.picture.observe(time_s, [cx as f64, cy as f64], |tau| {
                    Some(camera.carry(&look_ahead.forecast(time_s + tau)?, tau))
                });
                if let Some(p) = t.picture.prior() {
                    self.picture_scene.add(p);
                }
            }
        }
        t.frames_since_observation = 0;
        t.score = det.score;
        t.last_seen_s = time_s;
        t.phase = Phase::Tracked;
        if t.id.is_none() {
            t.id = Some(self.next_id);
            self.next_id += 1;
        }
    }

    fn spawn(&mut self, det: &Detection, time_s: f64, confirm_now: bool) {
        let id = confirm_now.then(|| {
            self.next_id += 1;
            self.next_id - 1
        });
        let kf = KalmanBox::new(measurement(&det.bbox), &self.noise);
        let look_ahead = (!self.config.horizons_s.is_empty()).then(|| {
            let mut look_ahead =
                DefaultLookAhead::with_weights(self.config.look_ahead_weights.clone())
                    .with_prior(self.scene.current());
            look_ahead.observe(time_s, &det.bbox);
            look_ahead
        });
        self.tracks.push(LiveTrack {
            look_ahead,
            id,
            phase: if confirm_now {
                Phase::Tracked
            } else {
                Phase::Tentative
            },
            filter_at_observation: kf.clone(),
            kf,
            last_observation: det.bbox,
            frames_since_observation: 0,
            class_id: det.class_id,
            score: det.score,
            born_s: time_s,
            last_seen_s: time_s,
            picture: PictureRecord::with_prior(self.picture_scene.current()),
        });
    }

    /// Lost tracks past their timeout, and the younger of a lost/tracked pair covering one object.
    fn expired_or_duplicate(&self, time_s: f64) -> Vec<usize> {
        let lost = self.indices(|p| p == Phase::Lost);
        let mut out: Vec<usize> = lost
            .iter()
            .copied()
            .filter(|&i| time_s - self.tracks[i].last_seen_s > self.config.lost_timeout_s)
            .collect();
        let tracked: Vec<(usize, BBox)> = self
            .indices(|p| p == Phase::Tracked)
            .into_iter()
            .map(|i| (i, self.tracks[i].bbox()))
            .collect();
        let age = |t: &LiveTrack| t.last_seen_s - t.born_s;
        for &l in &lost {
            let (b, b_box) = (&self.tracks[l], self.tracks[l].bbox());
            for &(live, a_box) in &tracked {
                let a = &self.tracks[live];
                if a.class_id == b.class_id && a_box.iou(&b_box) > 0.85 {
                    out.push(if age(a) >= age(b) { l } else { live });
                }
            }
        }
        out
    }

    /// The tracks of this frame: those seen in it (`carried`: followed until the frame before),
    /// and lost ones still coasting.
    fn report(&self, time_s: f64, carried: bool) -> Vec<Track> {
        // With an output lag, gaps are filled from both ends instead of extrapolated.
        let coast_s = if self.config.output_lag_s > 0.0 {
            0.0
        } else {
            self.config.coast_s
        };
        // Sorted by id while they are small (id, track) pairs, not the reported tracks.
        let mut shown: Vec<(u64, &LiveTrack)> = Vec::with_capacity(self.tracks.len());
        shown.extend(
            self.tracks
                .iter()
                .filter(|t| {
                    (t.phase == Phase::Tracked && (carried || t.last_seen_s == time_s))
                        || (t.phase == Phase::Lost && time_s - t.last_seen_s <= coast_s)
                })
                .filter_map(|t| Some((t.id?, t))),
        );
        shown.sort_unstable_by_key(|&(id, _)| id);
        shown
            .into_iter()
            .map(|(id, t)| {
                let [vx, vy] = t.kf.velocity();
                Track {
                    id,
                    class_id: t.class_id,
                    score: t.score,
                    bbox: t.bbox(),
                    velocity: [vx as f32, vy as f32],
                    predicted: t.look_ahead.as_ref().map_or_else(Vec::new, |l| {
                        predict::predictions(
                            l,
                            time_s,
                            &self.config.horizons_s,
                            Some((&self.camera, Some(&t.picture))),
                        )
                    }),
                }
            })
            .collect()
    }
}

fn measurement(b: &BBox) -> [f64; 4] {
    let (cx, cy) = b.center();
    [cx as f64, cy as f64, b.width() as f64, b.height() as f64]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox::from_tlwh(x, y, 40.0, 100.0),
            score,
            class_id: 0,
        }
    }

    /// Reports only tracks matched in the frame, which keeps lifecycle assertions simple.
    fn without_coasting() -> TrackerConfig {
        TrackerConfig {
            coast_s: 0.0,
            ..Default::default()
        }
    }

    fn ids(tracks: &[Track]) -> Vec<u64> {
        tracks.iter().map(|t| t.id).collect()
    }

    #[test]
    fn a_panning_camera_keeps_identities_when_its_motion_is_given() {
        // A standing person; the camera pans 60 px a frame, so the person jumps 60 px left in
        // the image each frame, far more than its 40 px width.
        let pan = Affine([1.0, 0.0, -60.0, 0.0, 1.0, 0.0]);
        // Frames in which the first identity is reported.
        let run = |camera: &Affine| {
            let mut tr = Tracker::new(without_coasting(), 30.0);
            (0..8)
                .filter(|&k| {
                    let x = 600.0 - 60.0 * k as f32;
                    let moved = if k == 0 { &Affine::IDENTITY } else { camera };
                    ids(&tr.update_moved(&[det(x, 0.0, 0.9)], k as f64 * 0.1, moved)) == [1]
                })
                .count()
        };
        assert_eq!(
            run(&pan),
            8,
            "followed in every frame with the camera's motion"
        );
        assert_eq!(
            run(&Affine::IDENTITY),
            1,
            "lost at the first jump without it"
        );
    }

    #[test]
    fn a_buffer_lets_a_box_that_jumped_past_its_size_match() {
        // A person seen at 10 fps, then hidden for a frame and found 60 px on (their box is 40
        // px wide): the prediction, still at the last speed of 0, overlaps nothing.
        let found_again = |config: TrackerConfig| {
            let mut tr = Tracker::new(config, 10.0);
            tr.update(&[det(100.0, 0.0, 0.9)], 0.0);
            tr.update(&[det(100.0, 0.0, 0.9)], 0.1);
            tr.update(&[], 0.2);
            ids(&tr.update(&[det(160.0, 0.0, 0.9)], 0.3))
        };
        assert_eq!(found_again(without_coasting()), Vec::<u64>::new());
        let buffered = TrackerConfig {
            match_buffer: 1.0,
            ..without_coasting()
        };
        assert_eq!(found_again(buffered), vec![1]);
        // The same reach from the time unseen alone: 0.2 s at 5 box sizes a second.
        let growing = TrackerConfig {
            match_buffer_per_s: 5.0,
            ..without_coasting()
        };
        assert_eq!(found_again(growing), vec![1]);
    }

    #[test]
    fn an_unusable_camera_motion_is_ignored() {
        let mut tr = Tracker::new(without_coasting(), 30.0);
        tr.update(&[det(100.0, 0.0, 0.9)], 0.0);
        let broken = Affine([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let out = tr.update_moved(&[det(101.0, 0.0, 0.9)], 0.1, &broken);
        assert_eq!(ids(&out), vec![1]);
        assert!(out[0].bbox.x1.is_finite());
    }

    #[test]
    fn first_frame_confirms_sure_detections_only() {
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        let out = tr.update(&[det(0.0, 0.0, 0.9), det(200.0, 0.0, 0.55)], 0.0);
        // 0.55 is above high_score but below new_track_score: no track.
        assert_eq!(ids(&out), vec![1]);
    }

    #[test]
    fn later_tracks_start_tentative_and_are_confirmed_by_a_second_hit() {
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        assert!(tr.update(&[], 0.0).is_empty());
        assert!(tr.update(&[det(0.0, 0.0, 0.9)], 0.1).is_empty());
        assert_eq!(ids(&tr.update(&[det(2.0, 0.0, 0.9)], 0.2)), vec![1]);
    }

    #[test]
    fn an_unmatched_tentative_track_dies_and_its_id_is_never_issued() {
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        tr.update(&[], 0.0);
        tr.update(&[det(0.0, 0.0, 0.9)], 0.1); // tentative
        tr.update(&[], 0.2); // dies
        tr.update(&[det(500.0, 0.0, 0.9)], 0.3);
        assert_eq!(ids(&tr.update(&[det(500.0, 0.0, 0.9)], 0.4)), vec![1]);
    }

    #[test]
    fn a_detection_reaching_in_from_the_left_still_matches() {
        // Association looks only at detections whose left edge can reach a track; this one
        // starts 40 px left of the track (IoU 0.5) behind a narrow box further left.
        let wide = |x1: f32, w: f32| Detection {
            bbox: BBox::from_tlwh(x1, 0.0, w, 100.0),
            score: 0.9,
            class_id: 0,
        };
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        tr.update(&[wide(100.0, 40.0)], 0.0);
        let out = tr.update(&[wide(0.0, 10.0), wide(60.0, 80.0)], 0.1);
        assert_eq!(ids(&out), vec![1]);
        assert!(out[0].bbox.x1 < 100.0, "{:?}", out[0].bbox);
    }

    #[test]
    fn moving_object_keeps_its_id() {
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        for step in 0..50 {
            let out = tr.update(&[det(10.0 * step as f32, 50.0, 0.9)], step as f64 * 0.1);
            assert_eq!(ids(&out), vec![1], "step {step}");
        }
        // 10 px per 0.1 s = 100 px/s, learned by the filter.
        let out = tr.update(&[det(500.0, 50.0, 0.9)], 5.0);
        assert!(
            (out[0].velocity[0] - 100.0).abs() < 5.0,
            "{:?}",
            out[0].velocity
        );
        // A second ahead it is further along (how far is the look-ahead's to say).
        let ahead = &out[0].predicted[1];
        assert_eq!(ahead.dt_s, 1.0);
        let moved = ahead.bbox.center().0 - 520.0;
        assert!(moved > 50.0 && moved < 110.0, "{ahead:?}");
    }

    #[test]
    fn low_score_detections_keep_a_track_alive_but_do_not_start_one() {
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        tr.update(&[det(0.0, 0.0, 0.9)], 0.0);
        // Partly occluded: score drops to 0.3; round 2 keeps the identity.
        let out = tr.update(&[det(1.0, 0.0, 0.3), det(300.0, 0.0, 0.3)], 0.1);
        assert_eq!(ids(&out), vec![1]);
        assert_eq!(out[0].score, 0.3);
        assert_eq!(
            tr.tracks.len(),
            1,
            "a low-score detection must not spawn a track"
        );
    }

    #[test]
    fn lost_track_is_recovered_within_the_timeout_with_the_same_id() {
        let mut tr = Tracker::new(without_coasting(), 30.0);
        for step in 0..10 {
            tr.update(&[det(5.0 * step as f32, 0.0, 0.9)], step as f64 * 0.1);
        }
        // Occluded for 0.5 s while moving on at 50 px/s.
        for step in 10..15 {
            assert!(tr.update(&[], step as f64 * 0.1).is_empty());
        }
        let out = tr.update(&[det(75.0, 0.0, 0.9)], 1.5);
        assert_eq!(ids(&out), vec![1]);
    }

    #[test]
    fn lost_track_is_forgotten_after_the_timeout() {
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        tr.update(&[det(0.0, 0.0, 0.9)], 0.0);
        tr.update(&[], 0.5);
        tr.update(&[], 1.2); // lost for 1.2 s > 1.0 s
        assert!(tr.tracks.is_empty());
        tr.update(&[det(0.0, 0.0, 0.9)], 1.3);
        assert_eq!(ids(&tr.update(&[det(0.0, 0.0, 0.9)], 1.4)), vec![2]);
    }

    #[test]
    fn carried_frames_move_tracks_on_without_losing_them() {
        let mut tr = Tracker::new(without_coasting(), 30.0);
        for step in 0..3 {
            tr.update(&[det(step as f32 * 10.0, 0.0, 0.9)], step as f64 * 0.1);
        }
        // Frame 3 is not detected: the track is reported, moved on by its velocity.
        let carried = tr.carry(0.3, &Affine::IDENTITY);
        assert_eq!(ids(&carried), vec![1]);
        let (cx, _) = carried[0].bbox.center();
        let (seen, _) = det(20.0, 0.0, 0.9).bbox.center();
        assert!(cx > seen + 5.0, "moved on from {seen} to {cx}");
        // And found again on the next detected frame, with the same identity.
        assert_eq!(ids(&tr.update(&[det(40.0, 0.0, 0.9)], 0.4)), vec![1]);
        // A tentative track survives a carried frame too. (Tracks of the first frame are
        // confirmed at once; this one starts on the second.)
        let mut tr = Tracker::new(without_coasting(), 30.0);
        tr.update(&[], 0.0);
        tr.update(&[det(0.0, 0.0, 0.9)], 0.1);
        assert!(
            tr.carry(0.2, &Affine::IDENTITY).is_empty(),
            "not confirmed yet"
        );
        assert_eq!(ids(&tr.update(&[det(0.0, 0.0, 0.9)], 0.3)), vec![1]);
    }

    #[test]
    fn unseen_tracks_are_known_until_forgotten() {
        let mut tr = Tracker::new(without_coasting(), 30.0);
        tr.update(&[det(0.0, 0.0, 0.9)], 0.0);
        assert!(tr.unseen().is_empty(), "seen in the latest frame");
        assert!(
            tr.update(&[], 0.5).is_empty(),
            "not reported without coasting"
        );
        let unseen = tr.unseen();
        assert_eq!(unseen.len(), 1, "but still there to be hidden");
        assert_eq!(unseen[0].0, det(0.0, 0.0, 0.9).class_id);
        assert!(unseen[0].1.iou(&det(0.0, 0.0, 0.9).bbox) > 0.9);
        tr.update(&[], 1.2);
        assert!(tr.unseen().is_empty(), "forgotten after the timeout");
    }

    #[test]
    fn classes_never_swap_identities() {
        let mut tr = Tracker::new(without_coasting(), 30.0);
        tr.update(&[det(0.0, 0.0, 0.9)], 0.0);
        let car = Detection {
            class_id: 2,
            ..det(0.0, 0.0, 0.9)
        };
        assert!(
            tr.update(&[car], 0.1).is_empty(),
            "a car must not continue a person's track"
        );
    }

    #[test]
    fn crossing_objects_keep_their_ids() {
        // Two people walk towards each other on slightly different rows and pass.
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        let mut first = Vec::new();
        for step in 0..40 {
            let t = step as f64 * 0.1;
            let a = det(10.0 * step as f32, 0.0, 0.9);
            let b = det(400.0 - 10.0 * step as f32, 30.0, 0.9);
            let out = tr.update(&[a, b], t);
            let by_x: Vec<(u64, f32)> = out.iter().map(|t| (t.id, t.bbox.x1)).collect();
            if step == 0 {
                first = by_x.clone();
            }
            // The track that started on the left keeps moving right.
            let left_id = first.iter().min_by(|p, q| p.1.total_cmp(&q.1)).unwrap().0;
            let left = by_x
                .iter()
                .find(|p| p.0 == left_id)
                .expect("left track alive");
            assert!(
                (left.1 - 10.0 * step as f32).abs() < 15.0,
                "step {step}: {by_x:?}"
            );
        }
    }

    #[test]
    fn noise_weights_are_per_frame_of_the_source_unless_seconds_are_given() {
        let per_frame = Tracker::new(TrackerConfig::default(), 14.0);
        assert!((per_frame.noise.reference_dt - 1.0 / 14.0).abs() < 1e-12);
        let fixed = TrackerConfig {
            noise_reference_s: NoiseReference::Seconds(0.05),
            ..Default::default()
        };
        assert_eq!(Tracker::new(fixed, 14.0).noise.reference_dt, 0.05);
        // A source that declares no usable rate falls back to ByteTrack's 30 fps.
        let unknown = Tracker::new(TrackerConfig::default(), 0.0);
        assert!((unknown.noise.reference_dt - 1.0 / 30.0).abs() < 1e-12);
    }

    #[test]
    fn a_briefly_hidden_track_coasts_on_its_prediction_then_disappears() {
        let mut tr = Tracker::new(
            TrackerConfig {
                coast_s: 0.25,
                ..Default::default()
            },
            30.0,
        );
        for step in 0..10 {
            tr.update(&[det(10.0 * step as f32, 0.0, 0.9)], step as f64 * 0.1);
        }
        // Unseen from t = 1.0: reported at 1.0 and 1.1 s (within 0.25 s of 0.9 s), moving on.
        let coasting = tr.update(&[], 1.0);
        assert_eq!(ids(&coasting), vec![1]);
        assert!(coasting[0].bbox.x1 > 90.0, "{:?}", coasting[0].bbox);
        assert_eq!(ids(&tr.update(&[], 1.1)), vec![1]);
        assert!(tr.update(&[], 1.2).is_empty());
    }

    #[test]
    fn re_update_after_occlusion_replays_the_gap_as_if_observed() {
        // Walking right at 100 px/s, hidden for 0.5 s, found a little further than that pace.
        // A plain update keeps part of the uncertainty half a second of blind prediction built
        // up; the re-update replays the gap along the straight line, as if it had been observed,
        // so the association filter's prediction from there is surer.
        let run = |reupdate: bool| {
            let config = TrackerConfig {
                reupdate_after_occlusion: reupdate,
                coast_s: 0.0,
                ..Default::default()
            };
            let mut tr = Tracker::new(config, 30.0);
            for step in 0..10 {
                tr.update(&[det(10.0 * step as f32, 0.0, 0.9)], step as f64 * 0.1);
            }
            for step in 10..15 {
                tr.update(&[], step as f64 * 0.1);
            }
            let out = tr.update(&[det(165.0, 0.0, 0.9)], 1.5);
            assert_eq!(ids(&out), vec![1]);
            let ahead = tr.tracks[0].kf.forecast(1.0, &tr.noise);
            (out[0].velocity[0], ahead.1[0])
        };
        let ((v_with, var_with), (v_plain, var_plain)) = (run(true), run(false));
        assert!(
            var_with < 0.95 * var_plain,
            "forecast variance {var_with} vs {var_plain}"
        );
        // Both learn the faster pace of the gap (75 px in 0.6 s = 125 px/s).
        assert!(
            (v_with - 125.0).abs() < 15.0 && (v_plain - 125.0).abs() < 15.0,
            "{v_with} {v_plain}"
        );
    }

    #[test]
    fn forecasts_come_from_the_look_ahead_and_leave_the_association_filter_alone() {
        let mut tr = Tracker::new(TrackerConfig::default(), 30.0);
        for step in 0..20 {
            tr.update(&[det(10.0 * step as f32, 0.0, 0.9)], step as f64 * 0.1);
        }
        let out = tr.update(&[det(200.0, 0.0, 0.9)], 2.0);
        let horizons: Vec<f32> = out[0].predicted.iter().map(|p| p.dt_s).collect();
        assert_eq!(horizons, [0.5, 1.0, 2.0]);
        // The look-ahead fed the same boxes says the same.
        let mut alone = DefaultLookAhead::default();
        for step in 0..20 {
            alone.observe(step as f64 * 0.1, &det(10.0 * step as f32, 0.0, 0.9).bbox);
        }
        alone.observe(2.0, &det(200.0, 0.0, 0.9).bbox);
        assert_eq!(
            out[0].predicted,
            predict::predictions(&alone, 2.0, &horizons, None)
        );
        for p in &out[0].predicted {
            assert!(p.bbox.center().0 > 220.0, "{p:?}");
            assert!(p.cov_xy[0] > 0.0 && p.cov_xy[2] > 0.0);
        }
        let again = tr.report(2.0, false);
        assert_eq!(again, out, "forecasting must not change any state");
    }

    #[test]
    fn without_horizons_the_tracks_are_the_same_and_carry_no_forecasts() {
        let plain = TrackerConfig {
            horizons_s: Vec::new(),
            ..Default::default()
        };
        let (mut with, mut without) = (
            Tracker::new(TrackerConfig::default(), 30.0),
            Tracker::new(plain, 30.0),
        );
        for step in 0..20 {
            let dets = [
                det(10.0 * step as f32, 0.0, 0.9),
                det(300.0, 5.0 * step as f32, 0.8),
            ];
            let (a, b) = (
                with.update(&dets, step as f64 * 0.1),
                without.update(&dets, step as f64 * 0.1),
            );
            assert!(b.iter().all(|t| t.predicted.is_empty()));
            let strip = |tracks: Vec<Track>| -> Vec<Track> {
                tracks
                    .into_iter()
                    .map(|t| Track {
                        predicted: Vec::new(),
                        ..t
                    })
                    .collect()
            };
            assert_eq!(strip(a), strip(b));
        }
    }

    #[test]
    fn validation_names_the_bad_key() {
        let cfg = TrackerConfig {
            high_score: 1.5,
            ..Default::default()
        };
        assert!(cfg.validate().unwrap_err().contains("tracker.high_score"));
        let cfg = TrackerConfig {
            horizons_s: vec![-1.0],
            ..Default::default()
        };
        assert!(cfg.validate().unwrap_err().contains("horizons_s"));
        for bad in [vec![2.0, 0.5], vec![1.0, 1.0], vec![1e9], vec![0.5; 17]] {
            let cfg = TrackerConfig {
                horizons_s: bad.clone(),
                ..Default::default()
            };
            assert!(cfg.validate().is_err(), "{bad:?}");
        }
        let rising: Vec<f32> = (1..=16).map(|k| k as f32 * 0.25).collect();
        assert!(validate_horizons(&rising).is_ok());
        assert!(TrackerConfig::default().validate().is_ok());
    }
}
