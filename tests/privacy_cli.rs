//! Privacy filters as a user meets them: `vigil track vtest.avi --config` with `[privacy]`,
//! compared frame by frame with the same run without it. Overlays are reduced to boxes and
//! labels (no trails, no forecasts), so the inside of each box is the picture itself.

mod common;

use std::path::{Path, PathBuf};

use common::{read_mot, run, run_ok, scratch, stderr, vtest, MotRow};
use opencv::core::{self, Mat, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::videoio::{VideoCapture, CAP_FFMPEG};

const FRAMES: u64 = 40;
const CHECKED_FRAME: u64 = 30;
/// No forecasts, no trails: only boxes and labels are drawn.
const PLAIN_DRAWING: &str = "[output]\ntrail_length = 0\n[tracker]\nhorizons_s = []\n";
/// A mask over the top-left corner (a neighbour's window, say).
const MASK: &str = "masks = [[[0, 0], [200, 0], [200, 100], [0, 100]]]\n";

/// Tracks `FRAMES` frames of vtest.avi with `privacy` (TOML keys of `[privacy]`); the annotated
/// video and the MOT tracks.
fn track(dir: &Path, name: &str, privacy: &str) -> (PathBuf, Vec<MotRow>) {
    track_input(dir, &vtest(), name, privacy)
}

/// As [`track`], on another input.
fn track_input(dir: &Path, input: &Path, name: &str, privacy: &str) -> (PathBuf, Vec<MotRow>) {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, format!("{PLAIN_DRAWING}[privacy]\n{privacy}")).unwrap();
    let (video, mot) = (
        dir.join(format!("{name}.avi")),
        dir.join(format!("{name}.txt")),
    );
    let s = |p: &Path| p.to_str().unwrap().to_string();
    run_ok(&[
        "track",
        &s(input),
        "--config",
        &s(&config),
        "--max-frames",
        &FRAMES.to_string(),
        "-o",
        &s(&video),
        "--mot",
        &s(&mot),
        "--json",
        &s(&dir.join(format!("{name}.jsonl"))),
    ]);
    (video, read_mot(&mot))
}

fn frame(video: &Path, number: u64) -> Mat {
    let mut cap = VideoCapture::from_file(video.to_str().unwrap(), CAP_FFMPEG).unwrap();
    let mut image = Mat::default();
    for _ in 0..number {
        assert!(cap.read(&mut image).unwrap(), "{video:?} frame {number}");
    }
    image
}

/// The variance of the Laplacian of a grey region: how much fine detail it holds.
fn detail(image: &Mat, area: Rect) -> f64 {
    let roi = Mat::roi(image, area).unwrap().clone_pointee();
    let (mut grey, mut lap) = (Mat::default(), Mat::default());
    imgproc::cvt_color_def(&roi, &mut grey, imgproc::COLOR_BGR2GRAY).unwrap();
    imgproc::laplacian_def(&grey, &mut lap, core::CV_64F).unwrap();
    let (mut mean, mut std) = (Mat::default(), Mat::default());
    core::mean_std_dev_def(&lap, &mut mean, &mut std).unwrap();
    let s = *std.at::<f64>(0).unwrap();
    s * s
}

/// A box grown by `margin` px on every side (its outline and label lie within 20 px).
fn grown(r: &MotRow, margin: i32) -> Rect {
    Rect::new(
        r.x as i32 - margin,
        r.y as i32 - margin,
        r.w as i32 + 2 * margin,
        r.h as i32 + 2 * margin,
    )
}

/// The middle half of a box (its drawn outline and label stay outside it).
fn inner(r: &MotRow) -> Rect {
    Rect::new(
        (r.x + r.w / 4.0) as i32,
        (r.y + r.h / 4.0) as i32,
        (r.w / 2.0) as i32,
        (r.h / 2.0) as i32,
    )
}

