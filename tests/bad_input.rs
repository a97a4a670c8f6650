//! Bad input of every kind: one clear line on stderr naming what is wrong, exit code 2, no panic,
//! and outputs already written are kept.

mod common;

use std::path::Path;

use common::{read_mot, run, scratch, shared, stderr, vtest};

/// Runs `vigil track ARGS` and checks the failure contract; returns the error line.
fn fails_cleanly(args: &[&str]) -> String {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {err}");
    assert!(lines[0].starts_with("vigil: error: "), "{err}");
    lines[0].to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_detection_budget_of_zero_frames() {
    let line = fails_cleanly(&["track", s(&vtest()), "--detect-every", "0"]);
    assert!(line.contains("detector.detect_every = 0"), "{line}");
    let dir = scratch("detect_every_zero");
    let config = dir.join("zero.toml");
    std::fs::write(&config, "[detector]\ndetect_every = 0\n").unwrap();
    let line = fails_cleanly(&["track", s(&vtest()), "--config", s(&config)]);
    assert!(line.contains("detector.detect_every = 0"), "{line}");
}

#[test]
fn bad_command_line_values() {
    let line = fails_cleanly(&["track", s(&vtest()), "--lag", "-1"]);
    assert!(line.contains("--lag") && line.contains("'-1'"), "{line}");
    let line = fails_cleanly(&["track", s(&vtest()), "--conf", "high"]);
    assert!(line.contains("--conf") && line.contains("'high'"), "{line}");
}

#[test]
fn missing_input_file() {
    let line = fails_cleanly(&["track", "no/such/video.mp4"]);
    assert!(
        line.contains("no/such/video.mp4") && line.contains("no such file"),
        "{line}"
    );
}

#[test]
fn text_file_named_mp4() {
    let dir = scratch("text_mp4");
    let fake = dir.join("notes.mp4");
    std::fs::write(&fake, "this is not a video\n").unwrap();
    let line = fails_cleanly(&["track", s(&fake)]);
    assert!(
        line.contains("notes.mp4") && line.contains("not a video"),
        "{line}"
    );
}

#[test]
fn truncated_video_reports_and_keeps_what_was_written() {
    let dir = scratch("truncated");
    let cut = dir.join("cut.avi");
    let bytes = std::fs::read(vtest()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 5]).unwrap();
    let mot = dir.join("cut.txt");
    let line = fails_cleanly(&["track", s(&cut), "--mot", s(&mot)]);
    assert!(
        line.contains("cut.avi") && line.contains("truncated"),
        "{line}"
    );
    let rows = read_mot(&mot);
    assert!(
        rows.iter().map(|r| r.frame).max().unwrap() > 100,
        "frames before the cut are kept"
    );
}

#[test]
fn non_onnx_model() {
    let dir = scratch("non_onnx");
    let model = dir.join("model.onnx");
    std::fs::write(&model, "not a model").unwrap();
    let line = fails_cleanly(&["track", s(&vtest()), "--model", s(&model)]);
    assert!(
        line.contains("model.onnx") && line.contains("ONNX"),
        "{line}"
    );
}

#[test]
fn models_vigil_cannot_read_are_refused_with_their_ports() {
    let two = common::layout_model("two_inputs");
    let line = fails_cleanly(&["track", s(&vtest()), "--model", s(&two)]);
    assert!(
        line.contains("two_inputs.onnx") && line.contains("2 inputs"),
        "{line}"
    );
    let odd = common::layout_model("unknown_layout");
    let line = fails_cleanly(&["track", s(&vtest()), "--model", s(&odd)]);
    assert!(
        line.contains("unknown_layout.onnx")
            && line.contains("outputs: scores_only [1, 7, 7]")
            && line.contains("[detector] family"),
        "{line}"
    );
    // A family forced by the config on a model it does not fit.
    let dir = scratch("forced_family");
    let config = dir.join("yolox.toml");
    std::fs::write(&config, "[detector]\nfamily = \"yolox\"\n").unwrap();
    let v8 = shared().join("models/yolov8n_int8.onnx");
    let line = fails_cleanly(&[
        "track",
        s(&vtest()),
        "--model",
        s(&v8),
        "--config",
        s(&config),
    ]);
    assert!(
        line.contains("yolov8n_int8.onnx") && line.contains("family = \"yolox\" was given"),
        "{line}"
    );
    std::fs::write(&config, "[detector]\nfamily = \"yolo99\"\n").unwrap();
    let line = fails_cleanly(&["track", s(&vtest()), "--config", s(&config)]);
    assert!(line.contains("family") && line.contains("yolo99"), "{line}");
}

