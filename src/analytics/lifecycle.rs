//! track_started / track_ended events from the sequence of tracked frames.
//!
//! Decided on stream time alone (each frame's `pts_ms`), so the same input gives the same events
//! whatever the machine's speed. Frames come in non-decreasing `pts_ms` order; where a source's
//! clock steps back, the latest time seen stands, so a track is never ended while the tracker
//! (which also measures from its latest sighting) may still report it, and never starts twice.

use std::collections::BTreeMap;

use super::scene::CarriedTrack;
use crate::frame::{Event, EventKind, Track};
use crate::geom::BBox;

/// Follows which track IDs are alive and reports when one starts and when one ends.
pub struct Lifecycle {
    end_after_ms: f64,
    /// The latest stream time seen.
    now_ms: f64,
    /// Live tracks by id: a BTreeMap so events come out ordered by id without sorting.
    alive: BTreeMap<u64, Summary>,
}

/// What is known of one live track.
struct Summary {
    class_id: usize,
    first_pts_ms: f64,
    last_pts_ms: f64,
    frames_seen: u64,
    first_bbox: BBox,
    last_bbox: BBox,
    path_px: f32,
}

impl Summary {
    fn new(pts_ms: f64, t: &Track) -> Self {
        Self {
            class_id: t.class_id,
            first_pts_ms: pts_ms,
            last_pts_ms: pts_ms,
            frames_seen: 1,
            first_bbox: t.bbox,
            last_bbox: t.bbox,
            path_px: 0.0,
        }
    }

    fn see(&mut self, pts_ms: f64, t: &Track) {
        let (x0, y0) = self.last_bbox.center();
        let (x1, y1) = t.bbox.center();
        self.path_px += ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        // The tracker may refine a track's class; the latest is the best guess.
        self.class_id = t.class_id;
        self.last_pts_ms = pts_ms;
        self.last_bbox = t.bbox;
        self.frames_seen += 1;
    }

    fn event(&self, kind: EventKind, id: u64, pts_ms: f64) -> Event {
        Event {
            kind,
            id,
            class_id: self.class_id,
            pts_ms,
            first_pts_ms: self.first_pts_ms,
            last_pts_ms: self.last_pts_ms,
            frames_seen: self.frames_seen,
            first_bbox: self.first_bbox,
            last_bbox: self.last_bbox,
            path_px: self.path_px,
        }
    }
}

impl Lifecycle {
    /// `end_after_s`: a track unseen for longer than this has ended (the tracker's lost timeout
    /// plus its coasting, so a track the tracker may still re-find is never ended early).
    pub fn new(end_after_s: f64) -> Self {
        Self {
            end_after_ms: end_after_s * 1000.0,
            now_ms: f64::NEG_INFINITY,
            alive: BTreeMap::new(),
        }
    }

    /// The events decided on this frame, ordered by track id.
    pub fn update(&mut self, pts_ms: f64, tracks: &[Track]) -> Vec<Event> {
        self.now_ms = self.now_ms.max(pts_ms);
        let pts_ms = self.now_ms;
        let mut events = BTreeMap::new();
        for t in tracks {
            match self.alive.get_mut(&t.id) {
                Some(summary) => summary.see(pts_ms, t),
                None => {
                    let summary = Summary::new(pts_ms, t);
                    events.insert(t.id, summary.event(EventKind::TrackStarted, t.id, pts_ms));
                    self.alive.insert(t.id, summary);
                }
            }
        }
        // A track reported on this frame has `last_pts_ms == pts_ms`, so it cannot end here and
        // one map keyed by id holds at most one event per id.
        let ended: Vec<u64> = self
            .alive
            .iter()
            .filter(|(_, s)| pts_ms - s.last_pts_ms > self.end_after_ms)
            .map(|(&id, _)| id)
            .collect();
        for id in ended {
            if let Some(event) = self.end(id) {
                events.insert(id, event);
            }
        }
        events.into_values().collect()
    }

