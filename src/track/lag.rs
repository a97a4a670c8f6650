//! Fixed-lag output: hold the tracker's frames for a set time so that what is written about a
//! frame can use what came after it.
//!
//! An online tracker must decide about frame t at frame t. Users who can wait a moment — a MOT
//! file, events, counts, a recording — get better tracks from the same tracker by letting each
//! frame settle for `lag_s` seconds before it is released:
//!
//! - a track lost and found again within the lag gets the frames in between filled, its box
//!   interpolated linearly in time between the two observations (the gap-filling trackers apply
//!   offline, done here in a stream with bounded delay);
//! - boxes are smoothed over their neighbours in time with a Gaussian of `smoothing_s`, cut at
//!   two standard deviations and never wider than the lag (it cannot look further ahead).
//!
//! Identities and the decisions of the tracker are unchanged; only boxes are added or moved.
//! When the camera moves, each frame comes with its motion since the frame before, and every
//! box is carried into the frame it is filled or smoothed for before it is mixed with that
//! frame's: a gap is filled along the scene, not along the picture the camera swept over.
//! Pure: no I/O; any payload (a video frame, nothing) travels with its tracks.

use std::collections::VecDeque;

use crate::frame::Track;
use crate::geom::{Affine, BBox};

/// Delays frames by `lag_s` and fills and smooths their tracks on the way out.
pub struct FixedLag<T> {
    lag_s: f64,
    smoothing_s: f64,
    /// Frames not yet released, oldest first.
    pending: VecDeque<Entry<T>>,
    /// Recently released frames, with their boxes by id as they were before smoothing: the past
    /// half of the smoothing window of the next frame out.
    released: VecDeque<Released>,
}

struct Entry<T> {
    time_s: f64,
    payload: T,
    /// Sorted by id.
    tracks: Vec<Track>,
    /// How the camera moved from the frame pushed before (its coordinates → this frame's).
    camera: Affine,
}

struct Released {
    time_s: f64,
    boxes: Vec<(u64, BBox)>,
    camera: Affine,
}

impl<T> FixedLag<T> {
    /// `lag_s` = 0 releases every frame at once, untouched; `smoothing_s` = 0 turns smoothing off.
    pub fn new(lag_s: f64, smoothing_s: f64) -> Self {
        Self {
            lag_s: lag_s.max(0.0),
            smoothing_s: smoothing_s.max(0.0),
            pending: VecDeque::new(),
            released: VecDeque::new(),
        }
    }

    /// Adds the tracks of the frame taken at `time_s` (times must not decrease), which the camera
    /// reached by `camera` from the frame pushed before (the identity for a fixed camera; one the
    /// tracker would not use counts as none), and returns the frames that have now waited
    /// `lag_s`, oldest first.
    pub fn push(
        &mut self,
        time_s: f64,
        payload: T,
        mut tracks: Vec<Track>,
        camera: &Affine,
    ) -> Vec<(T, Vec<Track>)> {
        tracks.sort_by_key(|t| t.id);
        let camera = if camera.is_usable() {
            *camera
        } else {
            Affine::IDENTITY
        };
        self.fill_gaps(time_s, &tracks, &camera);
        self.pending.push_back(Entry {
            time_s,
            payload,
            tracks,
            camera,
        });
        let mut out = Vec::new();
        // A small tolerance so that a lag of exactly k frame intervals holds k frames.
        while self
            .pending
            .front()
            .is_some_and(|front| time_s - front.time_s + 1e-9 >= self.lag_s)
        {
            let entry = self.pending.pop_front();
            out.extend(entry.map(|entry| self.release(entry)));
        }
        out
    }

    /// Releases every frame still held (end of stream, or a stop).
    pub fn finish(&mut self) -> Vec<(T, Vec<Track>)> {
        let mut out = Vec::with_capacity(self.pending.len());
        while let Some(entry) = self.pending.pop_front() {
            out.push(self.release(entry));
        }
        out
    }

