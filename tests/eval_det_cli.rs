//! `vigil eval-det` against the pycocotools reference (scripts/eval_det_reference.sh wrote
//! tests/golden/eval_det_reference.json), and its handling of bad input.

mod common;

use common::boxes::{agree, det_file, Compared, Tolerance};

use std::path::{Path, PathBuf};

use common::{root, run, run_ok, scratch, shared, stderr};

const SEQUENCES: [&str; 4] = ["MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09"];

/// The MOT17 val half as tools/mot_valhalf.py builds it (the golden's input), under `dir/val`,
/// and `dir/res` holding each sequence's det/det.txt as `SEQ.txt`.
fn val_half_with_detections(dir: &Path) -> (PathBuf, PathBuf) {
    let (val, res) = (dir.join("val"), dir.join("res"));
    let built = std::process::Command::new("/usr/bin/python3")
        .arg(shared().join("tools/mot_valhalf.py"))
        .arg(&val)
        .output()
        .expect("run tools/mot_valhalf.py");
    assert!(built.status.success(), "{}", stderr(&built));
    std::fs::create_dir_all(&res).unwrap();
    for seq in SEQUENCES {
        std::fs::copy(
            val.join(seq).join("det/det.txt"),
            res.join(format!("{seq}.txt")),
        )
        .unwrap();
    }
    (val, res)
}

