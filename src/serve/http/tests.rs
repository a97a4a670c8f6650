//! The endpoints as a client sees them, over a real socket: status, headers and bodies, the
//! token, the streams' timing and the server's stop. The API's own tests are in `api.rs`.
#![cfg(test)] // test-only (declared under #[cfg(test)] in mod.rs): unwraps here are assertions

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::testkit::FixedCameras;
use super::testkit::*;
use super::{HttpConfig, HttpServer, HttpState};
use crate::error::Error;

#[test]
fn healthz_reports_every_camera_with_its_state_and_counters() {
    let f = fixture(HttpConfig::default());
    let got = get(f.server.local_addr(), "/healthz");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("Content-Type"), Some("application/json"));
    let json = got.json();
    assert_eq!(json["status"], "ok");
    assert!(json["uptime_s"].as_f64().unwrap() >= 0.0);
    let gate = &json["cameras"]["gate"];
    assert_eq!(gate["state"], "streaming");
    assert_eq!(gate["frames_captured"], 12);
    assert!(gate["last_error"].is_null());
    for key in [
        "state_for_s",
        "since_unix_s",
        "frames_processed",
        "frames_dropped",
        "reconnects",
        "active_tracks",
    ] {
        assert!(gate[key].is_number(), "{key} in {gate}");
    }
    assert_eq!(json["cameras"][OTHER]["state"], "connecting");
}

#[test]
fn metrics_are_prometheus_text() {
    let f = fixture(HttpConfig::default());
    let got = get(f.server.local_addr(), "/metrics");
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(got.body).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let captured = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "vigil_frames_captured_total" && s.labels.get("camera") == Some("gate")
        })
        .unwrap();
    assert!(matches!(captured.value, prometheus_parse::Value::Counter(v) if v == 12.0));
    drop(f.metrics);
}

#[test]
fn mjpeg_streams_new_frames_as_jpeg_parts() {
    let f = fixture(HttpConfig::default());
    let mut s = connect(
        f.server.local_addr(),
        "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let _publisher = Publisher::start(f.preview.clone());
    let raw = read_until(&mut s, |raw| {
        parse(raw).is_some_and(|got| jpeg_parts(&got.body).len() >= 2)
    });
    let got = parse(&raw).unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("Content-Type"),
        Some("multipart/x-mixed-replace; boundary=frame")
    );
    for part in jpeg_parts(&got.body) {
        assert_eq!(&part[..2], &[0xFF, 0xD8]);
    }
}

#[test]
fn an_http10_stream_ends_when_the_preview_closes() {
    let f = fixture(HttpConfig::default());
    f.preview.publish(jpeg(90.0));
    let mut s = connect(
        f.server.local_addr(),
        "GET /cameras/gate/mjpeg HTTP/1.0\r\n\r\n",
    );
    read_until(&mut s, |raw| {
        parse(raw).is_some_and(|got| !jpeg_parts(&got.body).is_empty())
    });
    f.preview.close();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.ends_with(b"--frame--\r\n"), "{rest:?}");
}

