//! The JSON REST API under `/api/`: list, add, replace and remove cameras, read recent events
//! and the daemon's figures. Every change is the daemon's to make (`Cameras`); this only checks
//! the request's shape and turns the answer into a reply.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;

use super::state::{blocking, error, ApiError, Applied, EventQuery, Healthz};
use super::App;

/// The largest `PUT` body: a camera's section is a few hundred bytes; masks and zones with many
/// points stay far below this.
const MAX_BODY: usize = 64 * 1024;
/// Events returned when the query sets no `limit`, and the most it may ask for.
const DEFAULT_EVENTS: usize = 100;
const MAX_EVENTS: usize = 10_000;
/// The longest camera name; the config accepts the same characters, of any length.
const MAX_NAME: usize = 64;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/cameras", get(list))
        .route(
            "/api/cameras/{name}",
            put(put_camera)
                .delete(delete_camera)
                // Read by `put_camera`, whose refusal of a larger body is JSON like the rest.
                .layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route("/api/events", get(events))
        .route("/api/stats", get(stats))
        .route("/api/cluster", get(cluster))
        .route("/api/cameras/{name}/move", post(move_camera))
}

#[derive(serde::Deserialize)]
struct MoveQuery {
    to: String,
}

/// `POST /api/cameras/NAME/move?to=INSTANCE`: a planned move (cluster mode); 202, the move
/// happens at the owner's next rounds.
async fn move_camera(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<MoveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let name = camera_name(name)?;
    let Query(MoveQuery { to }) =
        query.map_err(|_| ApiError::BadRequest("give the instance to move to: ?to=NAME".into()))?;
    let cameras = app.state.cameras.clone();
    let (n, t) = (name.clone(), to.clone());
    blocking(move || cameras.move_camera(&n, &t)).await??;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"camera": name, "to": to})),
    )
        .into_response())
}

/// `GET /api/cluster`: the site's instances and who owns which camera (cluster mode only).
async fn cluster(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let cameras = app.state.cameras.clone();
    match blocking(move || cameras.cluster()).await? {
        Some(site) => Ok(Json(site).into_response()),
        None => Err(ApiError::NotFound(
            "not in cluster mode: the config has no [cluster] section".into(),
        )),
    }
}

/// `GET /api/cameras`: every configured camera, disabled ones too.
async fn list(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let cameras = app.state.cameras.clone();
    let views = blocking(move || cameras.views()).await?;
    let list: Vec<_> = views
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "state": c.metrics.health.state(),
                "url": c.source,
                "enabled": c.enabled,
                "frames_processed": c.metrics.processed.get(),
                "active_tracks": c.metrics.active_tracks.get(),
                "preview": c.preview.is_some(),
            })
        })
        .collect();
    Ok(Json(list).into_response())
}

/// `PUT /api/cameras/NAME` with the JSON of a `[cameras.NAME]` section: 201 when the camera is
/// new, 200 when it replaced one.
async fn put_camera(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = camera_name(name)?;
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return Ok(body_refused(&name, &rejection)),
    };
    let section: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("cameras.{name}: invalid JSON: {e}")))?;
    if !section.is_object() {
        return Err(ApiError::BadRequest(format!(
            "cameras.{name}: the body must be a JSON object (the keys of a [cameras.{name}] section)"
        )));
    }
    let cameras = app.state.cameras.clone();
    let applied = {
        let name = name.clone();
        blocking(move || cameras.put(&name, section)).await??
    };
    let created = applied == Applied::Created;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "name": name, "created": created }))).into_response())
}

