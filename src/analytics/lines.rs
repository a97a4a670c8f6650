//! Counting lines: a track crosses a line when the path of its anchor point (where it touches the
//! ground, by default) passes from one side of the segment to the other.
//!
//! Detections jitter, and people stop on lines. A track's side therefore changes only once its
//! anchor is clearly beyond the line (a hysteresis band proportional to the box height, since
//! jitter scales with size), and the crossing is the path from where it was last clearly on one
//! side to where it is now clearly on the other: a track that lingers on the line, or is lost and
//! found again across it, counts exactly once. Direction alternates by construction, so a track
//! counts twice in one direction only if it truly went back in between.

use super::TrackMap;
use crate::geom::{Point, Segment};
use crate::scene::Direction;

/// The hysteresis band: a share of the box height, never below a couple of pixels.
const BAND_OF_HEIGHT: f64 = 0.1;
const MIN_BAND_PX: f64 = 2.0;

/// Where a track was last seen clearly on one side.
#[derive(Clone, Copy, Debug)]
struct Settled {
    positive: bool,
    at: Point,
}

/// One line's crossing detector, for every track of a stream.
#[derive(Debug)]
pub struct LineCounter {
    pub segment: Segment,
    settled: TrackMap<Settled>,
    counts: [u64; 2],
}

impl LineCounter {
    pub fn new(segment: Segment) -> Self {
        Self {
            segment,
            settled: TrackMap::default(),
            counts: [0, 0],
        }
    }

    /// Follows track `id` to `anchor` (box height `height`); the direction if it crossed.
    pub fn observe(&mut self, id: u64, anchor: Point, height: f64) -> Option<Direction> {
        let d = self.segment.signed_distance(anchor);
        if d.abs() < (BAND_OF_HEIGHT * height).max(MIN_BAND_PX) || !d.is_finite() {
            return None; // on the line, within the jitter: nothing decided yet
        }
        let now = Settled {
            positive: d > 0.0,
            at: anchor,
        };
        let before = self.settled.insert(id, now)?;
        if before.positive == now.positive || !self.segment.crossed_by(before.at, now.at) {
            return None;
        }
        let direction = if now.positive {
            Direction::In
        } else {
            Direction::Out
        };
        self.counts[direction as usize] += 1;
        Some(direction)
    }

    /// Forgets an ended track.
    pub fn forget(&mut self, id: u64) {
        self.settled.remove(&id);
    }

    /// The side each track was last clearly on: `(id, positive, where)`.
    pub fn sides(&self) -> Vec<(u64, bool, Point)> {
        let mut sides: Vec<_> = self
            .settled
            .iter()
            .map(|(&id, s)| (id, s.positive, s.at))
            .collect();
        sides.sort_by_key(|s| s.0);
        sides
    }

    /// Goes on from an earlier owner's counts and its tracks' sides.
    pub fn resume(&mut self, counts: [u64; 2], sides: &[(u64, bool, Point)]) {
        self.counts = counts;
        for &(id, positive, at) in sides {
            self.settled.insert(id, Settled { positive, at });
        }
    }

    /// Crossings so far: `[in, out]`.
    pub fn counts(&self) -> [u64; 2] {
        self.counts
    }
}

/// A forecast crossing of a line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crossing {
    /// Seconds from now.
    pub in_s: f64,
    /// How fast the path approaches the line where it crosses, pixels per second.
    pub approach_px_s: f64,
}

