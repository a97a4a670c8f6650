//! The daemon's cameras changed while it runs, as an operator changes them: through the REST
//! API and by editing the config file and sending SIGHUP, against GStreamer's RTSP server and
//! Debian's mosquitto. The camera already streaming never pauses and keeps its tracks; a camera
//! removed ends its tracks (`removed`) on MQTT and in `/api/events` and leaves playable files;
//! bad changes are refused in one line with the running cameras untouched.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    free_port, mosquitto, mqtt_subscriber, recorded, rtsp_server, scratch, serve_daemon, signal,
    vtest, wait_for,
};

/// Far longer than any step takes, however loaded the machine.
const PATIENCE: Duration = Duration::from_secs(120);

/// One HTTP/1.1 request with an optional JSON body: status and body.
fn request(port: u16, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let body = body.unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = request(port, "GET", path, None);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn put(port: u16, name: &str, section: &serde_json::Value) -> (u16, String) {
    let body = section.to_string();
    request(
        port,
        "PUT",
        &format!("/api/cameras/{name}"),
        Some(body.as_bytes()),
    )
}

/// `/healthz`, or null while the daemon is not answering yet.
fn health(port: u16) -> serde_json::Value {
    let (status, body) = request(port, "GET", "/healthz", None);
    if status != 200 {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&body).unwrap_or_default()
}

fn state(port: u16, camera: &str) -> String {
    health(port)["cameras"][camera]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Watches one camera's `frames_processed` every 100 ms from its own thread; the longest time
/// it stood still, once it had started.
struct Watch {
    stop: Arc<AtomicBool>,
    longest: Arc<Mutex<(Duration, u64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(port: u16, camera: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let longest = Arc::new(Mutex::new((Duration::ZERO, 0)));
        let (s, l) = (stop.clone(), longest.clone());
        let thread = std::thread::spawn(move || {
            let (mut last, mut since) = (0u64, Instant::now());
            while !s.load(Ordering::Relaxed) {
                let (status, body) = request(port, "GET", "/healthz", None);
                if status == 200 {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let n = v["cameras"][camera]["frames_processed"]
                        .as_u64()
                        .unwrap_or(0);
                    if n > last {
                        let mut l = l.lock().unwrap();
                        if last > 0 {
                            l.0 = l.0.max(since.elapsed());
                        }
                        l.1 = n;
                        (last, since) = (n, Instant::now());
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            stop,
            longest,
            thread: Some(thread),
        }
    }

    /// The longest pause so far, and the last count seen.
    fn read(&self) -> (Duration, u64) {
        *self.longest.lock().unwrap()
    }

    fn finish(mut self) -> (Duration, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.read()
    }
}

/// Track ids in the frames of a recording.
fn track_ids(records: &[serde_json::Value]) -> Vec<u64> {
    records
        .iter()
        .flat_map(|r| r["tracks"].as_array().into_iter().flatten())
        .filter_map(|t| t["id"].as_u64())
        .collect()
}

fn playable(video: &Path) -> bool {
    Command::new("ffprobe")
        .args(["-v", "error"])
        .arg(video)
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty())
}

fn videos(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "mp4"));
    v.sort();
    v
}

#[test]
fn cameras_are_added_replaced_and_removed_while_another_streams() {
    let dir = scratch("api_cameras");
    let (rtsp_port, mqtt_port, http_port) = (free_port(), free_port(), free_port());
    let _rtsp = rtsp_server(rtsp_port, "admin", "secret");
    let broker_dir = dir.join("broker");
    std::fs::create_dir_all(&broker_dir).unwrap();
    let _broker = mosquitto(mqtt_port, &broker_dir);
    let mqtt_log = dir.join("mqtt.txt");
    let _sub = mqtt_subscriber(mqtt_port, "vigil/+/events", &mqtt_log, None);
    let rec = dir.join("rec");
    let url = format!("rtsp://admin:secret@127.0.0.1:{rtsp_port}/cam");
    let mut daemon = serve_daemon(
        &dir,
        &format!(
            r#"
[http]
listen = "127.0.0.1:{http_port}"
[mqtt]
port = {mqtt_port}
[record]
dir = "{rec}"
video = true
segment_s = 600
[cameras.lobby]
url = "{url}"
"#,
            rec = rec.display()
        ),
    );
    assert!(
        wait_for(PATIENCE, || state(http_port, "lobby") == "streaming"
            && track_ids(&recorded(&rec.join("lobby"))).len() > 20),
        "lobby never streamed: {}",
        std::fs::read_to_string(dir.join("stderr.log")).unwrap()
    );
    let watch = Watch::start(http_port, "lobby");
    let lobby_before = recorded(&rec.join("lobby"));
    // The ids alive in the last frames before the changes may continue; any other id after
    // them must be new. A tracker that restarted would number from 1 again.
    let alive_before: Vec<u64> = track_ids(&lobby_before[lobby_before.len().saturating_sub(25)..]);
    let lobby_ids_before = track_ids(&lobby_before);

    // Add a camera: 201, listed with its URL redacted, streaming within 15 s.
    let gate = serde_json::json!({"url": url, "record": {"json": true, "video": true}});
    let added = Instant::now();
    let (status, body) = put(http_port, "gate", &gate);
    assert_eq!(status, 201, "{body}");
    assert!(
        wait_for(Duration::from_secs(15), || state(http_port, "gate")
            == "streaming"),
        "gate not streaming {:?} after it was added: {}",
        added.elapsed(),
        health(http_port)
    );
    let cameras = get_json(http_port, "/api/cameras");
    let listed: Vec<&str> = cameras
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["gate", "lobby"], "{cameras}");
    assert!(!cameras.to_string().contains("secret"), "{cameras}");
    assert!(
        wait_for(PATIENCE, || !track_ids(&recorded(&rec.join("gate")))
            .is_empty()),
        "gate tracks nothing"
    );

    // Remove it: 204, gone from the API and /healthz; its tracks end as `removed` on MQTT and
    // in /api/events; its video segment is closed, playable.
    let (status, body) = request(http_port, "DELETE", "/api/cameras/gate", None);
    assert_eq!(status, 204, "{body}");
    assert!(health(http_port)["cameras"].get("gate").is_none());
    let cameras = get_json(http_port, "/api/cameras");
    assert_eq!(cameras.as_array().unwrap().len(), 1, "{cameras}");
    let ended = get_json(http_port, "/api/events?camera=gate&type=track_ended");
    let ended = ended.as_array().unwrap().clone();
    assert!(!ended.is_empty(), "no track_ended for gate in /api/events");
    assert!(ended.iter().any(|e| e["reason"] == "removed"), "{ended:?}");
    let times: Vec<f64> = ended.iter().map(|e| e["time"].as_f64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    assert!(
        wait_for(Duration::from_secs(30), || {
            std::fs::read_to_string(&mqtt_log)
                .unwrap_or_default()
                .lines()
                .any(|l| {
                    l.starts_with("vigil/gate/events ")
                        && l.contains("\"track_ended\"")
                        && l.contains("\"reason\":\"removed\"")
                })
        }),
        "no removed track_ended for gate on MQTT"
    );
    let segments = videos(&rec.join("gate"));
    let last = segments.last().expect("a video segment of gate");
    assert!(playable(last), "{} is not playable", last.display());

    // Re-add it, then replace it with another score: only gate restarts.
    let (status, body) = put(http_port, "gate", &gate);
    assert_eq!(status, 201, "{body}");
    assert!(wait_for(Duration::from_secs(15), || state(
        http_port, "gate"
    ) == "streaming"));
    let mut stricter = gate.clone();
    stricter["conf"] = serde_json::json!(0.6);
    let (status, body) = put(http_port, "gate", &stricter);
    assert_eq!(status, 200, "{body}");
    assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["created"] == false);
    assert!(wait_for(Duration::from_secs(15), || state(
        http_port, "gate"
    ) == "streaming"));

    // Bad changes: one clear error each, nothing running touched.
    let bad: [(&str, &[u8], u16, &str); 5] = [
        ("invalid JSON", b"{\"url\": ", 400, "JSON"),
        (
            "unknown key",
            br#"{"url": "rtsp://x/1", "colour": "red"}"#,
            400,
            "colour",
        ),
        (
            "bad type",
            br#"{"url": "rtsp://x/1", "conf": "high"}"#,
            400,
            "cameras.yard.conf",
        ),
        ("not an object", b"[1, 2]", 400, "object"),
        (
            "bad value",
            br#"{"url": "rtsp://x/1", "conf": 7}"#,
            400,
            "cameras.yard.conf",
        ),
    ];
    for (what, body, code, names) in bad {
        let (status, reply) = request(http_port, "PUT", "/api/cameras/yard", Some(body));
        assert_eq!(status, code, "{what}: {reply}");
        let error = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["error"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(error.contains(names), "{what}: {error}");
    }
    let huge = format!("{{\"url\": \"{}\"}}", "x".repeat(70_000));
    let (status, reply) = request(http_port, "PUT", "/api/cameras/yard", Some(huge.as_bytes()));
    assert_eq!(status, 413, "{reply}");
    assert!(reply.contains("error"), "{reply}");
    let (status, _) = request(http_port, "DELETE", "/api/cameras/nowhere", None);
    assert_eq!(status, 404);
    assert!(health(http_port)["cameras"].get("yard").is_none());
    let stats = get_json(http_port, "/api/stats");
    assert!(stats["detector"]["runs"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["detector"]["streams"], 2, "{stats}");

    // Through all of it the first camera never stood still for a second, and kept its tracks:
    // an id it had before the changes is still being reported after them, and none ended as
    // `removed`.
    let (pause, _) = watch.finish();
    assert!(pause <= Duration::from_secs(1), "lobby paused {pause:?}");
    let lobby = recorded(&rec.join("lobby"));
    let last_before = *lobby_ids_before.iter().max().unwrap();
    let after: Vec<u64> = track_ids(&lobby).split_off(lobby_ids_before.len());
    let reused: Vec<&u64> = after
        .iter()
        .filter(|id| **id <= last_before && !alive_before.contains(id))
        .collect();
    assert!(
        reused.is_empty(),
        "lobby's ids restarted: {reused:?} after {last_before}"
    );
    assert!(
        after.iter().any(|id| *id > last_before),
        "lobby found nobody new"
    );
    assert!(!lobby.iter().any(|r| r["end"] == "removed"));
    assert_eq!(state(http_port, "lobby"), "streaming");
    signal(&daemon.0, "-TERM");
    assert_eq!(daemon.0.wait().unwrap().code(), Some(0));
}

#[test]
fn sighup_applies_the_files_changes_and_the_api_s_survive_a_restart() {
    let dir = scratch("api_reload");
    let http_port = free_port();
    let header = format!("[http]\nlisten = \"127.0.0.1:{http_port}\"\n");
    let camera = |name: &str, speed: f64| {
        format!(
            "[cameras.{name}]\nurl = \"{}\"\n[cameras.{name}.source]\nrealtime = true\nspeed = {speed}\n",
            vtest().display()
        )
    };
    let config = dir.join("serve.toml");
    let mut daemon = serve_daemon(
        &dir,
        &format!("{header}{}{}", camera("a", 0.2), camera("b", 0.2)),
    );
    assert!(
        wait_for(PATIENCE, || state(http_port, "a") == "streaming"
            && state(http_port, "b") == "streaming"),
        "{}",
        std::fs::read_to_string(dir.join("stderr.log")).unwrap()
    );
    let watch = Watch::start(http_port, "a");
    // b goes, c comes; a is untouched.
    std::fs::write(
        &config,
        format!("{header}{}{}", camera("a", 0.2), camera("c", 0.2)),
    )
    .unwrap();
    signal(&daemon.0, "-HUP");
    assert!(
        wait_for(PATIENCE, || {
            let h = health(http_port);
            h["cameras"].get("b").is_none() && h["cameras"]["c"]["state"] == "streaming"
        }),
        "{}",
        health(http_port)
    );
    // A file with an error is refused in one line; the running set is kept.
    std::fs::write(
        &config,
        format!("{header}{}[cameras.d]\nconf = 2\n", camera("a", 0.2)),
    )
    .unwrap();
    signal(&daemon.0, "-HUP");
    assert!(wait_for(PATIENCE, || std::fs::read_to_string(
        dir.join("stderr.log")
    )
    .unwrap()
    .contains("reload refused")));
    let h = health(http_port);
    assert!(
        h["cameras"].get("c").is_some() && h["cameras"].get("d").is_none(),
        "{h}"
    );
    let (pause, processed) = watch.finish();
    assert!(pause <= Duration::from_secs(1), "a paused {pause:?}");
    assert!(processed > 0);
    // An API change survives a restart (kept beside the config, which is not rewritten).
    let section = serde_json::json!({"url": vtest().display().to_string(), "source": {"realtime": true, "speed": 0.2}});
    let (status, body) = put(http_port, "e", &section);
    assert_eq!(status, 201, "{body}");
    let (status, _) = request(http_port, "DELETE", "/api/cameras/a", None);
    assert_eq!(status, 204);
    signal(&daemon.0, "-TERM");
    assert_eq!(daemon.0.wait().unwrap().code(), Some(0));
    assert!(dir.join("serve.state.json").exists());
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("cameras.e"),
        "the config file is never rewritten"
    );
    std::fs::write(
        &config,
        format!("{header}{}{}", camera("a", 0.2), camera("c", 0.2)),
    )
    .unwrap();
    let mut daemon = serve_daemon(&dir, &std::fs::read_to_string(&config).unwrap());
    assert!(
        wait_for(PATIENCE, || state(http_port, "e") == "streaming"),
        "{}",
        std::fs::read_to_string(dir.join("stderr.log")).unwrap()
    );
    let h = health(http_port);
    assert!(
        h["cameras"].get("a").is_none(),
        "deleted through the API: {h}"
    );
    assert!(h["cameras"].get("c").is_some(), "{h}");
    signal(&daemon.0, "-TERM");
    assert_eq!(daemon.0.wait().unwrap().code(), Some(0));
}