/// `DELETE /api/cameras/NAME`: 204 once the camera is stopped and forgotten.
async fn delete_camera(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = camera_name(name)?;
    let cameras = app.state.cameras.clone();
    blocking(move || cameras.delete(&name)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/events?camera=&type=&since=&limit=`: recent events, oldest first.
async fn events(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut query = event_query(query.as_deref().unwrap_or(""))?;
    let limit = query.limit.unwrap_or(DEFAULT_EVENTS).min(MAX_EVENTS);
    query.limit = Some(limit);
    let cameras = app.state.cameras.clone();
    let mut events = blocking(move || cameras.events(&query)).await?;
    // The newest `limit`, whatever the daemon returned.
    let extra = events.len().saturating_sub(limit);
    events.drain(..extra);
    Ok(Json(events).into_response())
}

/// `GET /api/stats`: `/healthz`'s figures and the detector pool's.
async fn stats(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let cameras = app.state.cameras.clone();
    let (views, pool) = blocking(move || (cameras.views(), cameras.pool())).await?;
    let health = Healthz::new(app.state.started, &views);
    Ok(Json(json!({
        "status": health.status,
        "uptime_s": health.uptime_s,
        "cameras": health.cameras,
        "detector": pool,
    }))
    .into_response())
}

/// The camera name of the path, checked: 1 to 64 of the characters the config allows.
fn camera_name(name: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let bad = |shown: &str| {
        ApiError::BadRequest(format!(
            "camera name {shown:?}: 1 to {MAX_NAME} letters, digits, '_' or '-' (it is used in URLs, topics and metrics)"
        ))
    };
    let Path(name) = name.map_err(|_| bad("(not UTF-8)"))?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(allowed) {
        return Err(bad(&name));
    }
    Ok(name)
}

/// Why a body could not be read, as JSON: too large (413), or cut short (400). Not an
/// `ApiError`, which has no 413: that one is the daemon's to return.
fn body_refused(name: &str, rejection: &BytesRejection) -> Response {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        let kib = MAX_BODY / 1024;
        return error(
            status,
            &format!(
                "cameras.{name}: the body is larger than the limit of {kib} KiB ({MAX_BODY} bytes)"
            ),
        );
    }
    error(
        status,
        &format!(
            "cameras.{name}: cannot read the body: {}",
            rejection.body_text()
        ),
    )
}

/// The event filter of a query string. Empty values (`?camera=&since=`, as a form sends them)
/// count as absent; anything else that does not parse is a 400 naming the parameter.
fn event_query(raw: &str) -> Result<EventQuery, ApiError> {
    let given: Vec<&str> = raw
        .split('&')
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect();
    let uri: Uri = format!("/?{}", given.join("&"))
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    Query::<EventQuery>::try_from_uri(&uri)
        .map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::super::testkit::FixedCameras;
    use super::super::testkit::*;
    use super::super::{Cameras, HttpConfig, HttpServer, HttpState};

    /// A camera section of exactly `len` bytes of JSON.
    fn section_of_len(len: usize) -> Vec<u8> {
        let mut body = br#"{"url":"rtsp://door/","pad":""#.to_vec();
        body.resize(len - 2, b'a');
        body.extend_from_slice(br#""}"#);
        body
    }

    #[test]
    fn cameras_are_listed_with_their_state_and_preview() {
        let f = fixture(HttpConfig::default());
        let got = get(f.addr(), "/api/cameras");
        assert_eq!(got.status, 200);
        assert_eq!(got.header("Content-Type"), Some("application/json"));
        let list = got.json();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        let gate = &list[0];
        assert_eq!(gate["name"], "gate");
        assert_eq!(gate["state"], "streaming");
        assert_eq!(gate["url"], "rtsp://***@10.0.0.5/stream");
        assert_eq!(gate["enabled"], true);
        assert_eq!(gate["frames_processed"], 0);
        assert_eq!(gate["active_tracks"], 0);
        assert_eq!(gate["preview"], true);
        assert_eq!(list[1]["name"], OTHER);
        assert_eq!(list[1]["state"], "connecting");
        assert_eq!(list[1]["preview"], false);
    }

    #[test]
    fn put_creates_then_replaces_and_the_camera_shows_everywhere() {
        let f = fixture(HttpConfig::default());
        let addr = f.addr();
        let body = br#"{"url": "rtsp://door/", "enabled": false}"#;
        let got = send_body(addr, "PUT", "/api/cameras/door-1", body);
        assert_eq!(got.status, 201);
        assert_eq!(
            got.json(),
            serde_json::json!({ "name": "door-1", "created": true })
        );
        let got = send_body(addr, "PUT", "/api/cameras/door-1", body);
        assert_eq!(got.status, 200);
        assert_eq!(got.json()["created"], false);
        let sections = f.cameras.sections.lock().unwrap().clone();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].0, "door-1");
        assert_eq!(sections[0].1["url"], "rtsp://door/");
        let list = get(addr, "/api/cameras").json();
        let door = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "door-1");
        assert_eq!(door.unwrap()["enabled"], false);
        assert!(get(addr, "/healthz").json()["cameras"]["door-1"].is_object());
        let page = String::from_utf8(get(addr, "/").body).unwrap();
        assert!(page.contains(r#"data-name="door-1""#));
    }

    #[test]
    fn bad_bodies_and_names_are_refused_with_json() {
        let f = fixture(HttpConfig::default());
        let addr = f.addr();
        let refused = |target: &str, body: &[u8], status: u16| {
            let got = send_body(addr, "PUT", target, body);
            assert_eq!(
                got.status,
                status,
                "{target} {}",
                String::from_utf8_lossy(&got.body)
            );
            got.json()["error"].as_str().unwrap().to_string()
        };
        let e = refused("/api/cameras/door", b"{\"url\": ", 400);
        assert!(e.starts_with("cameras.door: invalid JSON: "), "{e}");
        let e = refused("/api/cameras/door", b"[1, 2]", 400);
        assert!(
            e.starts_with("cameras.door: the body must be a JSON object"),
            "{e}"
        );
        // The daemon's own refusal, its key named.
        let e = refused("/api/cameras/door", b"{}", 400);
        assert_eq!(e, "cameras.door.url: missing");
        let long = format!("/api/cameras/{}", "a".repeat(65));
        for target in ["/api/cameras/bad.name", "/api/cameras/a%20b", long.as_str()] {
            let e = refused(target, br#"{"url": "x"}"#, 400);
            assert!(e.starts_with("camera name"), "{e}");
        }
        let e = refused("/api/cameras/door", &section_of_len(64 * 1024 + 1), 413);
        assert!(e.contains("64 KiB"), "{e}");
        // Up to the limit is fine; and the refusals above changed nothing.
        assert!(f.cameras.sections.lock().unwrap().is_empty());
        let longest = format!("/api/cameras/{}", "a".repeat(64));
        let got = send_body(addr, "PUT", &longest, &section_of_len(64 * 1024));
        assert_eq!(got.status, 201);
    }

    #[test]
    fn delete_removes_the_camera_and_404s_an_unknown_one() {
        let f = fixture(HttpConfig::default());
        let addr = f.addr();
        let got = send(addr, "DELETE", "/api/cameras/gate", "");
        assert_eq!(got.status, 204);
        assert!(got.body.is_empty());
        assert!(get(addr, "/healthz").json()["cameras"]
            .get("gate")
            .is_none());
        assert_eq!(
            get(addr, "/api/cameras").json().as_array().unwrap().len(),
            1
        );
        let got = send(addr, "DELETE", "/api/cameras/gate", "");
        assert_eq!(got.status, 404);
        assert_eq!(got.json()["error"], r#"no camera named "gate""#);
    }

    #[test]
    fn events_are_filtered_and_the_newest_kept() {
        let f = fixture(HttpConfig::default());
        let addr = f.addr();
        let ids = |target: &str| -> Vec<u64> {
            let got = get(addr, target);
            assert_eq!(got.status, 200, "{target}");
            let events = got.json();
            events
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(ids("/api/events"), [0, 1, 2, 3]);
        assert_eq!(ids("/api/events?camera=&type=&since=&limit="), [0, 1, 2, 3]);
        assert_eq!(ids("/api/events?camera=gate"), [0, 2, 3]);
        assert_eq!(ids("/api/events?type=track_started"), [0, 1]);
        assert_eq!(ids("/api/events?since=101.5"), [2, 3]);
        assert_eq!(ids("/api/events?camera=gate&limit=2"), [2, 3]);
        assert_eq!(ids("/api/events?limit=0"), Vec::<u64>::new());
        assert_eq!(ids("/api/events?limit=99999999"), [0, 1, 2, 3]);
        for bad in ["limit=abc", "since=soon", "limit=-1"] {
            let got = get(addr, &format!("/api/events?{bad}"));
            assert_eq!(got.status, 400, "{bad}");
            assert!(got.json()["error"].is_string(), "{bad}");
        }
    }

    #[test]
    fn stats_are_the_health_report_and_the_pool() {
        let f = fixture(HttpConfig::default());
        let got = get(f.addr(), "/api/stats");
        assert_eq!(got.status, 200);
        let stats = got.json();
        assert_eq!(stats["status"], "ok");
        assert!(stats["uptime_s"].as_f64().unwrap() >= 0.0);
        assert_eq!(stats["cameras"]["gate"]["frames_captured"], 12);
        assert_eq!(stats["cameras"]["gate"]["state"], "streaming");
        assert_eq!(stats["detector"]["queue"], 3);
    }

    #[test]
    fn the_api_needs_the_token_and_refuses_wrong_methods() {
        let f = fixture(HttpConfig {
            token: Some("t0ken".into()),
            ..HttpConfig::default()
        });
        let addr = f.addr();
        for target in ["/api/cameras", "/api/events", "/api/stats"] {
            assert_eq!(get(addr, target).status, 401, "{target}");
        }
        let got = send(addr, "DELETE", "/api/cameras/gate", "");
        assert_eq!(got.status, 401);
        assert_eq!(f.cameras.views().len(), 2);
        let bearer = "Authorization: Bearer t0ken\r\n";
        assert_eq!(send(addr, "GET", "/api/stats", bearer).status, 200);
        let got = send_body(
            addr,
            "PUT",
            "/api/cameras/door?token=t0ken",
            br#"{"url":"x"}"#,
        );
        assert_eq!(got.status, 201);
        let got = send(addr, "GET", "/api/cameras/gate", bearer);
        assert_eq!(got.status, 405);
        assert_eq!(got.header("Allow"), Some("PUT,DELETE"));
        assert_eq!(got.json()["error"], "method not allowed");
        let got = send(
            addr,
            "POST",
            "/api/cameras",
            &format!("{bearer}Content-Length: 0\r\n"),
        );
        assert_eq!(got.status, 405);
    }

    #[test]
    fn fixed_cameras_are_shown_but_never_changed() {
        let f = fixture(HttpConfig::default());
        let state = Arc::new(HttpState {
            metrics: f.metrics.clone(),
            started: Instant::now(),
            cameras: Arc::new(FixedCameras(f.cameras.views())),
        });
        let config = HttpConfig {
            listen: "127.0.0.1:0".into(),
            ..HttpConfig::default()
        };
        let server = HttpServer::start(&config, state).unwrap();
        let addr = server.local_addr();
        assert_eq!(
            get(addr, "/api/cameras").json().as_array().unwrap().len(),
            2
        );
        let got = send_body(addr, "PUT", "/api/cameras/door", br#"{"url":"x"}"#);
        assert_eq!(got.status, 400);
        assert_eq!(
            got.json()["error"],
            "cameras cannot be changed in this build"
        );
        assert_eq!(send(addr, "DELETE", "/api/cameras/gate", "").status, 400);
        assert_eq!(get(addr, "/api/events").json(), serde_json::json!([]));
        assert_eq!(
            get(addr, "/api/stats").json()["detector"],
            serde_json::json!({})
        );
    }
}
