//! What forecasting and the scene analytics add to the tracker's time, on MOT17-04's val half
//! (≈45 detections a frame, single-threaded): the tracker without forecasts, with its default
//! forecasts, and with forecasts plus two counting lines, a zone and a ground-plane homography
//! (crossings, zone visits, ground speed and forecast crossings for every track every frame).
//! Needs the shared data ($VIGIL_SHARED or ../shared).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil::analytics::Analyzer;
use vigil::config::Config;
use vigil::frame::Detection;
use vigil::labels::Labels;
use vigil::track::{Tracker, TrackerConfig};

const SCENE: &str = r#"
[[analytics.lines]]
name = "street"
points = [[480, 0], [480, 1080]]
[[analytics.lines]]
name = "crossing"
points = [[0, 600], [1920, 600]]
[[analytics.zones]]
name = "square"
points = [[600, 300], [1400, 300], [1500, 900], [500, 900]]
loiter_s = 10
[analytics.homography]
image = [[500, 900], [1500, 900], [1400, 300], [600, 300]]
world = [[0, 0], [20, 0], [20, 30], [0, 30]]
"#;

/// Tracks every frame, handing the tracks to `then`; the number of tracks reported.
fn run(
    frames: &[Vec<Detection>],
    fps: f64,
    config: &TrackerConfig,
    mut then: impl FnMut(f64, &[vigil::frame::Track]),
) -> usize {
    let mut tracker = Tracker::new(config.clone(), fps);
    let mut reported = 0;
    for (i, dets) in frames.iter().enumerate() {
        let time_s = i as f64 / fps;
        let tracks = tracker.update(dets, time_s);
        then(time_s * 1000.0, &tracks);
        reported += tracks.len();
    }
    reported
}

fn bench_analytics(c: &mut Criterion) {
    let (frames, fps) = common::val_half();
    let scene = Config::parse(SCENE).expect("bench scene");
    let labels = Labels::parse("person").expect("labels");
    let mut group = c.benchmark_group("forecasting and analytics");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.sample_size(20);
    let no_forecast = TrackerConfig {
        horizons_s: Vec::new(),
        ..Default::default()
    };
    group.bench_function("tracker, no forecasts", |b| {
        b.iter(|| run(&frames, fps, &no_forecast, |_, _| {}))
    });
    let defaults = TrackerConfig::default();
    group.bench_function("tracker, default forecasts", |b| {
        b.iter(|| run(&frames, fps, &defaults, |_, _| {}))
    });
    group.bench_function("tracker, default forecasts, lifecycle events", |b| {
        b.iter(|| {
            let mut analyzer = Analyzer::lifecycle_only(1.0);
            let mut events = 0;
            let reported = run(&frames, fps, &defaults, |pts_ms, tracks| {
                events += analyzer.update(pts_ms, tracks).0.len();
            });
            reported + events
        })
    });
    group.bench_function("tracker, forecasts and analytics", |b| {
        b.iter(|| {
            let mut analyzer =
                Analyzer::new(&scene.analytics, &labels, 1.0, "analytics").expect("bench analyzer");
            let mut events = 0;
            let reported = run(&frames, fps, &defaults, |pts_ms, tracks| {
                let (ended, scene) = analyzer.update(pts_ms, tracks);
                events += ended.len() + scene.events.len();
            });
            reported + events
        })
    });
    group.finish();
}

criterion_group!(benches, bench_analytics);
criterion_main!(benches);
