//! Polygon zones: who is inside, since when, and who stays too long.
//!
//! As for lines, a track's anchor must be clearly inside (or outside) before its state changes —
//! a band proportional to box height around the border — so a person standing on the border does
//! not enter and leave on every frame. Times are stream times, so the same input gives the same
//! events on any machine.

use super::scene::CarriedVisit;
use super::TrackMap;
use crate::geom::{Point, Polygon};

const BAND_OF_HEIGHT: f64 = 0.1;
const MIN_BAND_PX: f64 = 2.0;

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

    /// Who is inside at stream time `now_ms`, and for how long, for the camera's next owner.
    pub fn visits(&self, now_ms: f64) -> Vec<CarriedVisit> {
        let mut visits: Vec<CarriedVisit> = self
            .inside
            .iter()
            .map(|(&id, v)| CarriedVisit {
                id,
                dwell_s: ((now_ms - v.since_ms) / 1000.0).max(0.0),
                loiter_reported: v.loiter_reported,
            })
            .collect();
        visits.sort_by_key(|v| v.id);
        visits
    }

    /// Visits an earlier owner saw begin, inside here from stream time `pts_ms` on.
    pub fn adopt(&mut self, visits: &[CarriedVisit], pts_ms: f64) {
        for v in visits {
            self.inside.entry(v.id).or_insert(Visit {
                since_ms: pts_ms - v.dwell_s * 1000.0,
                last_ms: pts_ms,
                loiter_reported: v.loiter_reported,
            });
        }
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
