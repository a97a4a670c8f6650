//! `vigil eval` against TrackEval's own numbers, and its handling of bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{eval_json, run, scratch, shared, stderr};

#[test]
fn reproduces_trackeval_on_every_value() {
    let dir = scratch("eval_trackeval");
    let check = shared().join("mot/evalcheck");
    let ours = eval_json(&shared().join("mot/MOT17"), &check, &dir.join("eval.json"));
    let csv = std::fs::read_to_string(check.join("trackeval_reference.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let key = |column: &str| match column {
        "HOTA" => "hota",
        "DetA" => "det_a",
        "AssA" => "ass_a",
        "LocA" => "loc_a",
        "MOTA" => "mota",
        "MOTP" => "motp",
        "IDF1" => "idf1",
        "IDSW" => "idsw",
        "CLR_TP" => "clr_tp",
        "CLR_FN" => "clr_fn",
        "CLR_FP" => "clr_fp",
        "IDTP" => "idtp",
        "IDFN" => "idfn",
        "IDFP" => "idfp",
        "Frag" => "frag",
        "MT" => "mt",
        "PT" => "pt",
        "ML" => "ml",
        other => panic!("unexpected column {other}"),
    };
    let mut compared = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let seq = &ours[fields[0]];
        assert!(!seq.is_null(), "no result for {}", fields[0]);
        for (column, text) in header.iter().zip(&fields).skip(1) {
            let expected: f64 = text.parse().unwrap();
            let got = seq[key(column)]
                .as_f64()
                .unwrap_or_else(|| panic!("{}: {column} missing", fields[0]));
            let is_count = seq[key(column)].is_u64();
            if is_count {
                assert_eq!(got, expected, "{} {column}", fields[0]);
            } else {
                assert!(
                    (got - expected).abs() <= 1e-6,
                    "{} {column}: {got} vs TrackEval {expected}",
                    fields[0]
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 4 * 18);
}

#[test]
fn ground_truth_scored_against_itself_is_perfect() {
    // The scored part of each gt (pedestrians, consider = 1) written as tracker results.
    let dir = scratch("eval_self");
    let res = dir.join("res");
    std::fs::create_dir_all(&res).unwrap();
    let gt_root = shared().join("mot/MOT17");
    for seq in ["MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09"] {
        let gt = std::fs::read_to_string(gt_root.join(seq).join("gt/gt.txt")).unwrap();
        let scored: String = gt
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split(',').collect();
                f[6] == "1" && f[7] == "1"
            })
            .map(|l| {
                format!(
                    "{},1,-1,-1,-1\n",
                    l.split(',').take(6).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        std::fs::write(res.join(format!("{seq}.txt")), scored).unwrap();
    }
    let ours = eval_json(&gt_root, &res, &dir.join("eval.json"));
    for (name, s) in ours.as_object().unwrap() {
        for key in [
            "hota", "det_a", "ass_a", "loc_a", "mota", "motp", "idf1", "idp", "idr",
        ] {
            assert!(
                (s[key].as_f64().unwrap() - 1.0).abs() < 1e-9,
                "{name} {key} = {}",
                s[key]
            );
        }
        assert_eq!(
            (
                s["idsw"].as_u64(),
                s["clr_fp"].as_u64(),
                s["clr_fn"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{name}"
        );
    }
}

/// One line, exit 2, no panic; returns the line.
fn fails_cleanly(args: &[&str]) -> String {
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
    err
}

/// A scratch `gt` folder holding sequence S1 (see `sequence_with`), and an empty `res` folder.
fn gt_and_res(name: &str, gt_text: &str, seqinfo: Option<&str>) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let (gt, res) = (dir.join("gt"), dir.join("res"));
    std::fs::create_dir_all(&res).unwrap();
    sequence_with(&gt, gt_text, seqinfo);
    (gt, res)
}

fn sequence_with(dir: &Path, gt: &str, seqinfo: Option<&str>) {
    std::fs::create_dir_all(dir.join("S1/gt")).unwrap();
    std::fs::write(dir.join("S1/gt/gt.txt"), gt).unwrap();
    if let Some(ini) = seqinfo {
        std::fs::write(dir.join("S1/seqinfo.ini"), ini).unwrap();
    }
}

fn eval_args<'a>(gt: &'a Path, res: &'a Path) -> [&'a str; 5] {
    [
        "eval",
        "--gt",
        gt.to_str().unwrap(),
        "--res",
        res.to_str().unwrap(),
    ]
}

const INI: &str = "[Sequence]\nname=S1\nframeRate=30\nseqLength=3\n";
const GOOD: &str = "1,1,10,10,20,40,1,1,1\n";

#[test]
fn malformed_lines_name_file_and_line() {
    let (gt, res) = gt_and_res("eval_bad_lines", GOOD, Some(INI));
    for (text, expect) in [
        ("1,1,10,10,20,40,1\n2,1,10,10\n", "line 2"),
        ("1,1,10,10,nan,40,1\n", "line 1"),
        ("1,1,10,10,-20,40,1\n", "negative box size"),
    ] {
        std::fs::write(res.join("S1.txt"), text).unwrap();
        let line = fails_cleanly(&eval_args(&gt, &res));
        assert!(line.contains("S1.txt") && line.contains(expect), "{line}");
    }
    std::fs::write(
        gt.join("S1/gt/gt.txt"),
        "1,1,10,10,20,40,1,1,1\n1,2,x,10,20,40,1,1,1\n",
    )
    .unwrap();
    std::fs::write(res.join("S1.txt"), GOOD).unwrap();
    let line = fails_cleanly(&eval_args(&gt, &res));
    assert!(line.contains("gt.txt") && line.contains("line 2"), "{line}");
}

#[test]
fn missing_seqinfo_and_empty_results_folder() {
    let (gt, res) = gt_and_res("eval_missing", GOOD, None);
    let line = fails_cleanly(&eval_args(&gt, &res));
    assert!(line.contains("no SEQ.txt"), "{line}");
    std::fs::write(res.join("S1.txt"), GOOD).unwrap();
    let line = fails_cleanly(&eval_args(&gt, &res));
    assert!(line.contains("seqinfo.ini"), "{line}");
}

/// A reader that goes away (`vigil eval … | head -1`) ends the report without a panic, exit 0,
/// and `/dev/full` behind `>` is one clear line, exit 2. The pipe is closed before vigil writes
/// anything, so the write always finds no reader.
#[test]
fn a_closed_or_full_standard_output_is_no_panic() {
    let (gt, res) = gt_and_res("eval_stdout", GOOD, Some(INI));
    std::fs::write(res.join("S1.txt"), "1,1,10,10,20,40,1\n").unwrap();
    let mut child = common::vigil()
        .args(eval_args(&gt, &res))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = common::vigil()
        .args(eval_args(&gt, &res))
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("standard output") && !err.contains("panicked"),
        "{err}"
    );
}
