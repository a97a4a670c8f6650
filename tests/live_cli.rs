//! `vigil track` on live streams, against a real RTSP server (GStreamer's, `rtsp_server.py`):
//! every frame of a live stream is tracked, a server that goes away for 10 s is reconnected to,
//! and unreachable or refusing streams get one clear line.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ffprobe_frames, free_port, rtsp_server, rtsp_server_of, scratch, signal, stderr, vigil,
    wait_for, Background,
};

/// Far longer than any step of these tests takes, however loaded the machine: a test fails on
/// it only when what it waits for never happens.
const PATIENCE: Duration = Duration::from_secs(120);

/// The whole JSON Lines records written so far (the last may be cut short while written).
fn records_so_far(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// JSON Lines written so far: (frame, tracks in it). Lines may be cut short while written.
fn frame_track_counts(path: &Path) -> Vec<(u64, usize)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some((
                v["frame"].as_u64()?, // not the end-of-stream line
                v["tracks"].as_array().map_or(0, Vec::len),
            ))
        })
        .collect()
}

/// The server comes back with another video at another resolution (768×576 → 768×432), as a
/// camera reconfigured during an outage would: tracking goes on and the annotated video keeps
/// every frame, scaled to the size it was opened with.
#[test]
fn a_live_stream_is_tracked_through_a_server_restart_until_stopped() {
    let dir = scratch("live_reconnect");
    let port = free_port();
    let url = format!("rtsp://admin:secret@127.0.0.1:{port}/cam");
    let server = rtsp_server(port, "admin", "secret");
    let json = dir.join("out.jsonl");
    let video = dir.join("out.mp4");
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["track", &url, "--json"])
        .arg(&json)
        .arg("-o")
        .arg(&video)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut vigil_run = Background(child);

    // The server paces vtest.avi at 10 fps: 30 frames arrive in about 3 s. Before the fix of
    // the re-order buffer, a live run stalled after a handful of frames.
    assert!(
        wait_for(PATIENCE, || frame_track_counts(&json).len() >= 30),
        "frames tracked before the restart: {}",
        frame_track_counts(&json).len()
    );
    drop(server);
    // The server stays away until the tracks of the vanished stream have ended, which they do
    // once it has been away longer than a track may stay lost.
    let outage = || {
        records_so_far(&json)
            .into_iter()
            .find(|v| v["end"] == "outage")
    };
    assert!(
        wait_for(PATIENCE, || outage().is_some()),
        "the tracks of the vanished stream end while it is away"
    );
    let ended = outage().unwrap();
    let before = frame_track_counts(&json).len();
    assert!(
        ended["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty() && e.iter().all(|e| e["type"] == "track_ended")),
        "{ended}"
    );
    let cars = common::shared().join("videos/car-detection.mp4");
    let _server = rtsp_server_of(&cars, port, "admin", "secret");
    let restarted = Instant::now();
    assert!(
        wait_for(PATIENCE, || {
            frame_track_counts(&json)[before..]
                .iter()
                .filter(|f| f.1 > 0)
                .count()
                >= 20
        }),
        "no tracks written after the server came back ({} frames before, {} now)",
        before,
        frame_track_counts(&json).len()
    );
    eprintln!(
        "reconnected and tracking {:.1} s after the restart",
        restarted.elapsed().as_secs_f64()
    );

    signal(&vigil_run.0, "-INT");
    let status = vigil_run.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C ends a live run");
    let mut summary = String::new();
    vigil_run
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut summary)
        .unwrap();
    let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap();
    assert!(log.contains("state=\"stalled\""), "{log}");
    assert!(log.contains("state=\"streaming\""), "{log}");
    for text in [&log, &summary, &std::fs::read_to_string(&json).unwrap()] {
        assert!(!text.contains("secret"), "credentials leaked: {text}");
    }
    assert!(summary.contains("admin:***@"), "{summary}");
    // After the outage, tracks are new ones: no id of before comes back.
    let records = common::json_lines(&json);
    let split = records.iter().position(|v| v["end"] == "outage").unwrap();
    let ids = |records: &[serde_json::Value]| -> Vec<u64> {
        records
            .iter()
            .filter_map(|v| v["tracks"].as_array())
            .flatten()
            .filter_map(|t| t["id"].as_u64())
            .collect()
    };
    let (old, new) = (ids(&records[..split]), ids(&records[split..]));
    assert!(
        new.iter().min() > old.iter().max(),
        "ids {old:?} before the outage, {new:?} after"
    );
    // Frame numbers keep increasing across the reconnection; timestamps never go back.
    let frames = frame_track_counts(&json);
    assert!(frames.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(
        ffprobe_frames(&video),
        frames.len() as u64,
        "every tracked frame is in the video, before and after the resolution changed"
    );
}

/// One line on stderr, exit code 2, and no secret in it.
fn fails_with_one_line(args: &[&str], expect: &str) {
    let out = vigil().args(args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(expect), "expected '{expect}' in: {err}");
    assert!(!err.contains("secret"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unreachable_refusing_and_garbage_streams_get_one_clear_line() {
    let closed = free_port();
    fails_with_one_line(
        &["track", &format!("rtsp://u:secret@127.0.0.1:{closed}/cam")],
        "Connection refused",
    );

    let port = free_port();
    let _server = rtsp_server(port, "admin", "right");
    fails_with_one_line(
        &[
            "track",
            &format!("rtsp://admin:secret@127.0.0.1:{port}/cam"),
        ],
        "refused the credentials (401",
    );

    // A "camera" that answers with noise.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(&[0x17u8; 300]);
        }
    });
    fails_with_one_line(
        &["track", &format!("rtsp://u:secret@127.0.0.1:{garbage}/cam")],
        "not RTSP",
    );
}

#[test]
fn a_camera_index_that_does_not_exist_is_named() {
    fails_with_one_line(&["track", "7"], "camera 7: no such camera");
}

#[test]
fn realtime_paces_a_file_like_a_camera() {
    // 20 frames of a 10 fps file take about 2 s when paced; unpaced they take a fraction.
    let dir = scratch("realtime");
    let started = Instant::now();
    let out = vigil()
        .args([
            "track",
            common::vtest().to_str().unwrap(),
            "--realtime",
            "--max-frames",
            "20",
            "--mot",
        ])
        .arg(dir.join("out.txt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_millis(1800));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("20 frames"), "{summary}");
    let _ = std::io::stdout().flush();
}
