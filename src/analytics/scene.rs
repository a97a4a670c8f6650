//! One stream's analytics: track lifecycles, line crossings, zone visits, ground speed and
//! forecast crossings, from the tracker's output frame by frame. Pure.

mod carry;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::config::{AnalyticsConfig, Anchor};
use super::footing::Footing;
use super::homography::Homography;
use super::lines::{time_to_cross, LineCounter};
use super::zones::{ZoneChange, ZoneWatcher};
use super::{Lifecycle, Point};
use crate::frame::{EndReason, Event, EventKind, Prediction, StreamEnd, Track};
use crate::geom::{BBox, Segment};
use crate::labels::Labels;
use crate::scene::{
    CrossingForecast, Direction, Layout, SceneEvent, SceneEventKind, SceneFrame, TrackInsight,
};
pub use carry::{Carried, CarriedTrack, CarriedVisit};

/// Crossings of one line in one direction by one class, over the whole run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineTotal {
    pub line: Arc<str>,
    pub direction: Direction,
    pub class_id: usize,
    pub count: u64,
}

/// A rule's class filter: `None` follows every class.
type Classes = Option<Vec<usize>>;

struct Line {
    name: Arc<str>,
    classes: Classes,
    anchor: Anchor,
    counter: LineCounter,
}

struct Zone {
    name: Arc<str>,
    classes: Classes,
    anchor: Anchor,
    watcher: ZoneWatcher,
}

pub struct Analyzer {
    lifecycle: Lifecycle,
    lines: Vec<Line>,
    zones: Vec<Zone>,
    ground: Option<Homography>,
    layout: Arc<Layout>,
    totals: BTreeMap<(usize, Direction, usize), u64>,
    footing: Footing,
    /// What an earlier owner carried, taken in on the first frame (`resume`).
    resumed: Option<Carried>,
}

fn follows(classes: &Classes, class_id: usize) -> bool {
    classes.as_ref().is_none_or(|c| c.contains(&class_id))
}

/// The anchor point of a box whose object stands `hidden_below` pixels lower than its bottom
/// (see `Footing`).
fn anchor_of(b: &BBox, anchor: Anchor, hidden_below: f64) -> Point {
    let (cx, cy) = b.center();
    match anchor {
        Anchor::BottomCenter => [cx as f64, b.y2 as f64 + hidden_below],
        Anchor::Center => [cx as f64, cy as f64 + hidden_below / 2.0],
    }
}