#[test]
fn people_are_blurred_in_the_video_and_nothing_else_changes() {
    let dir = scratch("privacy_blur");
    let (plain, plain_rows) = track(&dir, "plain", "");
    let (blurred, rows) = track(&dir, "blurred", &format!("blur = [\"person\"]\n{MASK}"));
    assert_eq!(rows, plain_rows, "privacy changes no track");
    let json = common::json_frames(&dir.join("blurred.jsonl"));
    let class_of = |id: u64| {
        json.iter()
            .flat_map(|f| f["tracks"].as_array().unwrap())
            .find(|t| t["id"].as_u64() == Some(id))
            .map(|t| t["class"].as_str().unwrap().to_string())
    };
    let clip = Rect::new(0, 0, 768, 576);
    let mut checked = 0;
    for number in [10, 20, 30, 40] {
        let in_frame: Vec<&MotRow> = rows.iter().filter(|r| r.frame == number).collect();
        // People whose middle no other box's outline or label crosses: only the picture is there.
        let people = in_frame.iter().filter(|r| {
            let middle = inner(r);
            class_of(r.id).as_deref() == Some("person")
                && r.w >= 16.0
                && in_frame
                    .iter()
                    .all(|o| o.id == r.id || (middle & grown(o, 20)).area() == 0)
        });
        let (before, after) = (frame(&plain, number), frame(&blurred, number));
        for r in people {
            let area = inner(r) & clip;
            let (was, kept) = (detail(&before, area), detail(&after, area));
            assert!(
                kept <= 0.1 * was,
                "frame {number}, track {}: detail {kept:.1} of {was:.1}",
                r.id
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "{checked} people checked");
    let in_frame: Vec<&MotRow> = rows.iter().filter(|r| r.frame == CHECKED_FRAME).collect();
    let (before, after) = (frame(&plain, CHECKED_FRAME), frame(&blurred, CHECKED_FRAME));
    // Outside every box and the mask, the two videos differ by codec noise only.
    let mut outside = Mat::new_rows_cols_with_default(
        before.rows(),
        before.cols(),
        core::CV_8U,
        Scalar::all(255.0),
    )
    .unwrap();
    // Around each box: its outline and label, and the blur of unseen ones nearby.
    for r in &in_frame {
        let around = grown(r, 40) & clip;
        imgproc::rectangle(
            &mut outside,
            around,
            Scalar::all(0.0),
            -1,
            imgproc::LINE_8,
            0,
        )
        .unwrap();
    }
    imgproc::rectangle(
        &mut outside,
        Rect::new(0, 0, 210, 110),
        Scalar::all(0.0),
        -1,
        imgproc::LINE_8,
        0,
    )
    .unwrap();
    let mut diff = Mat::default();
    core::absdiff(&before, &after, &mut diff).unwrap();
    let mean = core::mean(&diff, &outside).unwrap();
    assert!(
        mean[0].max(mean[1]).max(mean[2]) < 2.0,
        "outside the boxes: {mean:?}"
    );
    // The mask is black.
    let masked = core::mean(
        &Mat::roi(&after, Rect::new(5, 5, 190, 90)).unwrap(),
        &core::no_array(),
    )
    .unwrap();
    assert!(
        masked[0].max(masked[1]).max(masked[2]) < 12.0,
        "mask: {masked:?}"
    );
}

#[test]
fn bad_privacy_settings_name_the_key() {
    let dir = scratch("privacy_bad");
    let cases = [
        ("blur = [\"unicorn\"]", "privacy.blur"),
        ("mode = \"smudge\"", "privacy.mode"),
        ("region = \"feet\"", "privacy.region"),
        ("masks = [[[0, 0], [10, 10]]]", "privacy.masks[0]"),
        (
            "masks = [[[0, 0], [10000, 0], [0, 10]]]",
            "outside the 768x576 frame",
        ),
    ];
    for (i, (keys, named)) in cases.iter().enumerate() {
        let config = dir.join(format!("{i}.toml"));
        std::fs::write(&config, format!("[privacy]\n{keys}\n")).unwrap();
        let out = common::run(&[
            "track",
            vtest().to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{keys}: {err}");
        assert_eq!(err.lines().count(), 1, "{keys}: {err}");
        assert!(err.contains(named), "{keys}: {err}");
    }
}

/// `privacy.metadata_only = true`: a picture output asked for as well is refused, naming the
/// key (for `vigil track`: `-o`).
#[test]
fn metadata_only_refuses_picture_outputs() {
    let dir = scratch("metadata_only");
    let config = dir.join("private.toml");
    std::fs::write(&config, "[privacy]\nmetadata_only = true\n").unwrap();
    let video = dir.join("out.mp4");
    let out = run(&[
        "track",
        vtest().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--max-frames",
        "5",
        "-o",
        video.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("privacy.metadata_only = true"), "{err}");
    assert!(!video.exists(), "nothing written");
    // Tracks only: allowed, and the start-up log says no picture leaves.
    let json = dir.join("t.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("track")
        .arg(vtest())
        .arg("--config")
        .arg(&config)
        .args(["--max-frames", "5", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("privacy: metadata only"),
        "{}",
        stderr(&out)
    );
}

/// A person the detector misses stays hidden (issue 12): on vtest.avi a fine checkerboard
/// (made by ffmpeg) covers a walking person for frames 31–33, so the detector loses them; on
/// frames 32 and 33 no track is reported there, yet the board is blurred where the tracker
/// predicts the person, while the run without privacy keeps it sharp.
#[test]
fn a_person_the_detector_misses_stays_blurred_at_the_predicted_box() {
    let dir = scratch("privacy_missed");
    let (board, clip) = (dir.join("board.png"), dir.join("clip.mp4"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=70x120:d=1,format=gray,geq=lum='if(mod(floor(X/3)+floor(Y/3)\\,2)\\,255\\,0)'",
        "-frames:v",
        "1",
        &s(&board),
    ]);
    common::ffmpeg(&[
        "-i",
        &s(&vtest()),
        "-loop",
        "1",
        "-i",
        &s(&board),
        "-filter_complex",
        "[0:v][1:v]overlay=610:240:shortest=1:enable='between(t,2.95,3.25)'",
        "-frames:v",
        &FRAMES.to_string(),
        "-c:v",
        "libx264",
        "-crf",
        "12",
        &s(&clip),
    ]);
    let (plain, _) = track_input(&dir, &clip, "plain", "");
    let (blurred, rows) = track_input(&dir, &clip, "blurred", "blur = [\"person\"]\n");
    // Inside the board and inside the walker's predicted box on both frames.
    let area = Rect::new(622, 262, 30, 78);
    for number in [32, 33] {
        let overlaps =
            |r: &&MotRow| r.x < 652.0 && r.x + r.w > 622.0 && r.y < 340.0 && r.y + r.h > 262.0;
        let reported = rows
            .iter()
            .filter(|r| r.frame == number)
            .any(|r| overlaps(&r));
        assert!(
            !reported,
            "frame {number}: the walker should be lost under the board"
        );
        let sharp = detail(&frame(&plain, number), area);
        let hidden = detail(&frame(&blurred, number), area);
        assert!(
            sharp > 1000.0,
            "frame {number}: the board is there ({sharp})"
        );
        assert!(hidden < 0.1 * sharp, "frame {number}: {hidden} vs {sharp}");
    }
}