    /// For each track of a new frame that is missing from the frames just before it but present
    /// in an older held one, fills the frames in between: the two ends, each carried into the
    /// frame being filled, mixed by time.
    fn fill_gaps(&mut self, time_s: f64, tracks: &[Track], camera: &Affine) {
        for track in tracks {
            let Some((last, t0, before_box, before_score)) =
                self.pending.iter().enumerate().rev().find_map(|(i, e)| {
                    let t = &e.tracks[find(&e.tracks, track.id)?];
                    Some((i, e.time_s, t.bbox, t.score))
                })
            else {
                continue;
            };
            let (from_before, from_after) = self.carriers(last, camera);
            for (k, entry) in self.pending.range_mut(last + 1..).enumerate() {
                let f = ((entry.time_s - t0) / (time_s - t0).max(1e-12)) as f32;
                let (before, after) = (
                    from_before[k].apply_box(&before_box),
                    from_after[k].apply_box(&track.bbox),
                );
                let filled = Track {
                    id: track.id,
                    class_id: track.class_id,
                    score: before_score + (track.score - before_score) * f,
                    bbox: lerp_box(&before, &after, f),
                    velocity: track.velocity,
                    predicted: Vec::new(),
                };
                let at = entry.tracks.partition_point(|t| t.id < track.id);
                entry.tracks.insert(at, filled);
            }
        }
    }

    /// For each held frame after `pending[last]`: the map from `pending[last]` into it, and the
    /// map from the new frame (which `camera` reaches from the newest held one) back into it.
    fn carriers(&self, last: usize, camera: &Affine) -> (Vec<Affine>, Vec<Affine>) {
        let between = &self
            .pending
            .range(last + 1..)
            .map(|e| e.camera)
            .collect::<Vec<_>>();
        let mut forward = Vec::with_capacity(between.len());
        let mut so_far = Affine::IDENTITY;
        for step in between {
            so_far = step.after(&so_far);
            forward.push(so_far);
        }
        // Each frame's map to the new one, newest first, then each inverted.
        let mut backward = Vec::with_capacity(between.len());
        let mut to_new = *camera;
        for step in between.iter().rev() {
            backward.push(to_new.inverse().unwrap_or(Affine::IDENTITY));
            to_new = to_new.after(step);
        }
        backward.reverse();
        (forward, backward)
    }

    /// Writes out `entry`, just taken from the front of `pending`: its boxes smoothed over the
    /// frames around it.
    fn release(&mut self, entry: Entry<T>) -> (T, Vec<Track>) {
        let reach = (2.0 * self.smoothing_s).min(self.lag_s);
        while self
            .released
            .front()
            .is_some_and(|r| entry.time_s - r.time_s > reach + 1e-9)
        {
            self.released.pop_front();
        }
        let raw: Vec<(u64, BBox)> = entry.tracks.iter().map(|t| (t.id, t.bbox)).collect();
        let mut tracks = entry.tracks;
        if reach > 0.0 {
            let window = self.window(entry.time_s, reach, &entry.camera);
            let mut found = Vec::with_capacity(window.len());
            for track in &mut tracks {
                found.clear();
                for (dt, weight, slot, into_own) in &window {
                    let bbox = match slot {
                        Slot::Released(k) => box_of(&self.released[*k].boxes, track.id),
                        Slot::Own => box_of(&raw, track.id),
                        Slot::Pending(k) => {
                            let tracks = &self.pending[*k].tracks;
                            find(tracks, track.id).map(|i| tracks[i].bbox)
                        }
                    };
                    found.extend(bbox.map(|b| (*dt, *weight, into_own.apply_box(&b))));
                }
                track.bbox = symmetric_mean(&found, reach);
            }
        }
        self.released.push_back(Released {
            time_s: entry.time_s,
            boxes: raw,
            camera: entry.camera,
        });
        (entry.payload, tracks)
    }

