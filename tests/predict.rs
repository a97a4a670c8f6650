//! `vigil eval-predict` as a user runs it: the table and JSON on a real MOT17 sequence, and one
//! clear line with exit code 2 for bad input.

mod common;

use std::path::Path;

use common::{run, run_ok, scratch, shared, stderr, val_half};

/// `vigil eval-predict --gt GT --detections DETECTIONS --json OUT`: its table and its report.
fn eval_predict(gt: &Path, detections: &str, out: &Path) -> (String, serde_json::Value) {
    let o = run_ok(&[
        "eval-predict",
        "--gt",
        gt.to_str().unwrap(),
        "--detections",
        detections,
        "--json",
        out.to_str().unwrap(),
    ]);
    let report = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    (String::from_utf8_lossy(&o.stdout).into_owned(), report)
}

fn fde_median(rows: &serde_json::Value, model: &str, horizon: usize) -> f64 {
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no row for {model}"));
    row["horizons"][horizon]["fde_median_px"].as_f64().unwrap()
}

#[test]
fn eval_predict_scores_the_default_against_baselines_on_gt_and_tracks() {
    let seq = shared().join("mot/MOT17/MOT17-09");
    let out = scratch("eval_predict").join("predict.json");
    let (table, report) = eval_predict(&seq, "det/yolox_x_ablation.txt", &out);
    assert!(table.contains("ByteTrack Kalman filter"), "{table}");
    assert_eq!(report["horizons_s"], serde_json::json!([0.5, 1.0, 2.0]));
    let gt = &report["combined"]["ground_truth"];
    let tracks = &report["combined"]["vigil_tracks"];
    let first = &gt[0]["horizons"][1];
    for key in [
        "fde_median_px",
        "fde_mean_per_height",
        "ade_mean_px",
        "inside_90",
    ] {
        assert!(first[key].is_number(), "{key} missing: {first}");
    }
    assert_eq!(report["sequences"][0][0], "MOT17-09");
    for h in 0..3 {
        let default = vigil::eval::forecasts::DEFAULT_MODEL;
        assert!(fde_median(gt, default, h) < fde_median(gt, "constant position", h));
        let tracked = fde_median(tracks, "vigil tracker forecasts", h);
        assert!(
            tracked < fde_median(tracks, "constant position", h),
            "h {h}"
        );
    }
}

fn horizon<'a>(rows: &'a serde_json::Value, model: &str, h: usize) -> &'a serde_json::Value {
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model);
    &row.unwrap_or_else(|| panic!("no row for {model}"))["horizons"][h]
}

/// The goal on the MOT17 val half (the learned weights saw only the first half): the
/// default's median FDE at 1 and 2 s at least 15 % under ByteTrack's filter on the same gt
/// boxes, its 90 % ellipses holding 85–95 % of true positions at every horizon, and on vigil's
/// own tracks its forecasts closer than ByteTrack's filter and than standing still.
#[test]
fn the_default_look_ahead_beats_bytetracks_filter_on_the_val_half() {
    let dir = scratch("eval_predict_val");
    let seqs = ["MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09"];
    let val = val_half(&dir, &seqs, u64::MAX);
    let out = dir.join("predict.json");
    let (_, report) = eval_predict(&val, "det/det.txt", &out);
    let (gt, tracks) = (
        &report["combined"]["ground_truth"],
        &report["combined"]["vigil_tracks"],
    );
    let default = vigil::eval::forecasts::DEFAULT_MODEL;
    for (h, seconds) in [(0, 0.5), (1, 1.0), (2, 2.0)] {
        let ours = horizon(gt, default, h);
        let inside = ours["inside_90"].as_f64().unwrap();
        assert!((0.85..=0.95).contains(&inside), "{seconds} s: {inside}");
        let fde = |rows, model| fde_median(rows, model, h);
        if seconds >= 1.0 {
            let ratio = fde(gt, default) / fde(gt, "ByteTrack Kalman filter");
            println!("{seconds} s: default / ByteTrack's filter = {ratio:.4}");
            assert!(ratio <= 0.85, "{seconds} s: {ratio}");
        }
        let tracked = fde(tracks, "vigil tracker forecasts");
        assert!(
            tracked < fde(tracks, "ByteTrack Kalman filter"),
            "{seconds} s"
        );
        assert!(tracked < fde(tracks, "constant position"), "{seconds} s");
    }
}

/// Runs vigil, requires exit code 2 and one stderr line containing `names`.
fn refused(args: &[&str], names: &str) {
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(names), "{err}");
}

#[test]
fn bad_horizons_and_a_missing_gt_folder_are_refused_in_one_line() {
    let seq = shared().join("mot/MOT17/MOT17-09");
    let seq = seq.to_str().unwrap();
    refused(
        &["eval-predict", "--gt", seq, "--horizons", "0"],
        "--horizons",
    );
    refused(
        &["eval-predict", "--gt", seq, "--horizons", "-1,abc"],
        "--horizons",
    );
    refused(
        &["eval-predict", "--gt", "no/such/folder"],
        "no/such/folder",
    );
}
