//! A moving camera, end to end: vtest.avi seen through a crop window that shakes across it (made
//! here with ffmpeg), tracked with `tracker.camera_motion = "on"` and without.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{read_mot, run_ok, scratch, vtest};
use vigil::geom::BBox;

/// The crop window on vtest.avi (10 fps): its size, its resting corner, and how far and how fast
/// the shaking one swings on each axis (amplitude px, period s): up to 30 px between frames, more
/// than the tracker's IoU gating bears.
const WINDOW: (u32, u32) = (560, 420);
const CORNER: (f32, f32) = (104.0, 78.0);
const SWING_X: (f32, f32) = (30.0, 0.6);
const SWING_Y: (f32, f32) = (20.0, 0.5);
const FPS: f32 = 10.0;

/// The window's corner in vtest.avi at `t` seconds (what ffmpeg's `crop` is given).
fn corner_at(t: f32, shaking: bool) -> (f32, f32) {
    if !shaking {
        return CORNER;
    }
    let swing =
        |(amplitude, period): (f32, f32)| amplitude * (std::f32::consts::TAU * t / period).sin();
    (CORNER.0 + swing(SWING_X), CORNER.1 + swing(SWING_Y))
}

/// The window on vtest.avi's first `frames` frames, fixed or shaking.
fn clip(dir: &Path, shaking: bool, frames: u32) -> PathBuf {
    let out = dir.join(if shaking { "shaky.mp4" } else { "fixed.mp4" });
    let (w, h) = WINDOW;
    let window = if shaking {
        let swing = |(amplitude, period): (f32, f32)| format!("{amplitude}*sin(2*PI*t/{period})");
        format!(
            "crop=w={w}:h={h}:x='{}+{}':y='{}+{}'",
            CORNER.0,
            swing(SWING_X),
            CORNER.1,
            swing(SWING_Y)
        )
    } else {
        format!("crop={w}:{h}:{}:{}", CORNER.0, CORNER.1)
    };
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(vtest())
        .args(["-frames:v", &frames.to_string(), "-vf", &window])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "18"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    out
}

/// The tracks `vigil track` reports on `video` (with `config`), carried back into vtest.avi's
/// own coordinates through the window's known corner in each frame.
fn tracks(video: &Path, dir: &Path, config: Option<&Path>, shaking: bool) -> Vec<(u64, u64, BBox)> {
    tracks_with(video, dir, (config, &[]), shaking)
}

/// The same, with more `options` for `vigil track`.
fn tracks_with(
    video: &Path,
    dir: &Path,
    (config, options): (Option<&Path>, &[&str]),
    shaking: bool,
) -> Vec<(u64, u64, BBox)> {
    let mot = dir.join("tracks.txt");
    let mut args = vec![
        "track".to_string(),
        video.to_str().unwrap().into(),
        "--mot".into(),
        mot.to_str().unwrap().into(),
    ];
    args.extend(options.iter().map(|o| o.to_string()));
    if let Some(c) = config {
        args.extend(["--config".into(), c.to_str().unwrap().into()]);
    }
    run_ok(&args);
    read_mot(&mot)
        .into_iter()
        .map(|r| {
            let (x0, y0) = corner_at((r.frame - 1) as f32 / FPS, shaking);
            (r.frame, r.id, BBox::from_tlwh(r.x + x0, r.y + y0, r.w, r.h))
        })
        .collect()
}

/// Identities of people in the part of the scene that every window shows all the time: people
/// at the shaking window's borders leave and come back, and new ids for them are fair.
fn ids_always_in_view(tracks: &[(u64, u64, BBox)]) -> usize {
    let (w, h) = (WINDOW.0 as f32, WINDOW.1 as f32);
    let (left, top) = (CORNER.0 + SWING_X.0, CORNER.1 + SWING_Y.0);
    let (right, bottom) = (CORNER.0 + w - SWING_X.0, CORNER.1 + h - SWING_Y.0);
    let inside = |b: &BBox| {
        let (cx, cy) = b.center();
        (left..=right).contains(&cx) && (top..=bottom).contains(&cy)
    };
    let ids: BTreeSet<u64> = tracks
        .iter()
        .filter(|(_, _, b)| inside(b))
        .map(|(_, id, _)| *id)
        .collect();
    ids.len()
}

/// The mean IoU of each `reference` box with the other run's best box of its frame, over the
/// pairs at IoU ≥ 0.5, and how many such pairs there are.
fn agreement(reference: &[(u64, u64, BBox)], other: &[(u64, u64, BBox)]) -> (f32, usize) {
    let ious: Vec<f32> = reference
        .iter()
        .filter_map(|(frame, _, b)| {
            other
                .iter()
                .filter(|(f, _, _)| f == frame)
                .map(|(_, _, o)| b.iou(o))
                .max_by(f32::total_cmp)
                .filter(|iou| *iou >= 0.5)
        })
        .collect();
    (
        ious.iter().sum::<f32>() / ious.len().max(1) as f32,
        ious.len(),
    )
}