/// When a track whose anchor follows `path` will cross `segment`: the first step of the path
/// that crosses it, interpolated linearly. `path` yields `(t_s, point)` with increasing times,
/// the first being now (0).
pub fn time_to_cross(
    segment: &Segment,
    path: impl IntoIterator<Item = (f64, Point)>,
) -> Option<Crossing> {
    let mut path = path
        .into_iter()
        .map(|(t, p)| (t, p, segment.signed_distance(p)));
    let (mut t0, mut p0, mut d0) = path.next()?;
    for (t1, p1, d1) in path {
        if segment.crossed_between((p0, d0), (p1, d1)) {
            return Some(Crossing {
                in_s: t0 + (t1 - t0) * d0 / (d0 - d1),
                approach_px_s: (d1 - d0).abs() / (t1 - t0).max(1e-9),
            });
        }
        (t0, p0, d0) = (t1, p1, d1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A horizontal line at y = 100 from x = 0 to 200; "in" is downwards (y grows).
    fn gate() -> LineCounter {
        LineCounter::new(Segment::new([0.0, 100.0], [200.0, 100.0]))
    }

    fn walk(counter: &mut LineCounter, id: u64, ys: &[f64]) -> Vec<Direction> {
        ys.iter()
            .filter_map(|&y| counter.observe(id, [100.0, y], 50.0))
            .collect()
    }

    #[test]
    fn a_straight_crossing_counts_once_in_its_direction() {
        let mut c = gate();
        assert_eq!(
            walk(&mut c, 1, &[60.0, 80.0, 99.0, 120.0, 140.0]),
            [Direction::In]
        );
        assert_eq!(walk(&mut c, 2, &[140.0, 90.0, 50.0]), [Direction::Out]);
        assert_eq!(c.counts(), [1, 1]);
    }

    #[test]
    fn jitter_back_and_forth_over_the_line_counts_once() {
        let mut c = gate();
        // Band: 0.1 × 50 = 5 px. The anchor dithers within ±4 px of the line many times.
        let mut ys = vec![70.0];
        for k in 0..20 {
            ys.push(if k % 2 == 0 { 103.0 } else { 97.0 });
        }
        ys.extend([110.0, 130.0]);
        assert_eq!(walk(&mut c, 1, &ys), [Direction::In]);
        assert_eq!(c.counts(), [1, 0]);
    }

    #[test]
    fn a_track_that_stops_on_the_line_counts_only_when_it_leaves_across() {
        let mut c = gate();
        let mut ys = vec![80.0, 90.0];
        ys.extend(std::iter::repeat_n(100.5, 50));
        assert!(walk(&mut c, 1, &ys).is_empty());
        assert_eq!(walk(&mut c, 1, &[108.0]), [Direction::In]);
        // Stopping and going back where it came from is no crossing.
        let mut d = gate();
        let mut back = vec![80.0];
        back.extend(std::iter::repeat_n(99.0, 30));
        back.push(80.0);
        assert!(walk(&mut d, 2, &back).is_empty());
    }

    #[test]
    fn a_track_lost_and_found_across_the_line_counts_once() {
        let mut c = gate();
        assert!(walk(&mut c, 1, &[60.0, 85.0]).is_empty());
        // No sighting for a while, then found well past the line.
        assert_eq!(walk(&mut c, 1, &[150.0, 160.0]), [Direction::In]);
    }

    #[test]
    fn a_track_that_truly_comes_back_counts_again() {
        let mut c = gate();
        let got = walk(&mut c, 1, &[60.0, 140.0, 60.0, 140.0]);
        assert_eq!(got, [Direction::In, Direction::Out, Direction::In]);
        assert_eq!(c.counts(), [2, 1]);
    }

    #[test]
    fn passing_beside_the_segment_is_no_crossing() {
        let mut c = gate();
        let beside: Vec<Direction> = [60.0, 140.0]
            .iter()
            .filter_map(|&y| c.observe(1, [260.0, y], 50.0))
            .collect();
        assert!(beside.is_empty());
        assert_eq!(c.counts(), [0, 0]);
    }

    #[test]
    fn tracks_are_independent_and_forgotten() {
        let mut c = gate();
        assert!(c.observe(1, [100.0, 60.0], 50.0).is_none());
        assert!(c.observe(2, [100.0, 140.0], 50.0).is_none());
        c.forget(1);
        // Track 1's history is gone: a first sighting below decides nothing.
        assert!(c.observe(1, [100.0, 140.0], 50.0).is_none());
        assert_eq!(c.observe(2, [100.0, 60.0], 50.0), Some(Direction::Out));
    }

    #[test]
    fn time_to_cross_interpolates_along_the_forecast_path() {
        let s = gate().segment;
        // 20 px above the line, predicted 40 px lower after 1 s and 80 px after 2 s.
        let path = [
            (0.0, [100.0, 80.0]),
            (1.0, [100.0, 120.0]),
            (2.0, [100.0, 160.0]),
        ];
        let c = time_to_cross(&s, path).unwrap();
        assert!((c.in_s - 0.5).abs() < 1e-9, "{c:?}");
        assert!((c.approach_px_s - 40.0).abs() < 1e-9, "{c:?}");
        let away = [(0.0, [100.0, 80.0]), (1.0, [100.0, 40.0])];
        assert_eq!(time_to_cross(&s, away), None);
        let beside = [(0.0, [300.0, 80.0]), (1.0, [300.0, 120.0])];
        assert_eq!(time_to_cross(&s, beside), None);
    }
}
