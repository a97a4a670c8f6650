//! What one camera's analytics carry from one owner to the next (cluster mode): the line
//! totals, who is inside which zone and for how long, and the live tracks' histories. A new
//! owner after a planned move takes all of it, so its live tracks neither start again nor
//! enter their zones again; after a crash it takes the counts alone (the tracks the old owner
//! left open are ended as handed over, and new ones start). Pure data, written as JSON.

use serde::{Deserialize, Serialize};

use super::Analyzer;
use crate::scene::Direction;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Carried {
    pub lines: Vec<CarriedLine>,
    pub zones: Vec<CarriedZone>,
    /// The lifecycle of every live track.
    pub tracks: Vec<CarriedTrack>,
}

/// One line's crossings so far, and the side each live track was last clearly on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CarriedLine {
    pub name: String,
    pub totals: Vec<ClassCrossings>,
    /// `(track id, on the positive side, where)`.
    pub sides: Vec<(u64, bool, [f64; 2])>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCrossings {
    pub class_id: usize,
    #[serde(rename = "in")]
    pub inward: u64,
    #[serde(rename = "out")]
    pub outward: u64,
}

/// Who is inside one zone now, and for how long already.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CarriedZone {
    pub name: String,
    pub visits: Vec<CarriedVisit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CarriedVisit {
    pub id: u64,
    pub dwell_s: f64,
    pub loiter_reported: bool,
}

/// A live track's history so far, as its `track_ended` event will sum it up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CarriedTrack {
    pub id: u64,
    pub class_id: usize,
    pub age_s: f64,
    /// Seconds since it was last seen: a track lost at the hand-over ends at the next owner
    /// when it would have here.
    pub unseen_s: f64,
    pub frames_seen: u64,
    pub path_px: f32,
    /// `[x1, y1, x2, y2]`.
    pub first_bbox: [f32; 4],
    pub last_bbox: [f32; 4],
}

impl Carried {
    /// The counts alone, for an owner that does not continue the tracks (a crash, a stale
    /// hand-over).
    pub fn counts_only(mut self) -> Self {
        self.tracks.clear();
        for line in &mut self.lines {
            line.sides.clear();
        }
        for zone in &mut self.zones {
            zone.visits.clear();
        }
        self
    }

    /// Total crossings of every line, both directions: a quick figure for logs and tests.
    pub fn crossings(&self) -> u64 {
        self.lines
            .iter()
            .flat_map(|l| &l.totals)
            .map(|c| c.inward + c.outward)
            .sum()
    }
}

impl Analyzer {
    /// What the next owner needs to go on where this one is.
    pub fn carry(&self) -> Carried {
        let now_ms = self.lifecycle.now_ms();
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(|(k, line)| {
                let mut totals: Vec<ClassCrossings> = Vec::new();
                for (&(_, direction, class_id), &count) in self
                    .totals
                    .range((k, Direction::In, 0)..=(k, Direction::Out, usize::MAX))
                {
                    let i = match totals.iter().position(|c| c.class_id == class_id) {
                        Some(i) => i,
                        None => {
                            totals.push(ClassCrossings {
                                class_id,
                                ..ClassCrossings::default()
                            });
                            totals.len() - 1
                        }
                    };
                    match direction {
                        Direction::In => totals[i].inward = count,
                        Direction::Out => totals[i].outward = count,
                    }
                }
                CarriedLine {
                    name: line.name.to_string(),
                    totals,
                    sides: line.counter.sides(),
                }
            })
            .collect();
        let zones = self
            .zones
            .iter()
            .map(|z| CarriedZone {
                name: z.name.to_string(),
                visits: z.watcher.visits(now_ms),
            })
            .collect();
        Carried {
            lines,
            zones,
            tracks: self.lifecycle.carry(),
        }
    }

    /// Goes on from what an earlier owner carried: the counts of the lines of the same name at
    /// once; the live tracks and zone visits on the first frame, which gives the stream time
    /// they are dated from. Lines and zones no longer configured are dropped.
    pub fn resume(&mut self, carried: Carried) {
        for (k, line) in self.lines.iter_mut().enumerate() {
            let Some(from) = carried.lines.iter().find(|l| *line.name == *l.name) else {
                continue;
            };
            let mut counts = [0, 0];
            for c in &from.totals {
                for (direction, n) in [(Direction::In, c.inward), (Direction::Out, c.outward)] {
                    if n > 0 {
                        self.totals.insert((k, direction, c.class_id), n);
                        counts[direction as usize] += n;
                    }
                }
            }
            line.counter.resume(counts, &from.sides);
        }
        self.resumed = Some(carried);
    }

