//! Properties of the tracker for arbitrary input (proptest): whatever the detector reports —
//! empty frames, zero-size or enormous boxes, duplicates, scores outside [0, 1] — and whatever
//! the clock does (repeats, jumps back, leaps ahead), the tracker does not panic, reports each
//! ID at most once a frame, never gives an ID to a second object, and reports only finite boxes.

use std::collections::HashSet;

use proptest::prelude::*;

use super::{FixedLag, Tracker, TrackerConfig};
use crate::analytics::Lifecycle;
use crate::detect::nms;
use crate::frame::{Detection, Event, EventKind, Track};
use crate::geom::{Affine, BBox};

/// Any finite coordinate, from sub-pixel to far beyond an image, mostly in a plausible range.
fn coordinate() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -50.0f32..2000.0,
        1 => -1e30f32..1e30,
        1 => Just(0.0f32),
    ]
}

fn detection() -> impl Strategy<Value = Detection> {
    (
        coordinate(),
        coordinate(),
        prop_oneof![4 => 0.0f32..400.0, 1 => 0.0f32..1e30, 1 => Just(0.0f32)],
        prop_oneof![4 => 0.0f32..400.0, 1 => 0.0f32..1e30, 1 => Just(0.0f32)],
        prop_oneof![-1.0f32..2.0, Just(0.9f32)],
        0usize..3,
    )
        .prop_map(|(x, y, w, h, score, class_id)| Detection {
            bbox: BBox::from_tlwh(x, y, w, h),
            score,
            class_id,
        })
}

/// The camera's motion into a frame: mostly none, often a shake or a turn and zoom within what
/// a camera does, now and then a broken estimate (which the tracker and the lag must ignore).
fn camera() -> impl Strategy<Value = Affine> {
    prop_oneof![
        4 => Just(Affine::IDENTITY),
        2 => (-60.0f64..60.0, -60.0f64..60.0)
            .prop_map(|(dx, dy)| Affine([1.0, 0.0, dx, 0.0, 1.0, dy])),
        2 => (0.6f64..1.6, -0.3f64..0.3, -500.0f64..500.0, -500.0f64..500.0).prop_map(
            |(zoom, turn, dx, dy)| {
                let (c, s) = (zoom * turn.cos(), zoom * turn.sin());
                Affine([c, -s, dx, s, c, dy])
            }
        ),
        1 => prop::array::uniform6(prop_oneof![-1e12f64..1e12, Just(f64::NAN), Just(0.0)])
            .prop_map(Affine),
    ]
}

/// A frame: its detections (with duplicates now and then), the time step before it, and the
/// camera's motion into it.
fn frame() -> impl Strategy<Value = (Vec<Detection>, f64, Affine)> {
    (
        prop::collection::vec(detection(), 0..12),
        prop::bool::weighted(0.2),
        prop_oneof![
            6 => Just(0.04f64),
            1 => Just(0.0f64),      // the same time again
            1 => -5.0f64..0.0,      // back in time
            1 => 0.0f64..3600.0,    // a leap ahead
        ],
        camera(),
    )
        .prop_map(|(mut dets, duplicate, dt, camera)| {
            if duplicate && !dets.is_empty() {
                dets.push(dets[0]);
            }
            (dets, dt, camera)
        })
}

fn config() -> impl Strategy<Value = TrackerConfig> {
    (prop::bool::ANY, 0.0f64..1.0).prop_map(|(lag, smoothing)| TrackerConfig {
        output_lag_s: if lag { 0.5 } else { 0.0 },
        smoothing_s: smoothing,
        ..TrackerConfig::default()
    })
}

fn finite(b: &BBox) -> bool {
    [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite())
}

/// Checks one reported frame; `first_seen` holds the IDs reported so far, in order of their
/// first appearance.
fn check_frame(tracks: &[Track], first_seen: &mut Vec<u64>) -> Result<(), TestCaseError> {
    let mut ids = HashSet::new();
    for t in tracks {
        prop_assert!(ids.insert(t.id), "ID {} twice in one frame", t.id);
        prop_assert!(finite(&t.bbox), "track {} box {:?}", t.id, t.bbox);
        prop_assert!(t.velocity.iter().all(|v| v.is_finite()), "{t:?}");
        for p in &t.predicted {
            prop_assert!(finite(&p.bbox), "track {} prediction {:?}", t.id, p.bbox);
        }
        if !first_seen.contains(&t.id) {
            // IDs are never reused: a new one is larger than every one seen before it.
            prop_assert!(
                first_seen.last().is_none_or(|&last| t.id > last),
                "ID {} appeared after {:?}",
                t.id,
                first_seen.last()
            );
            first_seen.push(t.id);
        }
    }
    Ok(())
}

/// Every track starts once, ends at most once and only after it started.
fn check_events(
    events: &[Event],
    started: &mut HashSet<u64>,
    ended: &mut HashSet<u64>,
) -> Result<(), TestCaseError> {
    for e in events {
        match e.kind {
            EventKind::TrackStarted => prop_assert!(started.insert(e.id), "{e:?} twice"),
            EventKind::TrackEnded => {
                prop_assert!(started.contains(&e.id), "{e:?} before its start");
                prop_assert!(ended.insert(e.id), "{e:?} twice");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_detections_give_unique_finite_tracks(
        config in config(),
        frames in prop::collection::vec(frame(), 0..40),
    ) {
        let mut tracker = Tracker::new(config.clone(), 30.0);
        let mut lag: FixedLag<()> = config.fixed_lag();
        let mut time_s = 0.0;
        let mut first_seen = Vec::new();
        let mut lifecycle = Lifecycle::new(config.lost_timeout_s);
        let (mut started, mut ended) = (HashSet::new(), HashSet::new());
        for (detections, dt, camera) in &frames {
            time_s += dt;
            let tracks = tracker.update_moved(detections, time_s, camera);
            check_frame(&tracks, &mut first_seen)?;
            check_events(&lifecycle.update(time_s * 1000.0, &tracks), &mut started, &mut ended)?;
            for (_, smoothed) in lag.push(time_s, (), tracks, camera) {
                for t in &smoothed {
                    prop_assert!(finite(&t.bbox), "smoothed {t:?}");
                }
            }
        }
        for (_, smoothed) in lag.finish() {
            for t in &smoothed {
                prop_assert!(finite(&t.bbox), "smoothed {t:?}");
            }
        }
        check_events(&lifecycle.finish(), &mut started, &mut ended)?;
        prop_assert_eq!(&started, &ended, "every track ends by the end of the stream");
    }

    #[test]
    fn nms_keeps_a_subset_with_no_two_overlapping(
        candidates in prop::collection::vec(detection(), 0..60),
        threshold in 0.0f32..1.0,
    ) {
        let kept = nms(candidates.clone(), threshold);
        prop_assert!(kept.len() <= candidates.len());
        for (i, a) in kept.iter().enumerate() {
            prop_assert!(candidates.contains(a));
            for b in &kept[i + 1..] {
                prop_assert!(a.class_id != b.class_id || a.bbox.iou(&b.bbox) <= threshold);
            }
        }
    }
}
