//! vigil's detector (letterbox → ONNX Runtime → decode → NMS) against the independent Python
//! reference in scripts/golden/, on the MOT17-mini frames and a few vtest.avi frames, for both
//! shared models: YOLOX-Nano and Ultralytics YOLOv8n (int8), each recognised from its graph.

mod common;

use opencv::imgcodecs;
use opencv::prelude::*;
use serde_json::Value;
use vigil::detect::{Detector, DetectorSettings, Family};
use vigil::frame::Detection;
use vigil::preprocess::Preprocessor;
use vigil::source::{FileSource, FrameSource};

const TOLERANCE_PX: f32 = 1e-3;

fn detector(golden: &Value) -> Detector {
    let meta = &golden["meta"];
    Detector::load(&DetectorSettings::single_cpu(
        common::shared()
            .join("models")
            .join(meta["model"].as_str().unwrap()),
        meta["conf"].as_f64().unwrap() as f32,
        meta["iou"].as_f64().unwrap() as f32,
    ))
    .expect("load detector")
}

fn golden(file: &str) -> Value {
    let text = std::fs::read_to_string(common::root().join("tests/golden").join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn detect(detector: &mut Detector, image: &Mat) -> Vec<Detection> {
    let (tensor, letterbox) = Preprocessor::new(detector.input_spec()).run(image).unwrap();
    detector.detect(&tensor, &letterbox).unwrap()
}

/// Same count, and each reference box has a vigil box of the same class within tolerance.
fn compare(what: &str, ours: &[Detection], reference: &[Value]) {
    assert_eq!(ours.len(), reference.len(), "{what}: detection count");
    let mut unused: Vec<&Detection> = ours.iter().collect();
    for r in reference {
        let r: Vec<f64> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let (rb, score, class) = (
            [r[0] as f32, r[1] as f32, r[2] as f32, r[3] as f32],
            r[4] as f32,
            r[5] as usize,
        );
        let error = |d: &Detection| {
            let b = [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
            b.iter()
                .zip(rb)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        };
        let best = unused
            .iter()
            .enumerate()
            .filter(|(_, d)| d.class_id == class)
            .min_by(|a, b| error(a.1).total_cmp(&error(b.1)))
            .unwrap_or_else(|| panic!("{what}: no class-{class} box for reference {r:?}"));
        let (i, d) = (best.0, *best.1);
        assert!(
            error(d) <= TOLERANCE_PX,
            "{what}: box {:?} vs reference {rb:?} (error {} px)",
            d.bbox,
            error(d)
        );
        assert!(
            (d.score - score).abs() < 1e-5,
            "{what}: score {} vs {score}",
            d.score
        );
        unused.remove(i);
    }
}

#[test]
fn yolox_detections_match_the_python_reference() {
    check_against("detections.json", Family::Yolox);
}

#[test]
fn yolov8_detections_match_the_python_reference() {
    check_against("detections_yolov8n.json", Family::Yolov8);
}

fn check_against(file: &str, family: Family) {
    let golden = golden(file);
    let shared = common::shared();
    let mut detector = detector(&golden);
    assert_eq!(detector.family(), family);
    let mut video: Option<(Box<dyn FrameSource>, u64)> = None;
    let mut checked = 0;
    for record in golden["images"].as_array().unwrap() {
        let rel = record["source"].as_str().unwrap();
        let frame_no = record["frame"].as_u64().unwrap();
        let image = if rel.ends_with(".jpg") {
            imgcodecs::imread(shared.join(rel), imgcodecs::IMREAD_COLOR).unwrap()
        } else {
            let (src, next) = video.get_or_insert_with(|| {
                let file = shared.join(rel);
                (Box::new(FileSource::open(&file).unwrap()), 0)
            });
            loop {
                let raw = src.next_frame().unwrap().expect("frame");
                *next += 1;
                if *next - 1 == frame_no {
                    break raw.image;
                }
            }
        };
        assert!(!image.empty(), "{rel}");
        let ours = detect(&mut detector, &image);
        compare(
            &format!("{rel}#{frame_no}"),
            &ours,
            record["detections"].as_array().unwrap(),
        );
        checked += 1;
    }
    assert!(checked >= 27, "golden file lists {checked} images");
}