    /// At the end of the stream: every track still alive ends.
    pub fn finish(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.alive)
            .into_iter()
            .map(|(id, s)| s.event(EventKind::TrackEnded, id, s.last_pts_ms))
            .collect()
    }

    /// The latest stream time seen.
    pub fn now_ms(&self) -> f64 {
        self.now_ms
    }

    /// The live tracks' histories, for the camera's next owner.
    pub fn carry(&self) -> Vec<CarriedTrack> {
        self.alive
            .iter()
            .map(|(&id, s)| CarriedTrack {
                id,
                class_id: s.class_id,
                age_s: ((self.now_ms - s.first_pts_ms) / 1000.0).max(0.0),
                unseen_s: ((self.now_ms - s.last_pts_ms) / 1000.0).max(0.0),
                frames_seen: s.frames_seen,
                path_px: s.path_px,
                first_bbox: corners(&s.first_bbox),
                last_bbox: corners(&s.last_bbox),
            })
            .collect()
    }

    /// Tracks an earlier owner followed, alive here from stream time `pts_ms` on (so they do
    /// not start again, and end like any other once unseen), their histories dated back.
    pub fn adopt(&mut self, tracks: &[CarriedTrack], pts_ms: f64) {
        self.now_ms = self.now_ms.max(pts_ms);
        let bbox = |[x1, y1, x2, y2]: [f32; 4]| BBox::new(x1, y1, x2, y2);
        for t in tracks {
            self.alive.entry(t.id).or_insert(Summary {
                class_id: t.class_id,
                first_pts_ms: pts_ms - t.age_s * 1000.0,
                last_pts_ms: pts_ms - t.unseen_s * 1000.0,
                frames_seen: t.frames_seen,
                first_bbox: bbox(t.first_bbox),
                last_bbox: bbox(t.last_bbox),
                path_px: t.path_px,
            });
        }
    }

    /// Live tracks: what this holds in memory.
    pub fn alive(&self) -> usize {
        self.alive.len()
    }

    /// Forgets the track; its end is dated at its last sighting.
    fn end(&mut self, id: u64) -> Option<Event> {
        let s = self.alive.remove(&id)?;
        Some(s.event(EventKind::TrackEnded, id, s.last_pts_ms))
    }
}

