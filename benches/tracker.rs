//! The tracker alone on MOT17-04's val half (frames 527..1050, ≈45 detections a frame) with
//! ByteTrack's YOLOX-X detections: per-frame cost and frames per second, single-threaded.
//! Also with the 0.5-s output lag behind it. Needs the shared data ($VIGIL_SHARED or ../shared).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil::geom::Affine;
use vigil::track::{Tracker, TrackerConfig};

fn bench_tracker(c: &mut Criterion) {
    let (frames, fps) = common::val_half();
    let per_frame = frames.iter().map(Vec::len).sum::<usize>() as f64 / frames.len() as f64;
    eprintln!(
        "MOT17-04 val half: {} frames, {per_frame:.1} detections a frame",
        frames.len()
    );
    let mut group = c.benchmark_group("tracker");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.sample_size(20);
    group.bench_function("MOT17-04 val half", |b| {
        b.iter(|| {
            let mut tracker = Tracker::new(TrackerConfig::default(), fps);
            let mut reported = 0;
            for (i, dets) in frames.iter().enumerate() {
                reported += tracker.update(dets, i as f64 / fps).len();
            }
            reported
        })
    });
    // The same with the optional 0.5-s output lag (gap filling and smoothing) behind it.
    group.bench_function("MOT17-04 val half, --lag 0.5", |b| {
        b.iter(|| {
            let config = TrackerConfig {
                output_lag_s: 0.5,
                ..Default::default()
            };
            let mut lag = config.fixed_lag::<()>();
            let mut tracker = Tracker::new(config, fps);
            let mut reported = 0;
            for (i, dets) in frames.iter().enumerate() {
                let time_s = i as f64 / fps;
                let out = lag.push(time_s, (), tracker.update(dets, time_s), &Affine::IDENTITY);
                reported += out.iter().map(|(_, t)| t.len()).sum::<usize>();
            }
            reported + lag.finish().len()
        })
    });
    // With the camera's motion every frame (MOT17-04's BoT-SORT maps, taken as they are, without
    // the dead band that makes them the identity): the cost of carrying every track.
    let camera = common::camera_motion();
    group.bench_function("MOT17-04 val half, camera motion", |b| {
        b.iter(|| {
            let mut tracker = Tracker::new(TrackerConfig::default(), fps);
            let mut reported = 0;
            for (i, dets) in frames.iter().enumerate() {
                reported += tracker.update_moved(dets, i as f64 / fps, &camera[i]).len();
            }
            reported
        })
    });
    // The tracker itself, without the look-ahead's forecasts (`horizons_s = []`): what the
    // association, its filter and the camera's motion cost.
    let no_forecasts = TrackerConfig {
        horizons_s: Vec::new(),
        ..Default::default()
    };
    group.bench_function("MOT17-04 val half, camera motion, no forecasts", |b| {
        b.iter(|| {
            let mut tracker = Tracker::new(no_forecasts.clone(), fps);
            let mut reported = 0;
            for (i, dets) in frames.iter().enumerate() {
                reported += tracker.update_moved(dets, i as f64 / fps, &camera[i]).len();
            }
            reported
        })
    });
    group.finish();
}

/// The look-ahead of one track per frame: observe a box, forecast the three default horizons.
fn bench_look_ahead(c: &mut Criterion) {
    use vigil::geom::BBox;
    use vigil::predict::{predictions, DefaultLookAhead, LookAhead};
    let mut group = c.benchmark_group("look-ahead");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one track, one frame (observe + 3 horizons)", |b| {
        let mut model = DefaultLookAhead::default();
        let mut frame = 0u64;
        b.iter(|| {
            frame += 1;
            let t = frame as f64 / 30.0;
            let x = 100.0 + (frame % 300) as f32;
            model.observe(t, &BBox::from_cxcywh(x, 200.0, 40.0, 100.0));
            predictions(&model, t, &[0.5, 1.0, 2.0], None)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_tracker, bench_look_ahead);
criterion_main!(benches);