fn class_ids(labels: &Labels, names: &[String], key: &str) -> Result<Classes, String> {
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|n| labels.id_of(n).map_err(|e| format!("{key}: {e}")))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl Analyzer {
    /// `prefix` names the config section in errors; `end_after_s` is when an unseen track has
    /// ended (see `Lifecycle`). The config must have been validated.
    pub fn new(
        config: &AnalyticsConfig,
        labels: &Labels,
        end_after_s: f64,
        prefix: &str,
    ) -> Result<Self, String> {
        let mut lines = Vec::new();
        for (i, c) in config.lines.iter().enumerate() {
            lines.push(Line {
                name: c.name.as_str().into(),
                classes: class_ids(labels, &c.classes, &format!("{prefix}.lines[{i}].classes"))?,
                anchor: c.anchor,
                counter: LineCounter::new(c.segment()?),
            });
        }
        let mut zones = Vec::new();
        for (i, c) in config.zones.iter().enumerate() {
            zones.push(Zone {
                name: c.name.as_str().into(),
                classes: class_ids(labels, &c.classes, &format!("{prefix}.zones[{i}].classes"))?,
                anchor: c.anchor,
                watcher: ZoneWatcher::new(c.polygon()?, c.loiter_s),
            });
        }
        let ground = config.homography.as_ref().map(|h| h.fit()).transpose()?;
        let layout = Arc::new(Layout {
            lines: lines
                .iter()
                .map(|l| (l.name.clone(), l.counter.segment))
                .collect(),
            zones: zones
                .iter()
                .map(|z| (z.name.clone(), z.watcher.polygon.clone()))
                .collect(),
        });
        Ok(Self {
            lifecycle: Lifecycle::new(end_after_s),
            lines,
            zones,
            ground,
            layout,
            totals: BTreeMap::new(),
            footing: Footing::default(),
            resumed: None,
        })
    }

    /// Lifecycle events only, no lines or zones.
    pub fn lifecycle_only(end_after_s: f64) -> Self {
        Self {
            lifecycle: Lifecycle::new(end_after_s),
            lines: Vec::new(),
            zones: Vec::new(),
            ground: None,
            layout: Arc::default(),
            totals: BTreeMap::new(),
            footing: Footing::default(),
            resumed: None,
        }
    }

    fn has_rules(&self) -> bool {
        !self.lines.is_empty() || !self.zones.is_empty() || self.ground.is_some()
    }

    /// The events decided on a frame at `pts_ms` with these tracks, and what the scene shows.
    pub fn update(&mut self, pts_ms: f64, tracks: &[Track]) -> (Vec<Event>, SceneFrame) {
        self.adopt_resumed(pts_ms);
        let events = self.lifecycle.update(pts_ms, tracks);
        if !self.has_rules() {
            return (events, SceneFrame::default());
        }
        let mut scene = SceneFrame {
            layout: self.layout.clone(),
            ..SceneFrame::default()
        };
        for t in tracks {
            self.follow(t, pts_ms, &mut scene);
        }
        for ended in events.iter().filter(|e| e.kind == EventKind::TrackEnded) {
            self.forget(ended, &mut scene);
        }
        scene.line_counts = self.lines.iter().map(|l| l.counter.counts()).collect();
        scene.occupancy = self
            .zones
            .iter()
            .map(|z| {
                let mut by_class = BTreeMap::new();
                for t in tracks.iter().filter(|t| z.watcher.is_inside(t.id)) {
                    *by_class.entry(t.class_id).or_insert(0) += 1;
                }
                by_class
            })
            .collect();
        (events, scene)
    }

    /// One track against every line and zone.
    fn follow(&mut self, t: &Track, pts_ms: f64, scene: &mut SceneFrame) {
        let hidden = self.footing.hidden_below(t.id, &t.bbox, pts_ms);
        let height = t.bbox.height() as f64 + hidden;
        let velocity = [t.velocity[0] as f64, t.velocity[1] as f64];
        let speed_px_s = super::norm(velocity[0], velocity[1]);
        let speed_m_s = self
            .ground
            .as_ref()
            .and_then(|g| g.speed_m_s(anchor_of(&t.bbox, Anchor::BottomCenter, hidden), velocity));
        let event = |kind, place: &Arc<str>| SceneEvent {
            kind,
            place: place.clone(),
            id: t.id,
            class_id: t.class_id,
            pts_ms,
            speed_px_s,
            speed_m_s,
        };
        let mut insight = TrackInsight {
            id: t.id,
            speed_m_s,
            crossings: Vec::new(),
        };
        for (k, line) in self.lines.iter_mut().enumerate() {
            if !follows(&line.classes, t.class_id) {
                continue;
            }
            let anchor = anchor_of(&t.bbox, line.anchor, hidden);
            if let Some(direction) = line.counter.observe(t.id, anchor, height) {
                scene
                    .events
                    .push(event(SceneEventKind::LineCross(direction), &line.name));
                *self.totals.entry((k, direction, t.class_id)).or_insert(0) += 1;
            }
            if let Some((in_s, std_s)) =
                forecast_crossing(&line.counter.segment, t, line.anchor, hidden)
            {
                insight.crossings.push(CrossingForecast {
                    line: line.name.clone(),
                    in_s,
                    std_s,
                });
            }
        }
        for zone in self
            .zones
            .iter_mut()
            .filter(|z| follows(&z.classes, t.class_id))
        {
            let anchor = anchor_of(&t.bbox, zone.anchor, hidden);
            if let Some(change) = zone.watcher.observe(t.id, anchor, height, pts_ms) {
                scene.events.push(event(zone_event(change), &zone.name));
            }
        }
        if insight.speed_m_s.is_some() || !insight.crossings.is_empty() {
            scene.insights.push(insight);
        }
    }

    /// A track ended: it leaves the zones it was in, at its last sighting.
    fn forget(&mut self, ended: &Event, scene: &mut SceneFrame) {
        self.footing.forget(ended.id);
        for line in &mut self.lines {
            line.counter.forget(ended.id);
        }
        for zone in &mut self.zones {
            if let Some(change) = zone.watcher.forget(ended.id) {
                scene.events.push(SceneEvent {
                    kind: zone_event(change),
                    place: zone.name.clone(),
                    id: ended.id,
                    class_id: ended.class_id,
                    pts_ms: ended.last_pts_ms,
                    speed_px_s: 0.0,
                    speed_m_s: None,
                });
            }
        }
    }

    /// The stream ended, or stopped for longer than a track can be lost (`reason`), at stream
    /// time `pts_ms`: every track still alive ends, and leaves the zones it was in.
    pub fn end_all(&mut self, reason: EndReason, pts_ms: f64) -> StreamEnd {
        let events = self.lifecycle.finish();
        let mut scene = SceneFrame {
            layout: self.layout.clone(),
            ..SceneFrame::default()
        };
        for ended in &events {
            self.forget(ended, &mut scene);
        }
        StreamEnd {
            reason,
            pts_ms,
            events,
            scene,
        }
    }

    /// Crossings per line, direction and class, in the order of the config.
    pub fn totals(&self) -> Vec<LineTotal> {
        self.totals
            .iter()
            .map(|(&(k, direction, class_id), &count)| LineTotal {
                line: self.lines[k].name.clone(),
                direction,
                class_id,
                count,
            })
            .collect()
    }
}

