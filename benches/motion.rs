//! The live camera-motion estimate's cost per 1080p frame: `MotionEstimator::estimate` on the
//! consecutive real frames of MOT17-mini/MOT17-04 (1920×1080, its gt pedestrians masked), for
//! the configurations whose accuracy `tests/motion.rs`
//! (`carried_corners_measure_a_known_shake_better_than_botsorts_way`) measures: corners followed,
//! their spacing, and whether the corners that fit are carried into the next frame or searched
//! afresh every frame as BoT-SORT does. Needs the shared data ($VIGIL_SHARED or ../shared).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opencv::core::Mat;
use opencv::imgcodecs;
use vigil::geom::BBox;
use vigil::motion::{MotionConfig, MotionEstimator};

/// MOT17-mini/MOT17-04's frames in order, each with its gt pedestrians.
fn frames_with_boxes() -> Vec<(Mat, Vec<BBox>)> {
    let shared = std::env::var_os("VIGIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let seq = shared.join("mot/MOT17-mini/MOT17-04");
    let gt = std::fs::read_to_string(seq.join("gt/gt.txt")).expect("MOT17-mini gt");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(seq.join("img1"))
        .expect("MOT17-mini frames")
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .enumerate()
        .map(|(index, path)| {
            let image = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_COLOR).unwrap();
            let boxes = gt
                .lines()
                .filter_map(|line| {
                    let f: Vec<f32> = line.split(',').map(|v| v.parse().unwrap()).collect();
                    (f[0] as usize == index + 1 && f[7] as i32 == 1)
                        .then(|| BBox::from_tlwh(f[2], f[3], f[4], f[5]))
                })
                .collect();
            (image, boxes)
        })
        .collect()
}

fn bench_motion(c: &mut Criterion) {
    let frames = frames_with_boxes();
    let mut group = c.benchmark_group("motion");
    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    // (name, corners, spacing, refind below): BoT-SORT's way first, the defaults last.
    let variants = [
        ("1000 corners 1 px apart, afresh (BoT-SORT)", 1000, 1.0, 2.0),
        ("1000 corners 1 px apart, carried", 1000, 1.0, 0.5),
        ("400 corners 5 px apart, afresh", 400, 5.0, 2.0),
        ("400 corners 5 px apart, carried", 400, 5.0, 0.5),
        ("250 corners 8 px apart, carried (default)", 250, 8.0, 0.5),
    ];
    for (name, max_corners, corner_spacing, refind_below) in variants {
        let mut estimator = MotionEstimator::new(MotionConfig {
            max_corners,
            corner_spacing,
            refind_below,
            ..Default::default()
        });
        let mut next = 0;
        // One iteration is one frame after the one before it, cycling through the sequence (the
        // jump from the last frame back to the first is one pair in eight).
        group.bench_function(name, |b| {
            b.iter(|| {
                let (image, boxes) = &frames[next % frames.len()];
                next += 1;
                estimator.estimate(image, boxes).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_motion);
criterion_main!(benches);