#[test]
fn stopping_the_server_ends_streams_and_closes_the_port() {
    let f = fixture(HttpConfig::default());
    let addr = f.server.local_addr();
    f.preview.publish(jpeg(90.0));
    let mut s = connect(
        addr,
        "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let mut raw = read_until(&mut s, |raw| {
        parse(raw).is_some_and(|got| !jpeg_parts(&got.body).is_empty())
    });
    // The stop neither waits for the stream's viewer nor hangs.
    let server = f.server;
    within_patience("stopping the server", move || server.stop());
    s.read_to_end(&mut raw).unwrap();
    let end = find(&raw, b"\r\n\r\n").unwrap();
    let (body, complete) = dechunk(&raw[end + 4..]);
    assert!(complete && body.ends_with(b"--frame--\r\n"));
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still listening after stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stalled_viewer_slows_neither_the_pipeline_nor_other_requests() {
    let f = fixture(HttpConfig::default());
    let addr = f.server.local_addr();
    // Read up to its head, so that its stream thread is running, then never again: its
    // socket buffers fill and that thread blocks in a write, for good.
    let mut stalled = connect(addr, "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n");
    read_until(&mut stalled, |raw| parse(raw).is_some());
    let big = {
        let mut b = jpeg(10.0);
        b.resize(512 * 1024, 0);
        b
    };
    // A viewer that never reads blocks forever whatever waits on it: the camera's publishing
    // and the other requests must come through, however long a loaded machine takes.
    let preview = f.preview.clone();
    let frame = big.clone();
    within_patience("publishing while a viewer is stalled", move || {
        for _ in 0..50 {
            preview.publish(frame.clone());
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let (health, snapshot) = within_patience("requests while a viewer is stalled", move || {
        (
            get(addr, "/healthz"),
            get(addr, "/cameras/gate/snapshot.jpg"),
        )
    });
    assert_eq!(health.status, 200);
    assert_eq!(snapshot.body.len(), big.len());
    drop(stalled);
}

#[test]
fn streams_beyond_the_limit_get_503() {
    let f = fixture(HttpConfig {
        max_stream_clients: 1,
        ..HttpConfig::default()
    });
    let addr = f.server.local_addr();
    let mut first = connect(addr, "GET /cameras/gate/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n");
    read_until(&mut first, |raw| parse(raw).is_some());
    let second = get(addr, "/cameras/gate/mjpeg");
    assert_eq!(second.status, 503);
    assert_eq!(second.header("Retry-After"), Some("5"));
}

#[test]
fn snapshot_is_the_latest_frame_and_503_before_the_first() {
    let f = fixture(HttpConfig::default());
    let addr = f.server.local_addr();
    let got = get(addr, "/cameras/gate/snapshot.jpg");
    assert_eq!(got.status, 503);
    assert_eq!(got.json()["error"], "no frame yet");
    f.preview.publish(jpeg(10.0));
    let latest = jpeg(250.0);
    f.preview.publish(latest.clone());
    let got = get(addr, "/cameras/gate/snapshot.jpg");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("Content-Type"), Some("image/jpeg"));
    assert_eq!(got.body, latest);
}

#[test]
fn unknown_paths_cameras_and_methods_are_refused_with_json() {
    let f = fixture(HttpConfig::default());
    let addr = f.server.local_addr();
    for (target, status) in [
        ("/nope", 404),
        ("/cameras/nope/mjpeg", 404),
        ("/cameras/nope/snapshot.jpg", 404),
        ("/cameras/gate/other", 404),
        ("/cameras/gate/mjpeg/x", 404),
        ("/cameras/%zz/mjpeg", 404),
    ] {
        let got = get(addr, target);
        assert_eq!(got.status, status, "{target}");
        assert!(got.json()["error"].is_string(), "{target}");
    }
    let got = get(addr, &format!("{OTHER_PATH}/mjpeg"));
    assert_eq!(got.status, 404);
    assert!(got.json()["error"]
        .as_str()
        .unwrap()
        .contains("sends no pictures"));
    let got = send(addr, "POST", "/healthz", "Content-Length: 0\r\n");
    assert_eq!(got.status, 405);
    assert_eq!(got.json()["error"], "method not allowed");
    assert_eq!(got.header("Allow"), Some("GET,HEAD"));
}

#[test]
fn the_status_page_shows_escaped_cameras_and_previews() {
    let f = fixture(HttpConfig::default());
    let got = get(f.server.local_addr(), "/");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("Content-Type"), Some("text/html; charset=utf-8"));
    let page = String::from_utf8(got.body).unwrap();
    assert!(page.contains(r#"data-src="/cameras/gate/mjpeg""#));
    assert!(page.contains("back &lt;yard&gt;"));
    assert!(!page.contains(OTHER));
    assert!(page.contains("rtsp://***@10.0.0.5/stream"));
    assert!(page.contains("/healthz"));
    assert!(page.contains("/metrics"));
}

#[test]
fn a_token_is_required_on_every_route_when_set() {
    let token = "s3cr+t/=x";
    let f = fixture(HttpConfig {
        token: Some(token.into()),
        ..HttpConfig::default()
    });
    let addr = f.server.local_addr();
    for target in ["/", "/healthz", "/metrics", "/nope", "/cameras/gate/mjpeg"] {
        let got = get(addr, target);
        assert_eq!(got.status, 401, "{target}");
        assert_eq!(got.header("WWW-Authenticate"), Some("Bearer"));
        assert_eq!(got.json()["error"], "unauthorized");
    }
    let wrong = send(
        addr,
        "GET",
        "/healthz",
        "Authorization: Bearer s3cr+t/=y\r\n",
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(get(addr, "/healthz?token=s3cr").status, 401);
    let header = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(send(addr, "GET", "/healthz", &header).status, 200);
    assert_eq!(get(addr, "/healthz?token=s3cr%2Bt%2F%3Dx").status, 200);
    assert_eq!(
        get(addr, &format!("/metrics?x=1&token={token}")).status,
        200
    );
}

#[test]
fn a_busy_port_is_the_users_error() {
    let f = fixture(HttpConfig::default());
    let config = HttpConfig {
        listen: f.server.local_addr().to_string(),
        ..HttpConfig::default()
    };
    let state = Arc::new(HttpState {
        metrics: f.metrics.clone(),
        started: Instant::now(),
        cameras: Arc::new(FixedCameras(Vec::new())),
    });
    let Err(Error::Input(message)) = HttpServer::start(&config, state) else {
        panic!("a second server bound the same port");
    };
    assert!(
        message.starts_with(&format!("http.listen '{}': cannot bind:", config.listen)),
        "{message}"
    );
}

#[test]
fn every_reply_is_uncached_and_unsniffed() {
    let token = "t0ken";
    let f = fixture(HttpConfig {
        token: Some(token.into()),
        ..HttpConfig::default()
    });
    let addr = f.addr();
    for (target, status) in [
        ("/healthz?token=t0ken", 200),
        ("/nope?token=t0ken", 404),
        ("/healthz", 401),
        ("/api/cameras", 401),
    ] {
        let got = get(addr, target);
        assert_eq!(got.status, status, "{target}");
        assert_eq!(got.header("Cache-Control"), Some("no-store"), "{target}");
        assert_eq!(got.header("X-Content-Type-Options"), Some("nosniff"));
    }
}

#[test]
fn head_requests_get_the_head_only() {
    let f = fixture(HttpConfig::default());
    let got = send(f.addr(), "HEAD", "/", "");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(got.header("Referrer-Policy"), Some("no-referrer"));
    assert!(got.header("Content-Security-Policy").is_some());
    assert!(got.body.is_empty());
    // A stream's head too, and its slot is free again at once.
    let f = fixture(HttpConfig {
        max_stream_clients: 1,
        ..HttpConfig::default()
    });
    for _ in 0..2 {
        let got = send(f.addr(), "HEAD", "/cameras/gate/mjpeg", "");
        assert_eq!(got.status, 200);
        assert!(got.body.is_empty());
    }
}

#[test]
fn the_page_and_healthz_show_the_cameras_of_the_moment() {
    let f = fixture(HttpConfig::default());
    let addr = f.addr();
    f.cameras
        .cameras
        .lock()
        .unwrap()
        .retain(|c| c.name != "gate");
    assert!(get(addr, "/healthz").json()["cameras"]
        .get("gate")
        .is_none());
    let page = String::from_utf8(get(addr, "/").body).unwrap();
    assert!(!page.contains("/cameras/gate/"));
    assert_eq!(get(addr, "/cameras/gate/snapshot.jpg").status, 404);
}
