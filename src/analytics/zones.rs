//! Polygon zones: who is inside, since when, and who stays too long.
//!
//! As for lines, a track's anchor must be clearly inside (or outside) before its state changes —
//! a band proportional to box height around the border — so a person standing on the border does
//! not enter and leave on every frame. Times are stream times, so the same input gives the same
//! events on any machine.

use super::lines::Segment;
use super::{norm, Point, TrackMap};

const BAND_OF_HEIGHT: f64 = 0.1;
const MIN_BAND_PX: f64 = 2.0;

/// A simple polygon (at least three corners, edges that do not cross, an area).
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    pub corners: Vec<Point>,
}

impl Polygon {
    /// Checks the shape; the message says what is wrong with it.
    pub fn new(corners: Vec<Point>) -> Result<Self, String> {
        if corners.len() < 3 {
            return Err(format!(
                "a polygon needs at least 3 points, got {}",
                corners.len()
            ));
        }
        if corners.iter().flatten().any(|v| !v.is_finite()) {
            return Err("points must be finite numbers".into());
        }
        let polygon = Self { corners };
        if let Some((i, j)) = polygon.crossing_edges() {
            return Err(format!(
                "edges {} and {} cross: the points must go around the zone in order",
                i + 1,
                j + 1
            ));
        }
        if polygon.area() < 1e-9 {
            return Err("the points enclose no area (all on one line?)".into());
        }
        Ok(polygon)
    }

