//! The layouts no shared model covers (YOLOv5, NMS-free end-to-end, separate boxes/scores/labels
//! in pixels and in fractions): tiny graphs built by scripts/golden/make_layout_models.py return
//! fixed tensors, and vigil must recognise each layout from the graph and decode the boxes that
//! script computed independently.

mod common;

use common::boxes::{agree, det_file, Tolerance};

use opencv::core::{Mat, Scalar, CV_8UC3};
use opencv::prelude::*;
use opencv::videoio;
use serde_json::Value;
use vigil::detect::{Detector, DetectorSettings, Family};
use vigil::preprocess::Preprocessor;

fn expected() -> Value {
    let path = common::root().join("tests/golden/layouts.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn family(name: &str) -> Family {
    Family::ALL
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("family {name}"))
}

#[test]
fn every_layout_decodes_to_the_known_boxes() {
    let expected = expected();
    let [w, h] = [0, 1].map(|i| expected["source_size"][i].as_i64().unwrap() as i32);
    let image = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(90.0)).unwrap();
    let models = expected["models"].as_object().unwrap();
    assert_eq!(models.len(), 4);
    for (name, case) in models {
        let mut detector = Detector::load(&DetectorSettings::single_cpu(
            common::layout_model(name),
            expected["conf"].as_f64().unwrap() as f32,
            expected["iou"].as_f64().unwrap() as f32,
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            detector.family(),
            family(case["family"].as_str().unwrap()),
            "{name}"
        );
        let (tensor, letterbox) = Preprocessor::new(detector.input_spec())
            .run(&image)
            .unwrap();
        let mut ours = detector.detect(&tensor, &letterbox).unwrap();
        ours.sort_by(|a, b| b.score.total_cmp(&a.score));
        let want = case["detections"].as_array().unwrap();
        assert_eq!(ours.len(), want.len(), "{name}: {ours:?}");
        for (d, w) in ours.iter().zip(want) {
            let w: Vec<f32> = w
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let got = [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2];
            for (a, b) in got.iter().zip(&w[..4]) {
                assert!((a - b).abs() < 1e-3, "{name}: {got:?} vs {w:?}");
            }
            assert!((d.score - w[4]).abs() < 1e-6, "{name}: {d:?} vs {w:?}");
            assert_eq!(d.class_id, w[5] as usize, "{name}");
        }
    }
}

