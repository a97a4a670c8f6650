//! The live camera-motion estimate against BoT-SORT's published GMC warps, on the consecutive
//! real frames of MOT17-mini: a walking camera (MOT17-05) and static ones (MOT17-02, -04, -09).

mod common;

use std::path::{Path, PathBuf};

use opencv::imgcodecs;
use opencv::prelude::*;
use vigil::geom::{Affine, BBox};
use vigil::motion::{MotionConfig, MotionEstimator};

/// How one consecutive pair of frames came out.
struct PairResult {
    /// The pair is frame `frame` → `frame + 1` (numbered from 1).
    frame: usize,
    vigil: Affine,
    botsort: Affine,
    /// Mean over the frame's corners of the distance between where the two warps put them.
    disagreement_px: f64,
}

fn mini(seq: &str) -> PathBuf {
    common::shared().join("mot/MOT17-mini").join(seq)
}

/// BoT-SORT's warps of a sequence: index i maps frame i onto frame i + 1 (index 0: identity).
fn botsort_warps(seq: &str) -> Vec<Affine> {
    let path = common::shared().join(format!("mot/MOT17/{seq}/gmc/botsort.txt"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let values: Vec<f64> = line
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            assert_eq!(values.len(), 7, "{}:{}", path.display(), n + 1);
            assert_eq!(values[0] as usize, n, "lines are in frame order");
            Affine(values[1..].try_into().unwrap())
        })
        .collect()
}

/// The pedestrians (class 1) of `frame` in a gt file, standing in for detections.
fn pedestrians(gt: &str, frame: usize) -> Vec<BBox> {
    gt.lines()
        .filter_map(|line| {
            let f: Vec<f32> = line.split(',').map(|v| v.parse().unwrap()).collect();
            (f[0] as usize == frame && f[7] as i32 == 1)
                .then(|| BBox::from_tlwh(f[2], f[3], f[4], f[5]))
        })
        .collect()
}