    /// On the first frame after `resume`: the live tracks and zone visits, dated back from it.
    pub(super) fn adopt_resumed(&mut self, pts_ms: f64) {
        let Some(carried) = self.resumed.take() else {
            return;
        };
        self.lifecycle.adopt(&carried.tracks, pts_ms);
        for zone in &mut self.zones {
            if let Some(from) = carried.zones.iter().find(|z| *zone.name == *z.name) {
                zone.watcher.adopt(&from.visits, pts_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::AnalyticsConfig;
    use crate::frame::{EventKind, Track};
    use crate::geom::BBox;
    use crate::labels::Labels;
    use crate::scene::SceneEventKind;

    /// A vertical line at x = 100 and a zone over the right half.
    fn analyzer() -> Analyzer {
        let config: AnalyticsConfig = toml::from_str(
            r#"
            [[lines]]
            name = "door"
            points = [[100, 0], [100, 400]]
            [[zones]]
            name = "right"
            points = [[100, 0], [400, 0], [400, 400], [100, 400]]
            "#,
        )
        .unwrap();
        let labels = Labels::from_names(vec!["person".into()]);
        Analyzer::new(&config, &labels, 1.0, "analytics").unwrap()
    }

    fn person(id: u64, x: f32) -> Track {
        Track {
            id,
            class_id: 0,
            score: 0.9,
            bbox: BBox::new(x - 10.0, 100.0, x + 10.0, 200.0),
            velocity: [0.0, 0.0],
            predicted: Vec::new(),
        }
    }

    /// Track 1 walks across the line into the zone; track 2 stands left of it.
    fn first_owner() -> Analyzer {
        let mut a = analyzer();
        for k in 0..20 {
            let x = 40.0 + 10.0 * k as f32;
            a.update(k as f64 * 100.0, &[person(1, x), person(2, 50.0)]);
        }
        a
    }

    #[test]
    fn a_planned_move_goes_on_without_second_starts_entries_or_lost_counts() {
        let before = first_owner();
        let carried = before.carry();
        assert_eq!(carried.crossings(), 1);
        assert_eq!(carried.tracks.len(), 2);
        assert_eq!(carried.zones[0].visits.len(), 1);
        // Through JSON, as etcd holds it.
        let carried: Carried =
            serde_json::from_str(&serde_json::to_string(&carried).unwrap()).unwrap();

        // The next owner's clock starts elsewhere.
        let mut after = analyzer();
        after.resume(carried);
        let (events, scene) = after.update(50_000.0, &[person(1, 240.0), person(2, 50.0)]);
        assert!(events.is_empty(), "continued tracks do not start again");
        assert!(scene.events.is_empty(), "nor enter their zone again");
        assert_eq!(scene.line_counts, vec![[0, 1]]);
        assert_eq!(scene.occupancy[0].get(&0), Some(&1));
        // Track 2 crosses at the new owner: the count goes on from 1.
        let (_, scene) = after.update(50_100.0, &[person(1, 240.0), person(2, 150.0)]);
        assert_eq!(scene.line_counts, vec![[0, 2]]);
        // Track 1 leaves the zone: its dwell counts from its entry at the first owner.
        let (_, scene) = after.update(50_200.0, &[person(1, 500.0), person(2, 150.0)]);
        let exit = scene
            .events
            .iter()
            .find(|e| e.id == 1 && matches!(e.kind, SceneEventKind::ZoneExit { .. }))
            .expect("track 1 leaves the zone");
        let SceneEventKind::ZoneExit { dwell_s } = exit.kind else {
            unreachable!()
        };
        assert!((1.4..1.8).contains(&dwell_s), "dwell {dwell_s}");
        // Ended there, its summary covers both owners.
        let ended = after.end_all(crate::frame::EndReason::Stream, 50_300.0);
        let one = ended.events.iter().find(|e| e.id == 1).unwrap();
        assert_eq!(one.kind, EventKind::TrackEnded);
        assert_eq!(one.frames_seen, 23);
        assert!((one.last_pts_ms - one.first_pts_ms - 2100.0).abs() < 1.0);
        assert_eq!(after.totals()[0].count, 2);
    }

    #[test]
    fn after_a_crash_only_the_counts_go_on() {
        let carried = first_owner().carry().counts_only();
        assert!(carried.tracks.is_empty() && carried.zones[0].visits.is_empty());
        let mut after = analyzer();
        after.resume(carried);
        let (events, scene) = after.update(0.0, &[person(7, 240.0)]);
        assert_eq!(events.len(), 1, "a new track starts");
        assert_eq!(events[0].kind, EventKind::TrackStarted);
        assert_eq!(scene.line_counts, vec![[0, 1]], "the count is kept");
        assert!(
            matches!(scene.events[0].kind, SceneEventKind::ZoneEnter),
            "and it enters the zone"
        );
    }

    #[test]
    fn a_carried_track_that_never_shows_again_still_ends() {
        // Track 2 was last seen 0.6 s before the hand-over: it ends 0.4 s into the next owner.
        let mut before = analyzer();
        before.update(0.0, &[person(1, 50.0), person(2, 50.0)]);
        before.update(600.0, &[person(1, 50.0)]);
        let mut after = analyzer();
        after.resume(before.carry());
        assert!(after.update(10_000.0, &[person(1, 50.0)]).0.is_empty());
        let ended = after.update(10_450.0, &[person(1, 50.0)]).0;
        assert_eq!(ended.len(), 1);
        assert_eq!((ended[0].id, ended[0].kind), (2, EventKind::TrackEnded));
        assert_eq!(ended[0].last_pts_ms, 9_400.0, "dated at its last sighting");
    }

    #[test]
    fn carried_tracks_end_once_unseen_too_long() {
        let mut after = analyzer();
        after.resume(first_owner().carry());
        assert!(after.update(0.0, &[]).0.is_empty());
        let ended = after.update(1_500.0, &[]).0;
        assert_eq!(
            ended.len(),
            2,
            "both carried tracks end once unseen too long"
        );
        assert!(ended.iter().all(|e| e.kind == EventKind::TrackEnded));
    }
}