    /// The frames within `reach` of `time_s` (`released` holds no older ones): offset, Gaussian
    /// weight, where they are, and the map from each into the frame at `time_s` (which `camera`
    /// reached from the newest released frame).
    fn window(&self, time_s: f64, reach: f64, camera: &Affine) -> Vec<(f64, f64, Slot, Affine)> {
        let weight = |dt: f64| (-0.5 * (dt / self.smoothing_s).powi(2)).exp();
        // Released frames, newest first: the map into the own frame grows backwards.
        let mut into_own = *camera;
        let mut past = Vec::with_capacity(self.released.len());
        for (k, r) in self.released.iter().enumerate().rev() {
            past.push((r.time_s, Slot::Released(k), into_own));
            into_own = into_own.after(&r.camera);
        }
        past.reverse();
        let mut from_own = Affine::IDENTITY;
        let ahead = self
            .pending
            .iter()
            .enumerate()
            .take_while(|(_, e)| e.time_s - time_s <= reach + 1e-9)
            .map(|(k, e)| {
                from_own = e.camera.after(&from_own);
                let back = from_own.inverse().unwrap_or(Affine::IDENTITY);
                (e.time_s, Slot::Pending(k), back)
            })
            .collect::<Vec<_>>();
        past.into_iter()
            .chain(std::iter::once((time_s, Slot::Own, Affine::IDENTITY)))
            .chain(ahead)
            .map(|(t, slot, into)| (t - time_s, weight(t - time_s), slot, into))
            .collect()
    }
}

/// Where a frame of the smoothing window is held.
#[derive(Clone, Copy)]
enum Slot {
    Released(usize),
    Own,
    Pending(usize),
}

/// The weighted mean of `(offset, weight, box)` samples, over offsets within `reach` and never
/// further on one side than the samples go on the other — so the window shrinks near either end
/// of a track: a one-sided mean would drag a moving box back along its path.
fn symmetric_mean(samples: &[(f64, f64, BBox)], reach: f64) -> BBox {
    let (first, last) = samples
        .iter()
        .fold((0.0f64, 0.0f64), |(lo, hi), (dt, _, _)| {
            (lo.min(*dt), hi.max(*dt))
        });
    let reach = reach.min(-first).min(last);
    let (mut sum, mut total) = ([0.0f64; 4], 0.0f64);
    for (_, w, b) in samples.iter().filter(|(dt, _, _)| dt.abs() <= reach + 1e-9) {
        for (s, v) in sum.iter_mut().zip([b.x1, b.y1, b.x2, b.y2]) {
            *s += w * v as f64;
        }
        total += w;
    }
    let [x1, y1, x2, y2] = sum.map(|s| (s / total) as f32);
    BBox::new(x1, y1, x2, y2)
}

fn box_of(boxes: &[(u64, BBox)], id: u64) -> Option<BBox> {
    boxes
        .binary_search_by_key(&id, |(i, _)| *i)
        .ok()
        .map(|i| boxes[i].1)
}

fn find(tracks: &[Track], id: u64) -> Option<usize> {
    tracks.binary_search_by_key(&id, |t| t.id).ok()
}

