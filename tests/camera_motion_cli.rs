//! A moving camera, end to end: vtest.avi seen through a crop window that shakes across it (made
//! here with ffmpeg), tracked with `tracker.camera_motion = "on"` and without.

mod common;

use std::path::Path;

use common::{run_ok, scratch, vtest};

/// A 560×420 window on vtest.avi's first `frames` frames, fixed or shaking by up to ±30/±20 px
/// a few times a second (up to 30 px between frames: more than the tracker's IoU gating bears).
fn clip(dir: &Path, name: &str, window: &str, frames: u32) -> std::path::PathBuf {
    let out = dir.join(format!("{name}.mp4"));
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(vtest())
        .args(["-frames:v", &frames.to_string(), "-vf", window])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "18"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    out
}

/// Distinct track ids `vigil track` reports on `video`.
fn ids(video: &Path, dir: &Path, config: Option<&Path>) -> usize {
    let mot = dir.join("tracks.txt");
    let mut args = vec![
        "track".to_string(),
        video.to_str().unwrap().into(),
        "--mot".into(),
        mot.to_str().unwrap().into(),
    ];
    if let Some(c) = config {
        args.extend(["--config".into(), c.to_str().unwrap().into()]);
    }
    run_ok(&args);
    let text = std::fs::read_to_string(&mot).unwrap();
    let ids: std::collections::BTreeSet<&str> =
        text.lines().filter_map(|l| l.split(',').nth(1)).collect();
    ids.len()
}

#[test]
fn a_shaking_camera_keeps_its_identities_when_its_motion_is_measured() {
    let dir = scratch("camera-motion-shaky");
    let frames = 300;
    let fixed = clip(&dir, "fixed", "crop=560:420:104:78", frames);
    let shaky = clip(
        &dir,
        "shaky",
        "crop=w=560:h=420:x='104+30*sin(2*PI*t/0.6)':y='78+20*sin(2*PI*t/0.5)'",
        frames,
    );
    let on = dir.join("on.toml");
    std::fs::write(&on, "[tracker]\ncamera_motion = \"on\"\n").unwrap();
    let still = ids(&fixed, &dir, None);
    let without = ids(&shaky, &dir, None);
    let with = ids(&shaky, &dir, Some(&on));
    println!(
        "distinct ids: fixed window {still}, shaking {without} without camera motion, {with} with"
    );
    assert!(
        with * 3 < without,
        "camera motion must keep identities: {with} vs {without}"
    );
    // People at the window's shaking borders leave and come back: some new ids are fair.
    assert!(
        with as f64 <= 1.6 * still as f64,
        "{with} vs {still} on the fixed window"
    );
    // `auto` follows the shaking window as `on` does (it never finds it still)...
    let auto = dir.join("auto.toml");
    std::fs::write(&auto, "[tracker]\ncamera_motion = \"auto\"\n").unwrap();
    let with_auto = ids(&shaky, &dir, Some(&auto));
    println!("distinct ids with camera_motion = \"auto\": {with_auto} on the shaking window");
    assert!(
        with_auto as f64 <= 1.6 * still as f64 && with_auto * 3 < without,
        "auto: {with_auto} ids (on: {with}, fixed window: {still}, without: {without})"
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
    assert!(ids(&fixed, &dir, Some(&auto)) as f64 <= 1.1 * still as f64);
}