#[test]
fn reproduces_the_pycocotools_reference_on_every_figure() {
    let dir = scratch("eval_det_golden");
    let (val, res) = val_half_with_detections(&dir);
    let out = dir.join("eval_det.json");
    let o = run_ok(&[
        "eval-det",
        "--gt",
        val.to_str().unwrap(),
        "--res",
        res.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("AP50:95") && table.contains("COMBINED"),
        "{table}"
    );
    let ours: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/golden/eval_det_reference.json")).unwrap(),
    )
    .unwrap();
    let mut compared = 0;
    for (name, figures) in golden.as_object().unwrap() {
        for (key, expected) in figures.as_object().unwrap() {
            let got = &ours[name][key];
            let (got, expected) = (got.as_f64(), expected.as_f64());
            assert!(
                matches!((got, expected), (Some(g), Some(e)) if (g - e).abs() <= 1e-4),
                "{name} {key}: vigil {got:?}, reference {expected:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, (SEQUENCES.len() + 1) * 10);
}

/// One line, exit 2, no panic; returns the line.
fn fails_cleanly(args: &[&str]) -> String {
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A folder `dir/gt` with sequence S1 of three frames and one target, and an empty `dir/res`.
fn one_sequence(dir: &Path) -> (PathBuf, PathBuf) {
    let (gt, res) = (dir.join("gt"), dir.join("res"));
    std::fs::create_dir_all(gt.join("S1/gt")).unwrap();
    std::fs::create_dir_all(&res).unwrap();
    std::fs::write(gt.join("S1/gt/gt.txt"), "1,1,10,10,20,40,1,1,1\n").unwrap();
    std::fs::write(
        gt.join("S1/seqinfo.ini"),
        "[Sequence]\nname=S1\nframeRate=30\nseqLength=3\n",
    )
    .unwrap();
    (gt, res)
}

fn eval_det_args<'a>(gt: &'a Path, res: &'a Path) -> Vec<&'a str> {
    vec![
        "eval-det",
        "--gt",
        gt.to_str().unwrap(),
        "--res",
        res.to_str().unwrap(),
    ]
}

#[test]
fn bad_detection_lines_name_file_and_line() {
    let dir = scratch("eval_det_bad_lines");
    let (gt, res) = one_sequence(&dir);
    for (text, expect) in [
        (
            "1,-1,10,10,20,40,0.9\n2,-1,10,10\n",
            "line 2: expected at least 7",
        ),
        (
            "1,-1,10,10,20,40,0.9\n4,-1,10,10,20,40,0.9\n",
            "line 2: frame 4 is outside the sequence (seqLength=3)",
        ),
        ("0,-1,10,10,20,40,0.9\n", "line 1: frame 0"),
        ("1,-1,10,nan,20,40,0.9\n", "line 1: 'nan' is not a finite"),
        ("1,-1,10,10,20,40,inf\n", "line 1: 'inf' is not a finite"),
        ("1,-1,10,10,20,40,high\n", "line 1: 'high' is not a finite"),
    ] {
        std::fs::write(res.join("S1.txt"), text).unwrap();
        let line = fails_cleanly(&eval_det_args(&gt, &res));
        assert!(line.contains("S1.txt") && line.contains(expect), "{line}");
    }
    // A good file scores; the gt's own errors name gt.txt.
    std::fs::write(res.join("S1.txt"), "1,-1,10,10,20,40,0.9\n").unwrap();
    let o = run_ok(&eval_det_args(&gt, &res));
    assert!(String::from_utf8_lossy(&o.stdout).contains("COMBINED"));
    std::fs::write(gt.join("S1/gt/gt.txt"), "1,1,10,10,20,40,1,1,1\n2,1,x\n").unwrap();
    let line = fails_cleanly(&eval_det_args(&gt, &res));
    assert!(line.contains("gt.txt") && line.contains("line 2"), "{line}");
}

#[test]
fn missing_folders_and_files_are_named() {
    let dir = scratch("eval_det_missing");
    let (gt, res) = one_sequence(&dir);
    // A results folder without this sequence's file (but with another's).
    std::fs::write(res.join("S2.txt"), "1,-1,10,10,20,40,0.9\n").unwrap();
    let line = fails_cleanly(&eval_det_args(&gt, &res));
    assert!(line.contains("no results for sequence S1"), "{line}");
    let nowhere = dir.join("nowhere");
    let line = fails_cleanly(&eval_det_args(&nowhere, &res));
    assert!(line.contains("nowhere"), "{line}");
    let line = fails_cleanly(&eval_det_args(&gt, &nowhere));
    assert!(line.contains("nowhere"), "{line}");
    let mut args = eval_det_args(&gt, &res);
    args.extend(["--min-visibility", "1.5"]);
    let line = fails_cleanly(&args);
    assert!(line.contains("--min-visibility"), "{line}");
}

/// `vigil track --dets` writes what the detector found, before tracking, frame numbers as the
/// input's: the same boxes as the Python reference of the detector (tests/golden/detections.json),
/// within what float32 promises plus the det file's rounding (tests/common/boxes.rs), and
/// `eval-det` reads them.
#[test]
fn track_dets_writes_the_detectors_boxes_for_eval_det() {
    let dir = scratch("track_dets");
    let res = dir.join("res");
    std::fs::create_dir_all(&res).unwrap();
    let seq = "MOT17-09";
    let dets = res.join(format!("{seq}.txt"));
    let input = shared().join("mot/MOT17-mini").join(seq);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // The reference boxes what the network gives: no completion of people cut by the edge.
    let config = dir.join("raw.toml");
    std::fs::write(&config, "[detector]\ncomplete_cut_people = false\n").unwrap();
    run_ok(&[
        "track",
        &s(&input),
        "--classes",
        "person",
        "--dets",
        &s(&dets),
        "--config",
        &s(&config),
        "--tiles", // the reference runs the model on whole frames only
        "off",
    ]);
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/golden/detections.json")).unwrap(),
    )
    .unwrap();
    let meta = &golden["meta"];
    // YOLOX-Nano's 416-px input over MOT17-09's 1920-px width, the reference's thresholds.
    let tolerance = Tolerance::of_network(
        416.0 / 1920.0,
        meta["conf"].as_f64().unwrap() as f32,
        meta["iou"].as_f64().unwrap() as f32,
    )
    .written();
    let written = det_file(&dets);
    assert!(
        written.values().flatten().all(|d| d.class == 0),
        "det rows of class 0"
    );
    let mut compared = 0;
    for record in golden["images"].as_array().unwrap() {
        let source = record["source"].as_str().unwrap();
        let Some(file) = source.strip_prefix(&format!("mot/MOT17-mini/{seq}/img1/")) else {
            continue;
        };
        let frame: u64 = file.trim_end_matches(".jpg").parse().unwrap();
        let people: Vec<Compared> = record["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let row: Vec<f64> = (0..6).map(|i| d[i].as_f64().unwrap()).collect();
                Compared::from_row(&row)
            })
            .filter(|d| d.class == 0)
            .collect();
        let none = Vec::new();
        let ours = written.get(&frame).unwrap_or(&none);
        let agreement =
            agree(ours, &people, &tolerance).unwrap_or_else(|e| panic!("frame {frame}: {e}"));
        compared += agreement.matched;
    }
    assert!(compared > 20, "{compared} boxes compared");
    let o = run_ok(&[
        "eval-det",
        "--gt",
        &s(&shared().join("mot/MOT17-mini").join(seq)),
        "--res",
        &s(&res),
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains(seq), "{table}");
}

/// Tiles of the 1080p frames find the small people the whole frame, shrunk to 416 px, misses:
/// on MOT17-mini/MOT17-04 (a crowd seen from afar) recall at 80 % precision rises by more than
/// a third with 1x2 tiles, and `auto` picks that tiling for 1080p.
#[test]
fn tiles_find_small_people_the_whole_frame_misses() {
    let dir = scratch("tiles_recall");
    let seq = "MOT17-04";
    let input = shared().join("mot/MOT17-mini").join(seq);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let recall_at_p80 = |tiles: &str| {
        let res = dir.join(tiles);
        std::fs::create_dir_all(&res).unwrap();
        let dets = res.join(format!("{seq}.txt"));
        run_ok(&[
            "track",
            &s(&input),
            "--classes",
            "person",
            "--tiles",
            tiles,
            "--dets",
            &s(&dets),
        ]);
        combined_recall_at_p80(&input, &res, &dir.join(format!("{tiles}.json")))
    };
    let whole = recall_at_p80("off");
    let tiled = recall_at_p80("1x2");
    assert!(tiled > whole * 4.0 / 3.0, "off {whole:.3}, 1x2 {tiled:.3}");
    assert_eq!(recall_at_p80("auto"), tiled);
}

/// The default completes people cut by the frame's edge (`detector.complete_cut_people`): on
/// MOT17-mini, whose gt boxes people whole past the edge, boxes reach past the frame and more
/// of them match at IoU 0.5 — recall at 80 % precision goes up — than with the network's own
/// boxes. The default set-up (also `auto` tiles, fused across regions) meets the detection
/// goal of issue 10: recall ≥ 0.60 at precision ≥ 0.80 (61.3 % measured; asserted with room
/// for other CPUs).
#[test]
fn people_cut_by_the_frame_edge_are_boxed_whole_and_match_more_targets() {
    let dir = scratch("cut_people");
    let raw_config = dir.join("raw.toml");
    std::fs::write(&raw_config, "[detector]\ncomplete_cut_people = false\n").unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let recall_at_p80 = |name: &str, extra: &[&str]| {
        let res = dir.join(name);
        std::fs::create_dir_all(&res).unwrap();
        let mut past_the_edge = 0;
        for seq in SEQUENCES {
            let dets = res.join(format!("{seq}.txt"));
            let input = shared().join("mot/MOT17-mini").join(seq);
            let mut args = vec!["track", "--classes", "person", "--dets"];
            let (input, dets_arg) = (s(&input), s(&dets));
            args.extend([dets_arg.as_str(), input.as_str()]);
            args.extend(extra);
            run_ok(&args);
            past_the_edge += std::fs::read_to_string(&dets)
                .unwrap()
                .lines()
                .map(|l| {
                    l.split(',')
                        .map(|v| v.parse::<f64>().unwrap())
                        .collect::<Vec<_>>()
                })
                .filter(|r| r[2] < -2.0 || r[3] < -2.0)
                .count();
        }
        let gt = shared().join("mot/MOT17-mini");
        let json = dir.join(format!("{name}.json"));
        (combined_recall_at_p80(&gt, &res, &json), past_the_edge)
    };
    let (completed, completed_past) = recall_at_p80("completed", &[]);
    let raw_config = s(&raw_config);
    let (raw, raw_past) = recall_at_p80("raw", &["--config", &raw_config]);
    assert!(
        completed_past > raw_past + 20,
        "{completed_past} vs {raw_past} boxes past the left or top edge"
    );
    assert!(
        completed > raw + 0.02,
        "recall at 80 % precision: completed {completed:.3}, raw {raw:.3}"
    );
    eprintln!("recall at 80 % precision: completed {completed:.3}, raw {raw:.3}");
    // Issue 10's goal is 0.60; 0.613 here. Another CPU moves a box by under 1e-3 px and a score
    // by under 1e-5 (tests/detector_golden.rs), which can tip only a match whose IoU sits within
    // 1e-4 of 0.5 or the order of two scores within 1e-5 of each other: a person or two, 0.004.
    // 0.59 leaves five times that, and the network's own boxes (0.556) still fail.
    assert!(
        completed >= 0.59,
        "the default's recall at 80 % precision: {completed:.3}"
    );
}

/// `vigil eval-det --json` of `res` against `gt`: the combined recall at 80 % precision.
fn combined_recall_at_p80(gt: &Path, res: &Path, json: &Path) -> f64 {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    run_ok(&[
        "eval-det",
        "--gt",
        &s(gt),
        "--res",
        &s(res),
        "--json",
        &s(json),
    ]);
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    figures["COMBINED"]["recall_at_p80"].as_f64().unwrap()
}