    fn edges(&self) -> impl Iterator<Item = Segment> + '_ {
        let n = self.corners.len();
        (0..n).map(move |i| Segment::new(self.corners[i], self.corners[(i + 1) % n]))
    }

    fn area(&self) -> f64 {
        self.edges()
            .map(|e| e.a[0] * e.b[1] - e.b[0] * e.a[1])
            .sum::<f64>()
            .abs()
            / 2.0
    }

    /// The first pair of non-adjacent edges that cross, if any.
    fn crossing_edges(&self) -> Option<(usize, usize)> {
        let edges: Vec<Segment> = self.edges().collect();
        let n = edges.len();
        for i in 0..n {
            for j in i + 2..n {
                if i == 0 && j == n - 1 {
                    continue; // they share the first corner
                }
                let (e, f) = (edges[i], edges[j]);
                if e.crossed_by(f.a, f.b) && f.crossed_by(e.a, e.b) {
                    return Some((i, j));
                }
            }
        }
        None
    }

    /// Even-odd rule.
    pub fn contains(&self, p: Point) -> bool {
        let mut inside = false;
        for e in self.edges() {
            let (a, b) = (e.a, e.b);
            if (a[1] > p[1]) != (b[1] > p[1]) {
                let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
                if p[0] < x {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Distance from `p` to the nearest point of the border.
    pub fn distance_to_border(&self, p: Point) -> f64 {
        self.edges()
            .map(|e| {
                let (dx, dy) = (e.b[0] - e.a[0], e.b[1] - e.a[1]);
                let u = (((p[0] - e.a[0]) * dx + (p[1] - e.a[1]) * dy) / (dx * dx + dy * dy))
                    .clamp(0.0, 1.0);
                norm(p[0] - e.a[0] - u * dx, p[1] - e.a[1] - u * dy)
            })
            .fold(f64::INFINITY, f64::min)
    }
}

/// What happened to one track in one zone on one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ZoneChange {
    Enter,
    /// Left after `dwell_s` seconds inside.
    Exit {
        dwell_s: f64,
    },
    /// Has been inside for `dwell_s` seconds, the zone's loitering limit: once per visit.
    Loiter {
        dwell_s: f64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Visit {
    since_ms: f64,
    last_ms: f64,
    loiter_reported: bool,
}

/// One zone's visits, for every track of a stream.
#[derive(Debug)]
pub struct ZoneWatcher {
    pub polygon: Polygon,
    /// 0: no loitering events.
    loiter_s: f64,
    inside: TrackMap<Visit>,
}

impl ZoneWatcher {
    pub fn new(polygon: Polygon, loiter_s: f64) -> Self {
        Self {
            polygon,
            loiter_s,
            inside: TrackMap::default(),
        }
    }

    /// Follows track `id` to `anchor` (box height `height`) at stream time `pts_ms`.
    pub fn observe(
        &mut self,
        id: u64,
        anchor: Point,
        height: f64,
        pts_ms: f64,
    ) -> Option<ZoneChange> {
        let inside = self.polygon.contains(anchor);
        // The border distance only matters when the state would change (most tracks are far
        // from most zones and stay where they are).
        let clear = || {
            self.polygon.distance_to_border(anchor) >= (BAND_OF_HEIGHT * height).max(MIN_BAND_PX)
        };
        let visit = self.inside.get(&id).copied();
        let changes = inside != visit.is_some();
        if changes && !clear() {
            return None; // on the border: nothing decided yet
        }
        match visit {
            None if inside => {
                self.inside.insert(
                    id,
                    Visit {
                        since_ms: pts_ms,
                        last_ms: pts_ms,
                        loiter_reported: false,
                    },
                );
                Some(ZoneChange::Enter)
            }
            Some(visit) if !inside => {
                let dwell_s = (pts_ms - visit.since_ms).max(0.0) / 1000.0;
                self.inside.remove(&id);
                Some(ZoneChange::Exit { dwell_s })
            }
            Some(_) => {
                let visit = self.inside.get_mut(&id)?;
                visit.last_ms = pts_ms;
                let dwell_s = (pts_ms - visit.since_ms).max(0.0) / 1000.0;
                if self.loiter_s > 0.0 && dwell_s >= self.loiter_s && !visit.loiter_reported {
                    visit.loiter_reported = true;
                    return Some(ZoneChange::Loiter { dwell_s });
                }
                None
            }
            None => None,
        }
    }

    /// A track that ended: if it was inside, it left when it was last seen there.
    pub fn forget(&mut self, id: u64) -> Option<ZoneChange> {
        let visit = self.inside.remove(&id)?;
        Some(ZoneChange::Exit {
            dwell_s: (visit.last_ms - visit.since_ms).max(0.0) / 1000.0,
        })
    }

    pub fn is_inside(&self, id: u64) -> bool {
        self.inside.contains_key(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon::new(vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]]).unwrap()
    }

    #[test]
    fn shapes_are_checked() {
        assert!(Polygon::new(vec![[0.0, 0.0], [1.0, 1.0]])
            .unwrap_err()
            .contains("at least 3"));
        assert!(Polygon::new(vec![[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
            .unwrap_err()
            .contains("no area"));
        // A bow tie: edges 1 and 3 cross.
        let bow = Polygon::new(vec![[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]]);
        assert!(bow.unwrap_err().contains("cross"), "bow tie");
        assert!(Polygon::new(vec![[0.0, 0.0], [f64::NAN, 1.0], [2.0, 0.0]]).is_err());
    }

    #[test]
    fn containment_and_border_distance() {
        let p = square();
        assert!(p.contains([50.0, 50.0]));
        assert!(!p.contains([150.0, 50.0]));
        assert!((p.distance_to_border([50.0, 10.0]) - 10.0).abs() < 1e-9);
        assert!((p.distance_to_border([103.0, 104.0]) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn enter_dwell_loiter_and_exit_follow_stream_time() {
        let mut z = ZoneWatcher::new(square(), 2.0);
        let h = 20.0; // band 2 px
        assert_eq!(z.observe(1, [-20.0, 50.0], h, 0.0), None);
        assert_eq!(
            z.observe(1, [30.0, 50.0], h, 500.0),
            Some(ZoneChange::Enter)
        );
        assert_eq!(z.observe(1, [40.0, 50.0], h, 1500.0), None);
        assert_eq!(
            z.observe(1, [40.0, 50.0], h, 2500.0),
            Some(ZoneChange::Loiter { dwell_s: 2.0 })
        );
        assert_eq!(z.observe(1, [40.0, 50.0], h, 3000.0), None, "loiter once");
        assert_eq!(
            z.observe(1, [130.0, 50.0], h, 4000.0),
            Some(ZoneChange::Exit { dwell_s: 3.5 })
        );
    }

    #[test]
    fn standing_on_the_border_neither_enters_nor_leaves() {
        let mut z = ZoneWatcher::new(square(), 0.0);
        let h = 50.0; // band 5 px
        for k in 0..20 {
            let x = if k % 2 == 0 { 98.0 } else { 102.0 };
            assert_eq!(z.observe(1, [x, 50.0], h, k as f64 * 100.0), None);
        }
        assert!(!z.is_inside(1));
        assert_eq!(
            z.observe(1, [80.0, 50.0], h, 2100.0),
            Some(ZoneChange::Enter)
        );
        for k in 0..20 {
            let x = if k % 2 == 0 { 98.0 } else { 102.0 };
            assert_eq!(z.observe(1, [x, 50.0], h, 2200.0 + k as f64 * 100.0), None);
        }
        assert!(z.is_inside(1));
    }

    #[test]
    fn an_ended_track_leaves_when_last_seen_inside() {
        let mut z = ZoneWatcher::new(square(), 0.0);
        z.observe(3, [50.0, 50.0], 20.0, 1000.0);
        z.observe(3, [50.0, 50.0], 20.0, 1800.0);
        assert_eq!(z.forget(3), Some(ZoneChange::Exit { dwell_s: 0.8 }));
        assert_eq!(z.forget(3), None);
    }
}