fn zone_event(change: ZoneChange) -> SceneEventKind {
    match change {
        ZoneChange::Enter => SceneEventKind::ZoneEnter,
        ZoneChange::Exit { dwell_s } => SceneEventKind::ZoneExit { dwell_s },
        ZoneChange::Loiter { dwell_s } => SceneEventKind::Loiter { dwell_s },
    }
}

/// When the track's forecast path crosses `segment`, with the uncertainty of that time: the
/// spread of the forecast position across the line, divided by how fast it approaches the line.
/// The forecasts keep the box's size, so their feet are as far below them as now.
fn forecast_crossing(
    segment: &Segment,
    t: &Track,
    anchor: Anchor,
    hidden_below: f64,
) -> Option<(f64, f64)> {
    let now = std::iter::once((0.0, anchor_of(&t.bbox, anchor, hidden_below)));
    let ahead = t
        .predicted
        .iter()
        .map(|p| (p.dt_s as f64, anchor_of(&p.bbox, anchor, hidden_below)));
    let c = time_to_cross(segment, now.chain(ahead))?;
    let spread = across_spread(segment, &t.predicted, c.in_s);
    Some((c.in_s, spread / c.approach_px_s.max(1e-9)))
}

/// Standard deviation, across the line, of the forecast position `in_s` from now: the
/// forecasts' centre covariances interpolated in time (zero now).
fn across_spread(segment: &Segment, predicted: &[Prediction], in_s: f64) -> f64 {
    let length = segment.length();
    let n = [
        -(segment.b[1] - segment.a[1]) / length,
        (segment.b[0] - segment.a[0]) / length,
    ];
    let variance = |c: &[f32; 3]| {
        let (sxx, sxy, syy) = (c[0] as f64, c[1] as f64, c[2] as f64);
        n[0] * n[0] * sxx + 2.0 * n[0] * n[1] * sxy + n[1] * n[1] * syy
    };
    let mut before = (0.0, 0.0);
    for p in predicted {
        let here = (p.dt_s as f64, variance(&p.cov_xy));
        if here.0 >= in_s {
            let f = (in_s - before.0) / (here.0 - before.0).max(1e-9);
            return (before.1 + f * (here.1 - before.1)).max(0.0).sqrt();
        }
        before = here;
    }
    before.1.max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::config::{HomographyConfig, LineConfig, ZoneConfig};

    fn labels() -> Labels {
        Labels::parse("person\ncar\n").unwrap()
    }

    fn track(id: u64, class_id: usize, cx: f32, bottom: f32, vy: f32) -> Track {
        Track {
            id,
            class_id,
            score: 0.9,
            bbox: BBox::new(cx - 10.0, bottom - 40.0, cx + 10.0, bottom),
            velocity: [0.0, vy],
            predicted: Vec::new(),
        }
    }

    fn config() -> AnalyticsConfig {
        AnalyticsConfig {
            lines: vec![LineConfig {
                name: "gate".into(),
                points: vec![[0.0, 100.0], [200.0, 100.0]],
                classes: vec!["car".into()],
                anchor: Anchor::BottomCenter,
            }],
            zones: vec![ZoneConfig {
                name: "lot".into(),
                points: vec![[0.0, 150.0], [200.0, 150.0], [200.0, 300.0], [0.0, 300.0]],
                classes: Vec::new(),
                anchor: Anchor::BottomCenter,
                loiter_s: 0.0,
            }],
            homography: None,
        }
    }

    #[test]
    fn a_car_standing_past_the_line_with_its_bottom_hidden_now_and_then_never_crosses() {
        let mut a = Analyzer::new(&config(), &labels(), 1.0, "analytics").unwrap();
        let mut crossed = Vec::new();
        for k in 0..30 {
            // Its bottom 10 px past the line; every third frame the lower 25 px are hidden,
            // which would put the bottom of the box 15 px back across it.
            let bottom = if k % 3 == 2 { 85.0 } else { 110.0 };
            let car = Track {
                bbox: BBox::new(40.0, 50.0, 60.0, bottom),
                ..track(1, 1, 50.0, bottom, 0.0)
            };
            crossed.extend(a.update(k as f64 * 100.0, &[car]).1.events);
        }
        assert!(crossed.is_empty(), "{crossed:?}");
    }

    #[test]
    fn crossings_are_counted_per_class_and_reported_as_events() {
        let mut a = Analyzer::new(&config(), &labels(), 1.0, "analytics").unwrap();
        let mut crossed = Vec::new();
        for (k, y) in [60.0, 90.0, 120.0, 140.0].into_iter().enumerate() {
            let tracks = [track(1, 1, 50.0, y, 100.0), track(2, 0, 150.0, y, 100.0)];
            let (_, scene) = a.update(k as f64 * 100.0, &tracks);
            crossed.extend(scene.events);
        }
        // The person (class 0) is not followed by the car-only line.
        assert_eq!(crossed.len(), 1, "{crossed:?}");
        let e = &crossed[0];
        assert_eq!(
            (e.kind, &*e.place, e.id, e.pts_ms),
            (SceneEventKind::LineCross(Direction::In), "gate", 1, 200.0)
        );
        assert_eq!(
            a.totals(),
            [LineTotal {
                line: "gate".into(),
                direction: Direction::In,
                class_id: 1,
                count: 1
            }]
        );
    }

    #[test]
    fn zone_occupancy_and_an_ended_track_leaving() {
        let mut a = Analyzer::new(&config(), &labels(), 0.5, "analytics").unwrap();
        let (_, scene) = a.update(
            0.0,
            &[track(1, 0, 50.0, 200.0, 0.0), track(2, 1, 60.0, 220.0, 0.0)],
        );
        assert_eq!(
            scene
                .events
                .iter()
                .filter(|e| e.kind == SceneEventKind::ZoneEnter)
                .count(),
            2
        );
        assert_eq!(scene.occupancy, [BTreeMap::from([(0, 1), (1, 1)])]);
        let (_, scene) = a.update(400.0, &[track(2, 1, 60.0, 220.0, 0.0)]);
        assert_eq!(
            scene.occupancy,
            [BTreeMap::from([(1, 1)])],
            "track 1 unseen"
        );
        // Track 1 unseen for longer than 0.5 s: it ends, and leaves the zone when last seen.
        let (events, scene) = a.update(600.0, &[track(2, 1, 60.0, 220.0, 0.0)]);
        assert_eq!(events.len(), 1);
        let exit = &scene.events[0];
        assert_eq!(
            (exit.kind, exit.id, exit.pts_ms),
            (SceneEventKind::ZoneExit { dwell_s: 0.0 }, 1, 0.0)
        );
        // The stream ends with track 2 inside: it ends, and leaves the zone as it was last seen.
        let end = a.end_all(EndReason::Stream, 640.0);
        assert_eq!(end.events.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
        let exit = &end.scene.events[0];
        assert_eq!(
            (end.scene.events.len(), exit.kind, exit.id, exit.pts_ms),
            (1, SceneEventKind::ZoneExit { dwell_s: 0.6 }, 2, 600.0)
        );
    }

    #[test]
    fn a_forecast_path_toward_the_line_gives_a_time_to_cross() {
        let mut a = Analyzer::new(&config(), &labels(), 1.0, "analytics").unwrap();
        let mut t = track(1, 1, 50.0, 80.0, 40.0);
        t.predicted = [0.5f32, 1.0, 2.0]
            .iter()
            .map(|&dt| Prediction {
                dt_s: dt,
                bbox: BBox::new(40.0, 40.0 + 40.0 * dt, 60.0, 80.0 + 40.0 * dt),
                cov_xy: [4.0 * dt, 0.0, 16.0 * dt],
                scene: None,
            })
            .collect();
        let (_, scene) = a.update(0.0, &[t]);
        let c = &scene.insights[0].crossings[0];
        assert_eq!(&*c.line, "gate");
        assert!((c.in_s - 0.5).abs() < 1e-6, "{c:?}");
        // Across the (horizontal) line only y's variance counts: 16 × 0.5 = 8 px², at 40 px/s.
        assert!((c.std_s - 8f64.sqrt() / 40.0).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn ground_speed_needs_a_homography() {
        let mut c = config();
        c.homography = Some(HomographyConfig {
            image: vec![[0.0, 0.0], [200.0, 0.0], [200.0, 200.0], [0.0, 200.0]],
            world: vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
        });
        let mut a = Analyzer::new(&c, &labels(), 1.0, "analytics").unwrap();
        let (_, scene) = a.update(0.0, &[track(1, 1, 50.0, 50.0, 100.0)]);
        let v = scene.insights[0].speed_m_s.unwrap();
        assert!((v - 5.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn unknown_class_names_their_key() {
        let mut c = config();
        c.zones[0].classes = vec!["unicorn".into()];
        let e = Analyzer::new(&c, &labels(), 1.0, "cameras.gate.analytics")
            .err()
            .unwrap();
        assert!(
            e.starts_with("cameras.gate.analytics.zones[0].classes: unknown class 'unicorn'"),
            "{e}"
        );
    }
}