fn lerp_box(a: &BBox, b: &BBox, f: f32) -> BBox {
    let lerp = |p: f32, q: f32| p + (q - p) * f;
    BBox::new(
        lerp(a.x1, b.x1),
        lerp(a.y1, b.y1),
        lerp(a.x2, b.x2),
        lerp(a.y2, b.y2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: u64, x: f32) -> Track {
        Track {
            id,
            class_id: 0,
            score: 0.9,
            bbox: BBox::new(x, 0.0, x + 10.0, 20.0),
            velocity: [0.0; 2],
            predicted: vec![],
        }
    }

    /// Pushes frames at 10 frames/s and collects everything released, in order.
    fn run(lag: &mut FixedLag<usize>, frames: Vec<Vec<Track>>) -> Vec<(usize, Vec<Track>)> {
        let mut out = Vec::new();
        for (i, tracks) in frames.into_iter().enumerate() {
            out.extend(lag.push(i as f64 * 0.1, i, tracks, &Affine::IDENTITY));
        }
        out.extend(lag.finish());
        out
    }

    fn xs(frame: &[Track]) -> Vec<(u64, f32)> {
        frame.iter().map(|t| (t.id, t.bbox.x1)).collect()
    }

    #[test]
    fn zero_lag_passes_frames_through_at_once_and_untouched() {
        let mut lag = FixedLag::new(0.0, 0.1);
        let out = lag.push(
            0.0,
            7,
            vec![track(2, 5.0), track(1, 3.0)],
            &Affine::IDENTITY,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 7);
        assert_eq!(xs(&out[0].1), vec![(1, 3.0), (2, 5.0)]);
        assert!(lag.push(0.1, 8, vec![], &Affine::IDENTITY).len() == 1);
    }

    #[test]
    fn frames_are_held_for_the_lag_and_all_come_out_in_order() {
        let mut lag = FixedLag::new(0.3, 0.0);
        for i in 0..3 {
            assert!(
                lag.push(i as f64 * 0.1, i, vec![], &Affine::IDENTITY)
                    .is_empty(),
                "frame {i}"
            );
        }
        let out = lag.push(0.3, 3, vec![], &Affine::IDENTITY);
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![0]);
        let rest = lag.finish();
        assert_eq!(rest.iter().map(|o| o.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn a_gap_closed_within_the_lag_is_filled_linearly_in_time() {
        // id 1 seen at frames 0 and 3 (gap of 2, closed 0.3 s later): filled.
        // id 2 seen at frames 0 and 5 (closed 0.5 s later, past the 0.35-s lag): not filled.
        let mut lag = FixedLag::new(0.35, 0.0);
        let out = run(
            &mut lag,
            vec![
                vec![track(1, 0.0), track(2, 50.0)],
                vec![],
                vec![],
                vec![track(1, 30.0)],
                vec![],
                vec![track(2, 100.0)],
            ],
        );
        let frames: Vec<_> = out.iter().map(|(_, t)| xs(t)).collect();
        assert_eq!(frames[1], vec![(1, 10.0)]);
        assert_eq!(frames[2], vec![(1, 20.0)]);
        assert_eq!(frames[3], vec![(1, 30.0)]);
        assert!(frames[4].is_empty());
        assert!(out[1].1[0].predicted.is_empty());
    }

    #[test]
    fn smoothing_averages_jitter_but_keeps_steady_motion() {
        // Steady motion of 10 px a frame stays where it is (symmetric weights); a one-frame
        // jump of +6 px is pulled back towards its neighbours.
        let mut lag = FixedLag::new(0.2, 0.1);
        let mut frames: Vec<Vec<Track>> = (0..7).map(|i| vec![track(1, 10.0 * i as f32)]).collect();
        frames[3][0].bbox = BBox::new(36.0, 0.0, 46.0, 20.0);
        let out = run(&mut lag, frames);
        assert_eq!(out.len(), 7);
        // Ends: the window shrinks to stay symmetric, so the first and last boxes stay put.
        assert_eq!(out[0].1[0].bbox.x1, 0.0);
        assert_eq!(out[6].1[0].bbox.x1, 60.0);
        // Frame 1 sees frames 0..=2 (frame 3 would need frame -1 to balance it).
        assert!(
            (out[1].1[0].bbox.x1 - 10.0).abs() < 1e-4,
            "{:?}",
            out[1].1[0].bbox
        );
        // 30 + 6 / (1 + 2·e^-0.5 + 2·e^-2) ≈ 32.4
        let jumped = out[3].1[0].bbox.x1;
        assert!((jumped - 32.42).abs() < 0.05, "{jumped}");
    }

    #[test]
    fn a_frame_leaves_once_it_has_waited_the_lag_smoothed_over_what_was_there() {
        // With a 0.1-s lag frame 1 leaves when frame 2 arrives, averaged over frames 0..=2;
        // frame 3's jump comes too late to move it.
        let mut lag = FixedLag::new(0.1, 1.0);
        assert!(lag
            .push(0.0, 0, vec![track(1, 0.0)], &Affine::IDENTITY)
            .is_empty());
        assert_eq!(
            lag.push(0.1, 1, vec![track(1, 14.0)], &Affine::IDENTITY)
                .len(),
            1
        );
        let out = lag.push(0.2, 2, vec![track(1, 22.0)], &Affine::IDENTITY);
        assert_eq!(out[0].0, 1);
        let x = out[0].1[0].bbox.x1;
        // weights e^-0.005, 1, e^-0.005 on 0, 14, 22
        assert!((x - 12.0).abs() < 0.05, "{x}");
        let out = lag.push(0.3, 3, vec![track(1, 1000.0)], &Affine::IDENTITY);
        assert_eq!(out[0].0, 2);
    }

    /// The camera moved by `dx` pixels (the scene shifts by `dx` in the picture).
    fn pan(dx: f64) -> Affine {
        Affine([1.0, 0.0, dx, 0.0, 1.0, 0.0])
    }

    #[test]
    fn a_gap_is_filled_along_the_cameras_motion() {
        // A person standing still; the camera jerks once, by 30 px, between frames 0 and 1.
        // Seen at x = 100 (frame 0) and x = 70 (frame 3): in frames 1 and 2 they stood at 70,
        // not on the straight line in the picture (90, 80).
        let mut lag = FixedLag::new(0.35, 0.0);
        let cameras = [Affine::IDENTITY, pan(-30.0), pan(0.0), pan(0.0)];
        let frames = [vec![track(1, 100.0)], vec![], vec![], vec![track(1, 70.0)]];
        let mut out = Vec::new();
        for (i, (tracks, camera)) in frames.into_iter().zip(cameras).enumerate() {
            out.extend(lag.push(i as f64 * 0.1, i, tracks, &camera));
        }
        out.extend(lag.finish());
        let xs: Vec<f32> = out.iter().map(|(_, t)| t[0].bbox.x1).collect();
        assert_eq!(xs, vec![100.0, 70.0, 70.0, 70.0]);
    }

    #[test]
    fn smoothing_holds_a_still_person_still_under_a_shaking_camera() {
        // The picture shakes by ±20 px frame to frame; the person stands still in the scene, so
        // each frame's box, smoothed over its neighbours carried into it, stays where it is.
        let mut lag = FixedLag::new(0.2, 0.1);
        let mut out = Vec::new();
        let mut x = 200.0;
        for i in 0..9 {
            let dx = match i {
                0 => 0.0,
                _ if i % 2 == 1 => 20.0,
                _ => -20.0,
            };
            x += dx as f32;
            out.extend(lag.push(i as f64 * 0.1, i, vec![track(1, x)], &pan(dx)));
        }
        out.extend(lag.finish());
        for (i, (_, tracks)) in out.iter().enumerate() {
            let expected = if i % 2 == 1 { 220.0 } else { 200.0 };
            assert!(
                (tracks[0].bbox.x1 - expected).abs() < 1e-3,
                "frame {i}: {:?}",
                tracks[0].bbox
            );
        }
        // Without the camera's motion the same boxes are dragged towards each other.
        let mut blind = FixedLag::new(0.2, 0.1);
        let mut moved = Vec::new();
        for i in 0..9 {
            let x = if i % 2 == 1 { 220.0 } else { 200.0 };
            moved.extend(blind.push(i as f64 * 0.1, i, vec![track(1, x)], &Affine::IDENTITY));
        }
        assert!((moved[3].1[0].bbox.x1 - 220.0).abs() > 5.0);
    }
}