#[test]
fn tiles_finer_than_the_frame_allows() {
    let dir = scratch("tiny_frames");
    let tiny = dir.join("tiny.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(vtest())
        .args(["-frames:v", "3", "-vf", "scale=160:120"])
        .arg(&tiny)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let line = fails_cleanly(&["track", s(&tiny), "--tiles", "8x8"]);
    assert!(
        line.contains("--tiles") && line.contains("8x8") && line.contains("160x120"),
        "{line}"
    );
}

#[test]
fn a_labels_file_that_disagrees_with_the_model() {
    let dir = scratch("short_labels");
    let labels = dir.join("three.names");
    std::fs::write(&labels, "person\ncar\ndog\n").unwrap();
    let line = fails_cleanly(&["track", s(&vtest()), "--labels", s(&labels)]);
    assert!(
        line.contains("three.names") && line.contains("3 names") && line.contains("80 classes"),
        "{line}"
    );
}

#[test]
fn unknown_class_name() {
    let line = fails_cleanly(&["track", s(&vtest()), "--classes", "person,unicorn"]);
    assert!(line.contains("'unicorn'"), "{line}");
}

#[test]
fn unwritable_outputs() {
    for flag in ["-o", "--mot", "--json"] {
        let target = if flag == "-o" {
            "/nonexistent-dir/out.mp4"
        } else {
            "/nonexistent-dir/out.txt"
        };
        let line = fails_cleanly(&["track", s(&vtest()), flag, target]);
        assert!(line.contains(target), "{line}");
    }
}

/// Output paths are claimed before any file is created or truncated: a run refused at the
/// start loses nothing, and no output may overwrite an input or another output.
#[test]
fn outputs_are_checked_before_any_file_is_touched() {
    let dir = scratch("claimed_outputs");
    let video = dir.join("in.avi");
    std::fs::copy(vtest(), &video).unwrap();
    let size = std::fs::metadata(&video).unwrap().len();
    let line = fails_cleanly(&["track", s(&video), "-o", s(&video)]);
    assert!(
        line.contains("-o") && line.contains("is an input"),
        "{line}"
    );
    assert_eq!(
        std::fs::metadata(&video).unwrap().len(),
        size,
        "the input is intact"
    );

    let same = dir.join("same.txt");
    let line = fails_cleanly(&["track", s(&video), "--mot", s(&same), "--json", s(&same)]);
    assert!(
        line.contains("--mot and --json name the same file"),
        "{line}"
    );
    assert!(!same.exists(), "nothing created");

    let kept = dir.join("kept.txt");
    std::fs::write(&kept, "earlier results\n").unwrap();
    let line = fails_cleanly(&[
        "track",
        s(&video),
        "--mot",
        s(&kept),
        "--json",
        "/nonexistent-dir/out.jsonl",
    ]);
    assert!(line.contains("/nonexistent-dir/out.jsonl"), "{line}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "earlier results\n");

    // Given detections: the det.txt being read is an input too, and the detector's and the
    // video's options have nothing to act on.
    let seq = common::val_half(&dir, &["MOT17-09"], 20).join("MOT17-09");
    let det = seq.join("det/det.txt");
    let before = std::fs::read_to_string(&det).unwrap();
    let line = fails_cleanly(&[
        "track",
        s(&seq),
        "--detections",
        "det/det.txt",
        "--mot",
        s(&det),
    ]);
    assert!(
        line.contains("--mot") && line.contains("is an input"),
        "{line}"
    );
    assert_eq!(std::fs::read_to_string(&det).unwrap(), before);
    for option in [
        &["--max-frames", "5"][..],
        &["--conf", "0.9"],
        &["--motion-gate"],
    ] {
        let mut args = vec!["track", s(&seq), "--detections", "det/det.txt", "--mot"];
        let out = dir.join("o.txt");
        args.push(s(&out));
        args.extend(option);
        let line = fails_cleanly(&args);
        assert!(
            line.contains(&format!("{} does not apply", option[0])),
            "{line}"
        );
    }
}

#[test]
fn unsupported_video_extension() {
    let dir = scratch("bad_ext");
    let line = fails_cleanly(&["track", s(&vtest()), "-o", s(&dir.join("out.gif"))]);
    assert!(line.contains("out.gif"), "{line}");
}

#[test]
fn bad_config_values_name_the_key() {
    let dir = scratch("bad_config");
    let cases = [
        ("[detector]\nconf = 2.0\n", "detector.conf"),
        ("[tracker]\nlost_timeout_s = -1\n", "tracker.lost_timeout_s"),
        ("[detector]\nconfx = 0.3\n", "confx"),
        ("[detector\n", "line 1"),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let path = dir.join(format!("c{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let line = fails_cleanly(&["track", s(&vtest()), "--config", s(&path)]);
        assert!(
            line.contains(expect) && line.contains(&format!("c{i}.toml")),
            "{line}"
        );
    }
    let line = fails_cleanly(&["track", s(&vtest()), "--iou", "7"]);
    assert!(line.contains("detector.iou"), "{line}");
}

#[test]
fn folder_without_seqinfo() {
    let dir = scratch("no_seqinfo");
    let line = fails_cleanly(&["track", s(&dir)]);
    assert!(line.contains("seqinfo.ini"), "{line}");
}

#[test]
fn unreachable_stream_is_named_without_its_password() {
    let line = fails_cleanly(&["track", "rtsp://admin:hunter2@127.0.0.1:9/cam"]);
    assert!(line.contains("rtsp://admin:***@127.0.0.1:9/cam"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn missing_onnx_runtime_library_says_how_to_fix_it() {
    let out = common::vigil()
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .args(["track", s(&vtest())])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ORT_DYLIB_PATH") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn gpu_device_with_the_cpu_runtime_is_refused_not_silently_cpu() {
    // scripts/bootstrap.sh installs the CPU build of ONNX Runtime.
    let line = fails_cleanly(&[
        "track",
        s(&vtest()),
        "--device",
        "cuda",
        "--max-frames",
        "2",
    ]);
    assert!(line.contains("--device cuda"), "{line}");
}

#[test]
fn device_auto_falls_back_to_the_cpu_and_says_why() {
    // The only device choice that may fall back: here the library has no CUDA.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(common::root())
        .args([
            "track",
            s(&vtest()),
            "--device",
            "auto",
            "--max-frames",
            "2",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("--device auto: running on the cpu") && err.contains("device=\"cpu\""),
        "{err}"
    );
}
