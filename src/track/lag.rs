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
//! Pure: no I/O; any payload (a video frame, nothing) travels with its tracks.

use std::collections::VecDeque;

use crate::frame::Track;
use crate::geom::BBox;

/// Delays frames by `lag_s` and fills and smooths their tracks on the way out.
pub struct FixedLag<T> {
    lag_s: f64,
    smoothing_s: f64,
    /// Frames not yet released, oldest first.
    pending: VecDeque<Entry<T>>,
    /// The boxes of recently released frames by id, as they were before smoothing: the past half
    /// of the smoothing window of the next frame out.
    released: VecDeque<(f64, Vec<(u64, BBox)>)>,
}

struct Entry<T> {
    time_s: f64,
    payload: T,
    /// Sorted by id.
    tracks: Vec<Track>,
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

    /// Adds the tracks of the frame taken at `time_s` (times must not decrease) and returns the
    /// frames that have now waited `lag_s`, oldest first.
    pub fn push(
        &mut self,
        time_s: f64,
        payload: T,
        mut tracks: Vec<Track>,
    ) -> Vec<(T, Vec<Track>)> {
        tracks.sort_by_key(|t| t.id);
        self.fill_gaps(time_s, &tracks);
        self.pending.push_back(Entry {
            time_s,
            payload,
            tracks,
        });
        let mut out = Vec::new();
        while let Some(front) = self.pending.front() {
            // A small tolerance so that a lag of exactly k frame intervals holds k frames.
            if time_s - front.time_s + 1e-9 < self.lag_s {
                break;
            }
            out.push(self.release_front());
        }
        out
    }

    /// Releases every frame still held (end of stream, or a stop).
    pub fn finish(&mut self) -> Vec<(T, Vec<Track>)> {
        let mut out = Vec::with_capacity(self.pending.len());
        while !self.pending.is_empty() {
            out.push(self.release_front());
        }
        out
    }

    /// For each track of a new frame that is missing from the frames just before it but present
    /// in an older held one, fills the frames in between.
    fn fill_gaps(&mut self, time_s: f64, tracks: &[Track]) {
        for track in tracks {
            let Some((last, t0, before_box, before_score)) =
                self.pending.iter().enumerate().rev().find_map(|(i, e)| {
                    let t = &e.tracks[find(&e.tracks, track.id)?];
                    Some((i, e.time_s, t.bbox, t.score))
                })
            else {
                continue;
            };
            for entry in self.pending.range_mut(last + 1..) {
                let f = ((entry.time_s - t0) / (time_s - t0).max(1e-12)) as f32;
                let filled = Track {
                    id: track.id,
                    class_id: track.class_id,
                    score: before_score + (track.score - before_score) * f,
                    bbox: lerp_box(&before_box, &track.bbox, f),
                    velocity: track.velocity,
                    predicted: Vec::new(),
                };
                let at = entry.tracks.partition_point(|t| t.id < track.id);
                entry.tracks.insert(at, filled);
            }
        }
    }

    fn release_front(&mut self) -> (T, Vec<Track>) {
        let entry = self.pending.pop_front().expect("caller checked");
        let reach = (2.0 * self.smoothing_s).min(self.lag_s);
        while self
            .released
            .front()
            .is_some_and(|(t, _)| entry.time_s - t > reach + 1e-9)
        {
            self.released.pop_front();
        }
        let raw: Vec<(u64, BBox)> = entry.tracks.iter().map(|t| (t.id, t.bbox)).collect();
        let mut tracks = entry.tracks;
        if reach > 0.0 {
            let window = self.window(entry.time_s, reach);
            let mut found = Vec::with_capacity(window.len());
            for track in &mut tracks {
                found.clear();
                for &(dt, weight, slot) in &window {
                    let bbox = match slot {
                        Slot::Released(k) => box_of(&self.released[k].1, track.id),
                        Slot::Own => box_of(&raw, track.id),
                        Slot::Pending(k) => {
                            let tracks = &self.pending[k].tracks;
                            find(tracks, track.id).map(|i| tracks[i].bbox)
                        }
                    };
                    found.extend(bbox.map(|b| (dt, weight, b)));
                }
                track.bbox = symmetric_mean(&found, reach);
            }
        }
        self.released.push_back((entry.time_s, raw));
        (entry.payload, tracks)
    }

    /// The frames within `reach` of `time_s` (`released` holds no older ones): offset, Gaussian
    /// weight, and where they are.
    fn window(&self, time_s: f64, reach: f64) -> Vec<(f64, f64, Slot)> {
        let weight = |dt: f64| (-0.5 * (dt / self.smoothing_s).powi(2)).exp();
        let past = (0..self.released.len()).map(|k| (self.released[k].0, Slot::Released(k)));
        let ahead = (0..self.pending.len()).map(|k| (self.pending[k].time_s, Slot::Pending(k)));
        past.chain(std::iter::once((time_s, Slot::Own)))
            .chain(ahead.take_while(|(t, _)| t - time_s <= reach + 1e-9))
            .map(|(t, slot)| (t - time_s, weight(t - time_s), slot))
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
            out.extend(lag.push(i as f64 * 0.1, i, tracks));
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
        let out = lag.push(0.0, 7, vec![track(2, 5.0), track(1, 3.0)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 7);
        assert_eq!(xs(&out[0].1), vec![(1, 3.0), (2, 5.0)]);
        assert!(lag.push(0.1, 8, vec![]).len() == 1);
    }

    #[test]
    fn frames_are_held_for_the_lag_and_all_come_out_in_order() {
        let mut lag = FixedLag::new(0.3, 0.0);
        for i in 0..3 {
            assert!(lag.push(i as f64 * 0.1, i, vec![]).is_empty(), "frame {i}");
        }
        let out = lag.push(0.3, 3, vec![]);
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
        assert!(lag.push(0.0, 0, vec![track(1, 0.0)]).is_empty());
        assert_eq!(lag.push(0.1, 1, vec![track(1, 14.0)]).len(), 1);
        let out = lag.push(0.2, 2, vec![track(1, 22.0)]);
        assert_eq!(out[0].0, 1);
        let x = out[0].1[0].bbox.x1;
        // weights e^-0.005, 1, e^-0.005 on 0, 14, 22
        assert!((x - 12.0).abs() < 0.05, "{x}");
        let out = lag.push(0.3, 3, vec![track(1, 1000.0)]);
        assert_eq!(out[0].0, 2);
    }
}