#[test]
fn class_names_come_from_the_model_and_max_objects_keeps_the_best() {
    let dir = common::scratch("layout_names");
    let model = common::layout_model("yolov5");
    let json = dir.join("one.jsonl");
    let video = dir.join("grey.avi");
    let picture = Mat::new_rows_cols_with_default(64, 128, CV_8UC3, Scalar::all(90.0)).unwrap();
    let fourcc = videoio::VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let size = opencv::core::Size::new(128, 64);
    let mut writer =
        videoio::VideoWriter::new(video.to_str().unwrap(), fourcc, 10.0, size, true).unwrap();
    // A few identical frames: the tracker confirms the object and reports it.
    for _ in 0..4 {
        writer.write(&picture).unwrap();
    }
    writer.release().unwrap();
    common::run_ok(&[
        "track",
        video.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--conf",
        "0.25",
        "--max-objects",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&json).unwrap();
    let last: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|v| v.get("frame").is_some())
        .unwrap();
    let tracks = last["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 1, "{last}");
    assert_eq!(tracks[0]["class"], "dog", "{last}");
}

/// Two `--dets` files of vtest.avi from YOLOX-Nano at the default thresholds agree frame by
/// frame within what float32 promises (tests/common/boxes.rs): a batch-free copy, or a batch of
/// frames, runs other kernels over the same weights.
fn assert_same_detections(a: &std::path::Path, b: &std::path::Path) {
    // YOLOX-Nano's 416-px input over vtest.avi's 768-px width; configs/default.toml's conf, iou.
    let tolerance = Tolerance::of_network(416.0 / 768.0, 0.1, 0.45).written();
    let (a, b) = (det_file(a), det_file(b));
    assert!(a.len() >= 15, "{} frames with boxes", a.len());
    let frames: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    for frame in frames {
        let none = Vec::new();
        let (x, y) = (a.get(frame).unwrap_or(&none), b.get(frame).unwrap_or(&none));
        agree(y, x, &tolerance).unwrap_or_else(|e| panic!("frame {frame}: {e}"));
    }
}

/// The copy of YOLOX-Nano whose batch is free (scripts/make_batch_models.py, run by
/// scripts/test.sh).
fn batch_free_yolox() -> std::path::PathBuf {
    let free = common::root().join(".deps/batch/yolox_nano.onnx");
    assert!(
        free.is_file(),
        "{} is missing: run scripts/test.sh",
        free.display()
    );
    free
}

/// `vigil bench --batch` (issue 10) on a copy of YOLOX-Nano whose batch is free (built by
/// scripts/make_batch_models.py in scripts/test.sh): the copy finds what the original finds,
/// batches of 1, 2 and 4 run, and the original refuses a batch of 2 with a line that says how to
/// make such a copy.
#[test]
fn batched_inference_runs_on_a_batch_free_copy_and_the_fixed_model_says_why_not() {
    let free = batch_free_yolox();
    let dir = common::scratch("batch_models");
    let vtest = common::vtest();
    let (fixed_dets, free_dets) = (dir.join("fixed.txt"), dir.join("free.txt"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    common::run_ok(&[
        "track",
        &s(&vtest),
        "--max-frames",
        "20",
        "--dets",
        &s(&fixed_dets),
    ]);
    common::run_ok(&[
        "track",
        &s(&vtest),
        "--model",
        &s(&free),
        "--max-frames",
        "20",
        "--dets",
        &s(&free_dets),
    ]);
    assert_same_detections(&fixed_dets, &free_dets);
    let out = common::run_ok(&[
        "bench",
        &s(&vtest),
        "--model",
        &s(&free),
        "--batch",
        "1,2,4",
        "--frames",
        "8",
    ]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    for n in [1, 2, 4] {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&n.to_string()))
            .unwrap_or_else(|| panic!("no row for batch {n}: {table}"));
        let fps: f64 = row.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert!(fps > 0.0, "{row}");
    }
    let out = common::run(&["bench", &s(&vtest), "--batch", "2", "--frames", "4"]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("fixed batch of 1") && err.contains("make_batch_models.py"),
        "{err}"
    );
}

/// `[detector] batch` (issue 10): the pipeline stacks frames into one run of the network, and
/// finds what it finds one frame at a time (within float32's reach: other kernels run); a model with a fixed batch is refused in one
/// line naming the key and the script.
#[test]
fn the_pipeline_batches_frames_and_finds_the_same_boxes() {
    let free = batch_free_yolox();
    let dir = common::scratch("pipeline_batch");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let batched = dir.join("batch.toml");
    // The first frame of a batch waits up to a second (the most allowed) for the other three:
    // even a loaded machine decodes three frames of vtest.avi in far less, so batches form
    // however slow the machine is (only the end of the file can leave one short).
    std::fs::write(&batched, "[detector]\nbatch = 4\nbatch_wait_ms = 1000\n").unwrap();
    let run = |config: Option<&std::path::Path>, dets: &std::path::Path| {
        let mut args = vec![
            "track".to_string(),
            s(&common::vtest()),
            "--model".into(),
            s(&free),
            "--max-frames".into(),
            "60".into(),
            "--dets".into(),
            s(dets),
        ];
        if let Some(c) = config {
            args.extend(["--config".into(), s(c)]);
        }
        common::vigil()
            .args(&args)
            .env("RUST_LOG", "vigil=debug")
            .output()
            .unwrap()
    };
    let (one, four) = (dir.join("one.txt"), dir.join("four.txt"));
    let out = run(None, &one);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = run(Some(&batched), &four);
    let log = common::stderr(&out);
    assert!(out.status.success(), "{log}");
    // Batches did form.
    let stacked: usize = log
        .lines()
        .filter(|l| l.contains("one run for several frames"))
        .filter_map(|l| {
            l.split("frames=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(
        stacked >= 30,
        "{stacked} of 60 frames detected in batches:\n{log}"
    );
    assert_same_detections(&one, &four);
    // The shared export takes one image at a time.
    let out = common::run(&[
        "track",
        &s(&common::vtest()),
        "--max-frames",
        "2",
        "--mot",
        &s(&dir.join("x.txt")),
        "--config",
        &s(&batched),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("detector.batch = 4") && err.contains("make_batch_models.py"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("error")).count(),
        1,
        "{err}"
    );
}