fn frames_of(seq_dir: &Path) -> Vec<PathBuf> {
    let mut frames: Vec<PathBuf> = std::fs::read_dir(seq_dir.join("img1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    frames.sort();
    frames
}

fn mean_corner_distance(a: &Affine, b: &Affine, width: f64, height: f64) -> f64 {
    let corners = [[0.0, 0.0], [width, 0.0], [0.0, height], [width, height]];
    corners
        .iter()
        .map(|&p| {
            let (pa, pb) = (a.apply(p), b.apply(p));
            (pa[0] - pb[0]).hypot(pa[1] - pb[1])
        })
        .sum::<f64>()
        / 4.0
}

/// Runs the estimator over a MOT17-mini sequence's frames, masking each frame's gt pedestrians,
/// and compares every pair with BoT-SORT's warp; prints the figures.
fn compare_with_botsort(seq: &str, config: MotionConfig) -> (Vec<PairResult>, (f64, f64)) {
    compare_with_botsort_masking(seq, config, true)
}

fn compare_with_botsort_masking(
    seq: &str,
    config: MotionConfig,
    mask_pedestrians: bool,
) -> (Vec<PairResult>, (f64, f64)) {
    let dir = mini(seq);
    let gt = std::fs::read_to_string(dir.join("gt/gt.txt")).unwrap();
    let reference = botsort_warps(seq);
    let mut estimator = MotionEstimator::new(config);
    let mut results = Vec::new();
    let mut size = (0.0, 0.0);
    for (index, path) in frames_of(&dir).iter().enumerate() {
        let frame_number = index + 1;
        let image = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_COLOR).unwrap();
        size = (image.cols() as f64, image.rows() as f64);
        let warp = estimator
            .estimate(
                &image,
                &if mask_pedestrians {
                    pedestrians(&gt, frame_number)
                } else {
                    Vec::new()
                },
            )
            .unwrap();
        if index == 0 {
            assert_eq!(warp, Affine::IDENTITY, "the first frame has no motion");
            continue;
        }
        assert!(
            estimator.last_measured(),
            "{seq} frame {frame_number}: not measured"
        );
        let previous = frame_number - 1;
        let botsort = reference[previous];
        results.push(PairResult {
            frame: previous,
            vigil: warp,
            botsort,
            disagreement_px: mean_corner_distance(&warp, &botsort, size.0, size.1),
        });
    }
    for r in &results {
        eprintln!(
            "{seq} {}→{}: vigil corner shift {:.2} px, botsort {:.2} px, disagreement {:.3} px  \
             vigil {:?}",
            r.frame,
            r.frame + 1,
            r.vigil.corner_shift(size.0, size.1),
            r.botsort.corner_shift(size.0, size.1),
            r.disagreement_px,
            r.vigil.0.map(|v| (v * 1e4).round() / 1e4),
        );
    }
    (results, size)
}

fn mean_disagreement(results: &[PairResult]) -> f64 {
    results.iter().map(|r| r.disagreement_px).sum::<f64>() / results.len() as f64
}

/// Why 1.5 px: BoT-SORT's own warps are an estimate, not the truth, and the two estimates are
/// discrete choices (corners found, RANSAC's inliers) that a float's last place on another CPU can
/// tip: settings of vigil's that differ only in such choices land 0.76–1.35 px from BoT-SORT here
/// (`carried_corners_measure_a_known_shake_better_than_botsorts_way` prints them), 0.86 the
/// default. The camera moves 5–14 px a frame (10 on average):
/// a warp that misses the motion (the identity), gets its direction wrong, or scales the working
/// image's shift wrongly is off by several pixels and fails.
const AGREEMENT_PX: f64 = 1.5;

#[test]
fn a_walking_camera_agrees_with_botsort() {
    let (results, _) = compare_with_botsort("MOT17-05", MotionConfig::default());
    assert_eq!(results.len(), 5, "MOT17-mini/MOT17-05 has 6 frames");
    let mean = mean_disagreement(&results);
    eprintln!(
        "MOT17-05: mean disagreement {mean:.3} px over {} pairs",
        results.len()
    );
    assert!(mean < AGREEMENT_PX, "mean corner disagreement {mean:.3} px");
    // The camera does move: a warp near the identity would not be agreement worth the name.
    assert!(results
        .iter()
        .all(|r| r.botsort.corner_shift(640.0, 480.0) > 2.0));
}

#[test]
fn static_cameras_come_out_near_the_identity() {
    for seq in ["MOT17-02", "MOT17-04", "MOT17-09"] {
        let (results, (width, height)) = compare_with_botsort(seq, MotionConfig::default());
        assert!(!results.is_empty());
        eprintln!(
            "{seq}: mean disagreement with botsort {:.3} px",
            mean_disagreement(&results)
        );
        for r in &results {
            let shift = r.vigil.corner_shift(width, height);
            // Measured at most 0.3 px (sensor noise and compression); a walking camera moves
            // 5–14 px a frame.
            assert!(
                shift < 1.0,
                "{seq} {}→{}: corners move {shift:.2} px",
                r.frame,
                r.frame + 1
            );
        }
    }
}

/// The accuracy behind the defaults: on a 1080p window shaking across vtest.avi (made here by
/// ffmpeg, so the true motion of every frame pair is known: the window's own shift), the mean
/// corner error against that truth, by corners followed, their spacing, and whether the corners
/// that fit are carried into the next frame (`refind_below` 0.5) or searched afresh every frame
/// (above 1), as BoT-SORT does; MOT17-05's agreement with BoT-SORT beside it. The defaults
/// measure the known shift better than BoT-SORT's way (0.25 against 0.48 px here). What each
/// costs is `cargo bench --bench motion` (the same configurations).
#[test]
fn carried_corners_measure_a_known_shake_better_than_botsorts_way() {
    let dir = common::scratch("motion-shake");
    let clip = dir.join("shaking-1080p.mp4");
    // ffmpeg rounds the window's corner to whole pixels, then to even ones (4:2:0 chroma).
    let corner = |t: f64| {
        let even = |v: f64| (v.round() as i64 & !1) as f64;
        let x = 64.0 + 60.0 * (std::f64::consts::TAU * t / 0.6).sin();
        let y = 228.0 + 40.0 * (std::f64::consts::TAU * t / 0.5).sin();
        (even(x), even(y))
    };
    let window =
        "scale=2048:1536,crop=w=1920:h=1080:x='64+60*sin(2*PI*t/0.6)':y='228+40*sin(2*PI*t/0.5)'";
    let vtest = common::vtest();
    let (input, output) = (vtest.to_str().unwrap(), clip.to_str().unwrap());
    common::ffmpeg(&[
        "-i",
        input,
        "-frames:v",
        "100",
        "-vf",
        window,
        "-c:v",
        "libx264",
        "-crf",
        "16",
        output,
    ]);
    let mut capture = opencv::videoio::VideoCapture::from_file_def(output).unwrap();
    let mut frames = Vec::new();
    let mut frame = Mat::default();
    while capture.read(&mut frame).unwrap() {
        frames.push(frame.clone());
    }
    assert_eq!(frames.len(), 100);
    // (corners, spacing, refind below): BoT-SORT's way first, the defaults last.
    let configs = [
        (1000, 1.0, 2.0),
        (1000, 1.0, 0.5),
        (400, 5.0, 2.0),
        (400, 5.0, 0.5),
        (250, 8.0, 0.5),
    ];
    let default = MotionConfig::default();
    assert_eq!(
        configs[4],
        (
            default.max_corners,
            default.corner_spacing,
            default.refind_below
        )
    );
    let mut mean_errors = Vec::new();
    for (max_corners, corner_spacing, refind_below) in configs {
        let config = MotionConfig {
            max_corners,
            corner_spacing,
            refind_below,
            ..Default::default()
        };
        let mut estimator = MotionEstimator::new(config.clone());
        let mut errors = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let warp = estimator.estimate(f, &[]).unwrap();
            if i > 0 {
                let ((x0, y0), (x1, y1)) = (corner((i - 1) as f64 / 10.0), corner(i as f64 / 10.0));
                let truth = Affine([1.0, 0.0, x0 - x1, 0.0, 1.0, y0 - y1]);
                errors.push(mean_corner_distance(&warp, &truth, 1920.0, 1080.0));
            }
        }
        let (mean, worst) = (
            errors.iter().sum::<f64>() / errors.len() as f64,
            errors.iter().copied().fold(0.0, f64::max),
        );
        let (results, _) = compare_with_botsort("MOT17-05", config);
        eprintln!(
            "{max_corners} corners {corner_spacing} px apart, refind below {refind_below}: \
             error against the true shift {mean:.3} px (worst {worst:.2}), \
             MOT17-05 disagreement with BoT-SORT {:.3} px",
            mean_disagreement(&results)
        );
        mean_errors.push((mean, worst));
    }
    let (botsort, ours) = (mean_errors[0], mean_errors[4]);
    // The window moves up to 60 px a frame: a missed or misscaled shift is off by tens of pixels.
    // 0.25 / 0.63 px measured; corners and inliers are discrete choices, so half a pixel of room.
    assert!(
        ours.0 < 0.5 && ours.1 < 1.5,
        "defaults: mean {:.3} px, worst {:.3} px off the true shift",
        ours.0,
        ours.1
    );
    assert!(
        ours.0 < botsort.0,
        "defaults {:.3} px against BoT-SORT's way {:.3} px",
        ours.0,
        botsort.0
    );
}