fn corners(b: &BBox) -> [f32; 4] {
    [b.x1, b.y1, b.x2, b.y2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: u64, x: f32, y: f32) -> Track {
        Track {
            id,
            class_id: 0,
            score: 0.9,
            bbox: BBox::from_cxcywh(x, y, 10.0, 20.0),
            velocity: [0.0, 0.0],
            predicted: Vec::new(),
        }
    }

    fn kinds(events: &[Event]) -> Vec<(EventKind, u64)> {
        events.iter().map(|e| (e.kind, e.id)).collect()
    }

    #[test]
    fn a_clock_that_steps_back_neither_ends_a_track_early_nor_starts_it_twice() {
        let mut l = Lifecycle::new(1.0);
        l.update(10_000.0, &[track(1, 0.0, 0.0)]);
        // The clock steps back 5 s (the tracker, measuring from its own latest sighting, still
        // reports the track), then forward 1.2 s: still before that sighting.
        assert!(l.update(5_000.0, &[track(1, 0.0, 0.0)]).is_empty());
        assert!(l.update(6_200.0, &[]).is_empty());
        assert!(
            l.update(6_300.0, &[track(1, 0.0, 0.0)]).is_empty(),
            "no second start"
        );
        let e = l.update(11_100.0, &[]);
        assert_eq!(kinds(&e), vec![(EventKind::TrackEnded, 1)]);
    }

    #[test]
    fn a_track_starts_once_on_its_first_frame() {
        let mut l = Lifecycle::new(1.0);
        let e = l.update(40.0, &[track(2, 0.0, 0.0), track(1, 0.0, 0.0)]);
        assert_eq!(
            kinds(&e),
            vec![(EventKind::TrackStarted, 1), (EventKind::TrackStarted, 2)]
        );
        assert_eq!(e[0].pts_ms, 40.0);
        assert_eq!((e[0].first_pts_ms, e[0].last_pts_ms), (40.0, 40.0));
        assert_eq!(e[0].frames_seen, 1);
        assert!(l.update(80.0, &[track(1, 0.0, 0.0)]).is_empty());
    }

    #[test]
    fn a_track_ends_on_the_first_frame_past_the_gap_dated_at_its_last_sighting() {
        let mut l = Lifecycle::new(1.0);
        l.update(0.0, &[track(7, 0.0, 0.0)]);
        l.update(100.0, &[track(7, 3.0, 4.0)]);
        // Exactly the gap: the tracker could still re-find it.
        assert!(l.update(1100.0, &[]).is_empty());
        let e = l.update(1100.5, &[]);
        assert_eq!(kinds(&e), vec![(EventKind::TrackEnded, 7)]);
        assert_eq!(e[0].pts_ms, 100.0);
        assert_eq!((e[0].first_pts_ms, e[0].last_pts_ms), (0.0, 100.0));
        assert_eq!(l.alive(), 0, "an ended track is forgotten");
        assert!(l.update(5000.0, &[]).is_empty(), "it ends once");
    }

    #[test]
    fn a_track_seen_again_within_the_gap_does_not_end() {
        let mut l = Lifecycle::new(1.0);
        l.update(0.0, &[track(3, 0.0, 0.0)]);
        assert!(l.update(900.0, &[]).is_empty());
        assert!(l.update(1000.0, &[track(3, 0.0, 0.0)]).is_empty());
        assert!(l.update(1900.0, &[]).is_empty());
        assert_eq!(l.alive(), 1);
    }

    #[test]
    fn starts_and_ends_on_one_frame_come_ordered_by_id() {
        let mut l = Lifecycle::new(0.5);
        l.update(0.0, &[track(5, 0.0, 0.0), track(9, 0.0, 0.0)]);
        let e = l.update(1000.0, &[track(7, 0.0, 0.0)]);
        assert_eq!(
            kinds(&e),
            vec![
                (EventKind::TrackEnded, 5),
                (EventKind::TrackStarted, 7),
                (EventKind::TrackEnded, 9)
            ]
        );
    }

    #[test]
    fn finish_ends_every_live_track() {
        let mut l = Lifecycle::new(10.0);
        l.update(0.0, &[track(4, 0.0, 0.0), track(2, 0.0, 0.0)]);
        l.update(40.0, &[track(4, 0.0, 0.0)]);
        let e = l.finish();
        assert_eq!(
            kinds(&e),
            vec![(EventKind::TrackEnded, 2), (EventKind::TrackEnded, 4)]
        );
        assert_eq!(e[0].pts_ms, 0.0);
        assert_eq!(e[1].pts_ms, 40.0);
        assert_eq!(l.alive(), 0);
        assert!(l.finish().is_empty());
    }

    #[test]
    fn counts_frames_and_sums_the_centre_path() {
        let mut l = Lifecycle::new(1.0);
        l.update(0.0, &[track(1, 0.0, 0.0)]);
        l.update(40.0, &[track(1, 3.0, 4.0)]);
        l.update(80.0, &[]);
        l.update(120.0, &[track(1, 3.0, 10.0)]);
        let e = l.finish();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].frames_seen, 3);
        assert!((e[0].path_px - 11.0).abs() < 1e-4, "{}", e[0].path_px);
        assert_eq!(e[0].first_bbox, BBox::from_cxcywh(0.0, 0.0, 10.0, 20.0));
        assert_eq!(e[0].last_bbox, BBox::from_cxcywh(3.0, 10.0, 10.0, 20.0));
        assert_eq!((e[0].first_pts_ms, e[0].last_pts_ms), (0.0, 120.0));
    }
}
