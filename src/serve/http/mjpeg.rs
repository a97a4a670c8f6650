//! A camera's live preview as an MJPEG stream (`/cameras/NAME/mjpeg`) and its latest frame
//! (`/cameras/NAME/snapshot.jpg`).
//!
//! Viewers only ever read the camera's shared preview slot: the pipeline never waits for one.
//! A stream's next part is made when the connection asks for more body, from whatever frame is
//! newest then, so a slow viewer skips the frames it had no room for instead of queueing them.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::sync::watch;

use super::state::{blocking, error};
use super::App;
use crate::sink::Preview;

/// The longest a stream's wait for a frame lasts (on a blocking thread) before it looks again
/// at whether the preview closed. A stopping server ends streams at once, without this wait.
const STREAM_POLL: Duration = Duration::from_millis(500);
/// A stream with no new frame for this long sends the last one again: proxies keep the
/// connection, and a viewer that went away is noticed (its slot freed) while a camera is down.
const STREAM_KEEPALIVE: Duration = Duration::from_secs(10);

/// `GET /cameras/NAME/mjpeg`: every new frame as one part of a `multipart/x-mixed-replace` body,
/// until the preview closes or the server stops. At most `max_stream_clients` at once.
pub(super) async fn mjpeg(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let preview = match preview_of(&app, name).await {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let Some(slot) = app.streams.take() else {
        return busy("preview stream");
    };
    let viewer = Viewer {
        preview,
        stop: app.stop.clone(),
        generation: 0,
        last_part: Instant::now(),
        ended: false,
        _slot: slot,
    };
    let body = Body::from_stream(stream::unfold(viewer, Viewer::next_part));
    (
        [
            (CONTENT_TYPE, "multipart/x-mixed-replace; boundary=frame"),
            // The stream is the connection's last reply: it only ends when the camera does.
            (CONNECTION, "close"),
        ],
        body,
    )
        .into_response()
}

/// `GET /cameras/NAME/snapshot.jpg`: the newest frame, or 503 before the first.
pub(super) async fn snapshot(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let preview = match preview_of(&app, name).await {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let Some((_, jpeg)) = preview.latest() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no frame yet");
    };
    // The frame is shared with the preview slot, not copied, however many clients take it.
    let body = Bytes::from_owner(Jpeg(jpeg));
    ([(CONTENT_TYPE, "image/jpeg")], body).into_response()
}

struct Jpeg(Arc<Vec<u8>>);

impl AsRef<[u8]> for Jpeg {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The preview of camera `name`, or the reply that says why there is none.
async fn preview_of(
    app: &App,
    name: Result<Path<String>, PathRejection>,
) -> Result<Arc<Preview>, Response> {
    // A name that does not decode (not UTF-8) cannot be a camera's: the path is unknown.
    let Ok(Path(name)) = name else {
        return Err(error(StatusCode::NOT_FOUND, "not found"));
    };
    let cameras = app.state.cameras.clone();
    let views = blocking(move || cameras.views())
        .await
        .map_err(IntoResponse::into_response)?;
    let camera = views
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, &format!("no camera named {name:?}")))?;
    camera.preview.ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            &format!("camera {name:?} sends no pictures (cameras.{name}.preview = true turns its preview on)"),
        )
    })
}

fn busy(what: &str) -> Response {
    let mut reply = error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("too many {what} clients; try again later"),
    );
    reply
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("5"));
    reply
}

/// One viewer's place in a preview stream. Dropped with the response body: when the stream
/// ended, or when the connection closed or the server dropped it.
struct Viewer {
    preview: Arc<Preview>,
    /// Becomes true (or its sender goes) when the server stops.
    stop: watch::Receiver<bool>,
    /// The generation of the last frame sent; 0 before the first.
    generation: u64,
    last_part: Instant,
    ended: bool,
    /// Counts this viewer against `max_stream_clients` while it lives.
    _slot: Slot,
}

type Part = Result<Bytes, Infallible>;

impl Viewer {
    /// The next part of the body, made when the connection asks for it: the newest frame, a
    /// repeat of the last one after `STREAM_KEEPALIVE`, or the closing boundary.
    async fn next_part(mut self) -> Option<(Part, Self)> {
        if self.ended {
            return None;
        }
        loop {
            if *self.stop.borrow() || self.preview.is_closed() {
                return Some(self.end());
            }
            let preview = self.preview.clone();
            let after = self.generation;
            // `Preview` waits on a condition variable: the wait takes a blocking thread, and a
            // stopping server does not wait for it (it returns within `STREAM_POLL` anyway).
            let wait = tokio::task::spawn_blocking(move || preview.wait_newer(after, STREAM_POLL));
            // `None` when the server stops (a failed wait means its runtime is shutting down).
            let waited = tokio::select! {
                newer = wait => newer.ok(),
                _ = self.stop.wait_for(|stop| *stop) => None,
            };
            let Some(newer) = waited else {
                return Some(self.end());
            };
            if let Some((generation, jpeg)) = newer {
                self.generation = generation;
                return Some(self.part(&jpeg));
            }
            if self.last_part.elapsed() >= STREAM_KEEPALIVE {
                if let Some((_, jpeg)) = self.preview.latest() {
                    return Some(self.part(&jpeg));
                }
            }
        }
    }

    fn part(mut self, jpeg: &[u8]) -> (Part, Self) {
        self.last_part = Instant::now();
        (Ok(Bytes::from(jpeg_part(jpeg))), self)
    }

    fn end(mut self) -> (Part, Self) {
        self.ended = true;
        (Ok(Bytes::from_static(b"--frame--\r\n")), self)
    }
}

/// One part of the multipart body, whole, so that it goes out as one chunk.
fn jpeg_part(jpeg: &[u8]) -> Vec<u8> {
    let head = format!(
        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpeg.len()
    );
    let mut part = Vec::with_capacity(head.len() + jpeg.len() + 2);
    part.extend_from_slice(head.as_bytes());
    part.extend_from_slice(jpeg);
    part.extend_from_slice(b"\r\n");
    part
}

/// A bounded number of concurrent responses of one kind.
pub(super) struct Slots {
    active: AtomicUsize,
    max: usize,
}

/// Holds one slot until dropped.
struct Slot(Arc<Slots>);

impl Slots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            active: AtomicUsize::new(0),
            max,
        })
    }

    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let slots = Slots::new(1);
        let first = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(first);
        assert!(slots.take().is_some());
    }

    #[test]
    fn a_part_is_the_jpeg_between_its_head_and_a_line_end() {
        let part = jpeg_part(b"abc");
        assert_eq!(
            part,
            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\n\r\nabc\r\n"
        );
    }
}