/// How often a person followed on the fixed window changes identity on the other run: each
/// `reference` box is paired with the other run's best box of its frame (IoU ≥ 0.5), and a
/// switch is a reference id paired with an id other than its previous pair.
fn identity_switches(reference: &[(u64, u64, BBox)], other: &[(u64, u64, BBox)]) -> usize {
    let mut paired: BTreeMap<u64, u64> = BTreeMap::new();
    let mut switches = 0;
    for (frame, id, b) in reference {
        let best = other
            .iter()
            .filter(|(f, _, _)| f == frame)
            .map(|(_, other_id, o)| (b.iou(o), *other_id))
            .max_by(|x, y| x.0.total_cmp(&y.0));
        if let Some((_, other_id)) = best.filter(|(iou, _)| *iou >= 0.5) {
            if paired
                .insert(*id, other_id)
                .is_some_and(|before| before != other_id)
            {
                switches += 1;
            }
        }
    }
    switches
}

/// A scratch folder `name` with the fixed and the shaking window (300 frames each), and a config
/// that turns camera motion on: `(dir, fixed, shaking, config)`.
fn fixed_and_shaking(name: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = scratch(name);
    let fixed = clip(&dir, false, 300);
    let shaky = clip(&dir, true, 300);
    let on = dir.join("on.toml");
    std::fs::write(&on, "[tracker]\ncamera_motion = \"on\"\n").unwrap();
    (dir, fixed, shaky, on)
}

#[test]
fn a_shaking_camera_keeps_its_identities_when_its_motion_is_measured() {
    let (dir, fixed, shaky, on) = fixed_and_shaking("camera-motion-shaky");
    let still = tracks(&fixed, &dir, None, false);
    let without = tracks(&shaky, &dir, None, true);
    let with = tracks(&shaky, &dir, Some(&on), true);
    let ids = |t: &[(u64, u64, BBox)]| t.iter().map(|r| r.1).collect::<BTreeSet<_>>().len();
    let (still_ids, with_ids, without_ids) = (
        ids_always_in_view(&still),
        ids_always_in_view(&with),
        ids_always_in_view(&without),
    );
    let (with_switches, without_switches) = (
        identity_switches(&still, &with),
        identity_switches(&still, &without),
    );
    println!(
        "distinct ids in the always-visible part: fixed window {still_ids}, shaking {without_ids} without camera motion, {with_ids} with; \
         in the whole window: {}, {}, {}; identity switches against the fixed window: {without_switches} without, {with_switches} with",
        ids(&still),
        ids(&without),
        ids(&with)
    );
    assert!(
        with_ids as f64 <= 1.1 * still_ids as f64,
        "camera motion must keep identities: {with_ids} ids vs {still_ids} on the fixed window"
    );
    assert!(
        without_ids as f64 > 2.0 * still_ids as f64,
        "the shaking must break identities without camera motion: {without_ids} vs {still_ids}"
    );
    assert!(
        with_switches * 10 < without_switches,
        "identity switches: {with_switches} with camera motion, {without_switches} without"
    );
    // `auto` follows the shaking window as `on` does (it never finds it still)...
    let auto = dir.join("auto.toml");
    std::fs::write(&auto, "[tracker]\ncamera_motion = \"auto\"\n").unwrap();
    let with_auto = ids_always_in_view(&tracks(&shaky, &dir, Some(&auto), true));
    println!("distinct ids with camera_motion = \"auto\": {with_auto} in the always-visible part");
    assert!(
        with_auto as f64 <= 1.1 * still_ids as f64,
        "auto: {with_auto} ids (on: {with_ids}, fixed window: {still_ids})"
    );
    // ...and stops measuring the fixed one after a second, still tracking it as before.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("track")
        .arg(&fixed)
        .arg("--config")
        .arg(&auto)
        .args(["--max-frames", "60"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("the camera is still"), "{log}");
    let fixed_auto = tracks(&fixed, &dir, Some(&auto), false);
    assert!(ids(&fixed_auto) as f64 <= 1.1 * ids(&still) as f64);
}

/// The fixed-lag output (`--lag`) fills and smooths in the scene's frame of reference, not the
/// picture's: on the shaking window its boxes, carried back into vtest.avi, agree with the fixed
/// window's lagged boxes (filling and smoothing across the picture instead gives a mean IoU of
/// about 0.73, and fewer boxes matched).
#[test]
fn the_output_lag_fills_and_smooths_along_the_cameras_motion() {
    let (dir, fixed, shaky, on) = fixed_and_shaking("camera-motion-lag");
    let lag = ["--lag", "0.5"];
    let still = tracks_with(&fixed, &dir, (None, &lag), false);
    let shaking = tracks_with(&shaky, &dir, (Some(&on), &lag), true);
    let (iou, pairs) = agreement(&still, &shaking);
    println!(
        "--lag 0.5 on the shaking window against the fixed one: mean IoU {iou:.3} over {pairs} of {} boxes",
        still.len()
    );
    assert!(iou > 0.85, "mean IoU {iou:.3}");
    assert!(
        pairs * 10 > still.len() * 7,
        "{pairs} of {} boxes matched",
        still.len()
    );
}
