//! The live preview of one camera: its newest annotated frame as a JPEG, kept in one shared slot
//! that HTTP clients read. The pipeline only ever replaces the slot, so a slow viewer can never
//! hold it back; viewers skip to whatever is newest when they are ready.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opencv::core::{Mat, Size, Vector};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;

use super::{Annotator, Sink, SinkPolicy};
use crate::error::{Context, Result};
use crate::frame::{Track, TrackedFrame};
use crate::geom::Affine;
use crate::labels::Labels;

/// Good enough to read labels, about a tenth of the size of the raw frame.
const JPEG_QUALITY: i32 = 80;

/// The newest JPEG of one camera, its generation number and whether the camera has stopped.
pub struct Preview {
    slot: Mutex<Slot>,
    changed: Condvar,
}

#[derive(Default)]
struct Slot {
    /// Number of frames published so far: 0 means none yet.
    generation: u64,
    jpeg: Option<Arc<Vec<u8>>>,
    closed: bool,
}

impl Preview {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
        })
    }

    /// Replaces the newest frame and wakes every waiting viewer. A publish after `close` reopens
    /// the preview, so a camera whose pipeline is restarted keeps the same preview.
    pub fn publish(&self, jpeg: Vec<u8>) {
        let mut slot = self.lock();
        slot.generation += 1;
        slot.jpeg = Some(Arc::new(jpeg));
        slot.closed = false;
        drop(slot);
        self.changed.notify_all();
    }

    /// The newest frame and its generation, if any was published.
    pub fn latest(&self) -> Option<(u64, Arc<Vec<u8>>)> {
        let slot = self.lock();
        slot.jpeg.clone().map(|j| (slot.generation, j))
    }

    /// Waits up to `timeout` for a frame newer than generation `after` and returns the newest.
    /// `None` on timeout, and at once when the preview is closed.
    pub fn wait_newer(&self, after: u64, timeout: Duration) -> Option<(u64, Arc<Vec<u8>>)> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.lock();
        loop {
            if slot.closed {
                return None;
            }
            if slot.generation > after {
                if let Some(jpeg) = &slot.jpeg {
                    return Some((slot.generation, jpeg.clone()));
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            slot = self
                .changed
                .wait_timeout(slot, left)
                .map_or_else(|p| p.into_inner().0, |(s, _)| s);
        }
    }

    /// Marks the camera as stopped: viewers waiting for a frame are released and end their
    /// streams. The last frame stays available to `latest`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// A viewer thread that panicked cannot leave the slot inconsistent (every update is one
    /// assignment), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Admits at most one frame per interval of *stream* time, on a fixed schedule so that a 30 fps
/// source limited to 5 fps gives 5 fps, not 30/7.
#[derive(Clone, Debug)]
struct RateLimit {
    interval_ms: f64,
    next_due_ms: Option<f64>,
}

/// Timestamps are rounded to the millisecond by many sources: a frame this early still counts.
const SLACK_MS: f64 = 1.0;

impl RateLimit {
    fn new(max_fps: f64) -> Self {
        let interval_ms = if max_fps.is_finite() && max_fps > 0.0 {
            1000.0 / max_fps
        } else {
            0.0
        };
        Self {
            interval_ms,
            next_due_ms: None,
        }
    }

    fn admit(&mut self, pts_ms: f64) -> bool {
        let due = self.next_due_ms.unwrap_or(pts_ms);
        // Time running backwards means the source restarted its clock (a reconnect).
        let restarted = pts_ms < due - self.interval_ms - SLACK_MS;
        if pts_ms + SLACK_MS < due && !restarted {
            return false;
        }
        // After a gap (a stall), start a new schedule instead of admitting a burst to catch up.
        let behind = pts_ms - due > self.interval_ms;
        let base = if restarted || behind { pts_ms } else { due };
        self.next_due_ms = Some(base + self.interval_ms);
        true
    }
}

/// Feeds a `Preview`: rate-limited, annotated, downscaled JPEGs. Never blocks the pipeline for
/// long: the work per admitted frame is one resize, the drawing and one JPEG encode.
pub struct PreviewSink {
    preview: Arc<Preview>,
    annotator: Annotator,
    rate: RateLimit,
    max_width: i32,
    /// The camera's motion since the last frame drawn (frames the rate limit skips included).
    camera: Affine,
}

impl PreviewSink {
    pub fn new(
        preview: Arc<Preview>,
        labels: Arc<Labels>,
        trail_len: usize,
        max_fps: f64,
        max_width: i32,
    ) -> Self {
        Self {
            preview,
            annotator: Annotator::new(labels, trail_len),
            rate: RateLimit::new(max_fps),
            max_width: max_width.max(1),
            camera: Affine::IDENTITY,
        }
    }

    /// The frame scaled to at most `max_width` wide, and the scale applied. Scaling before
    /// drawing keeps labels readable on the preview of a 4K camera, and avoids copying the full
    /// frame.
    fn downscale(&self, image: &Mat) -> Result<(Mat, f32)> {
        let size = image.size().internal_err(|| "preview: frame size".into())?;
        if size.width <= self.max_width {
            let copy = image.try_clone().internal_err(|| "preview: copy".into())?;
            return Ok((copy, 1.0));
        }
        let scale = self.max_width as f32 / size.width as f32;
        let height = ((size.height as f32 * scale).round() as i32).max(1);
        let mut small = Mat::default();
        imgproc::resize(
            image,
            &mut small,
            Size::new(self.max_width, height),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )
        .internal_err(|| "preview: resize".into())?;
        Ok((small, scale))
    }
}

/// Tracks in the coordinates of an image scaled by `scale`.
fn scale_tracks(tracks: &[Track], scale: f32) -> Vec<Track> {
    let s = |b: crate::geom::BBox| {
        crate::geom::BBox::new(b.x1 * scale, b.y1 * scale, b.x2 * scale, b.y2 * scale)
    };
    tracks
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.bbox = s(t.bbox);
            t.velocity = [t.velocity[0] * scale, t.velocity[1] * scale];
            for p in &mut t.predicted {
                p.bbox = s(p.bbox);
                p.cov_xy = p.cov_xy.map(|v| v * scale * scale);
            }
            t
        })
        .collect()
}

fn encode_jpeg(image: &Mat) -> Result<Vec<u8>> {
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, JPEG_QUALITY]);
    let ok = imgcodecs::imencode(".jpg", image, &mut buf, &params)
        .internal_err(|| "preview: JPEG encoding".into())?;
    if !ok {
        return Err(crate::error::Error::internal(
            "preview: JPEG encoding failed".to_string(),
        ));
    }
    Ok(buf.to_vec())
}

impl Sink for PreviewSink {
    fn describe(&self) -> String {
        "live preview".to_string()
    }

    fn kind(&self) -> &'static str {
        "preview"
    }

    fn needs_image(&self) -> bool {
        true
    }

    fn policy(&self) -> SinkPolicy {
        SinkPolicy::NeverBlock
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let image = &f.frame.image;
        // The camera's motion since the last frame drawn, across the frames not drawn.
        self.camera = f.frame.meta.camera.after(&self.camera);
        if image.empty() || !self.rate.admit(f.frame.meta.pts_ms) {
            return Ok(());
        }
        let (mut canvas, scale) = self.downscale(image)?;
        let [a, b, c, d, e, g] = std::mem::replace(&mut self.camera, Affine::IDENTITY).0;
        let s = scale as f64; // the same motion in the smaller canvas's pixels
        self.annotator
            .follow_camera(&Affine([a, b, c * s, d, e, g * s]));
        let scaled;
        let tracks = if scale == 1.0 {
            &f.tracks
        } else {
            scaled = scale_tracks(&f.tracks, scale);
            &scaled
        };
        self.annotator.draw_scene(&mut canvas, &f.scene, s)?;
        self.annotator.draw(&mut canvas, f.frame.meta.seq, tracks)?;
        self.preview.publish(encode_jpeg(&canvas)?);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.preview.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, FrameMeta};
    use crate::geom::BBox;
    use opencv::core::{Scalar, CV_8UC3};

    #[test]
    fn the_rate_limit_keeps_a_schedule_in_stream_time() {
        let mut r = RateLimit::new(5.0);
        // 30 fps for 2 s: exactly 10 frames at 5 fps, one every 6 source frames.
        let admitted: Vec<u64> = (0..60u64)
            .filter(|i| r.admit(*i as f64 * 1000.0 / 30.0))
            .collect();
        assert_eq!(admitted, vec![0, 6, 12, 18, 24, 30, 36, 42, 48, 54]);
    }

    #[test]
    fn the_rate_limit_restarts_after_a_gap_or_a_clock_reset() {
        let mut r = RateLimit::new(5.0);
        assert!(r.admit(0.0));
        assert!(!r.admit(100.0));
        // A stall: one frame after it, not a burst to catch up.
        assert!(r.admit(5000.0));
        assert!(!r.admit(5033.0));
        // The source reconnected and counts from 0 again.
        assert!(r.admit(10.0));
        assert!(!r.admit(43.0));
        assert!(r.admit(210.0));
    }

    #[test]
    fn no_limit_admits_every_frame() {
        let mut r = RateLimit::new(0.0);
        assert!((0..10).all(|i| r.admit(i as f64)));
    }

    #[test]
    fn wait_newer_returns_the_newest_and_close_releases_waiters() {
        let p = Preview::new();
        assert!(p.latest().is_none());
        assert!(p.wait_newer(0, Duration::from_millis(10)).is_none());
        p.publish(vec![1]);
        p.publish(vec![2]);
        let (g, jpeg) = p.wait_newer(0, Duration::ZERO).unwrap();
        assert_eq!((g, jpeg.as_slice()), (2, &[2u8][..]));
        assert!(p.wait_newer(2, Duration::from_millis(10)).is_none());

        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || p.wait_newer(2, Duration::from_secs(1)))
        };
        std::thread::sleep(Duration::from_millis(20));
        p.publish(vec![3]);
        assert_eq!(waiter.join().unwrap().unwrap().0, 3);

        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                (p.wait_newer(3, Duration::from_secs(120)), t.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        p.close();
        let (got, waited) = waiter.join().unwrap();
        assert!(got.is_none());
        // Woken by the close, not by its two minutes' timeout (no load delays a wake by one).
        assert!(waited < Duration::from_secs(60));
        // Closed: no waiting at all, but the last frame stays for snapshots.
        assert!(p.wait_newer(0, Duration::from_secs(10)).is_none());
        assert_eq!(p.latest().unwrap().0, 3);
    }

    fn frame(seq: u64, pts_ms: f64, width: i32, height: i32) -> TrackedFrame {
        let image =
            Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(90.0)).unwrap();
        let track = Track {
            id: 7,
            class_id: 0,
            score: 0.9,
            bbox: BBox::new(100.0, 100.0, 400.0, 300.0),
            velocity: [10.0, 0.0],
            predicted: Vec::new(),
        };
        TrackedFrame {
            detections: Vec::new(),
            detected: true,
            unchanged: false,
            frame: Frame {
                meta: FrameMeta {
                    seq,
                    number: seq + 1,
                    pts_ms,
                    captured_at: Instant::now(),
                    camera: crate::geom::Affine::IDENTITY,
                    plan: Default::default(),
                },
                image,
                slot: Default::default(),
            },
            tracks: vec![track],
            events: Vec::new(),
            scene: Default::default(),
        }
    }

    #[test]
    fn the_sink_publishes_rate_limited_downscaled_jpegs_and_closes_at_the_end() {
        let preview = Preview::new();
        let labels = Arc::new(Labels::numbered(1));
        let mut sink = PreviewSink::new(preview.clone(), labels, 10, 5.0, 320);
        assert_eq!(sink.policy(), SinkPolicy::NeverBlock);
        for i in 0..30u64 {
            sink.write(&frame(i, i as f64 * 1000.0 / 30.0, 640, 480))
                .unwrap();
        }
        let (generation, jpeg) = preview.latest().unwrap();
        assert_eq!(generation, 5, "1 s of 30 fps at 5 fps");
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let decoded =
            imgcodecs::imdecode(&Vector::<u8>::from_slice(&jpeg), imgcodecs::IMREAD_COLOR).unwrap();
        assert_eq!(decoded.size().unwrap(), Size::new(320, 240));

        sink.finish().unwrap();
        assert!(preview.is_closed());
    }

    /// The preview shows the counting lines where they are in the scaled picture, and the
    /// forecasts' ellipses shrink with it (a covariance scales with the square).
    #[test]
    fn the_preview_draws_the_scene_and_scales_the_forecasts_with_the_picture() {
        use crate::frame::Prediction;
        use crate::geom::Segment;
        use crate::scene::{Layout, SceneFrame};
        let preview = Preview::new();
        let mut sink =
            PreviewSink::new(preview.clone(), Arc::new(Labels::numbered(1)), 0, 0.0, 960);
        let mut f = frame(0, 0.0, 1920, 1080);
        let layout = Layout {
            lines: vec![("gate".into(), Segment::new([0.0, 800.0], [1920.0, 800.0]))],
            zones: Vec::new(),
        };
        f.scene = SceneFrame {
            layout: Arc::new(layout),
            line_counts: vec![[0, 0]],
            ..Default::default()
        };
        sink.write(&f).unwrap();
        let (_, jpeg) = preview.latest().unwrap();
        let decoded =
            imgcodecs::imdecode(&Vector::<u8>::from_slice(&jpeg), imgcodecs::IMREAD_COLOR).unwrap();
        let bgr = |y: i32| *decoded.at_2d::<opencv::core::Vec3b>(y, 700).unwrap();
        let on_line = bgr(400);
        assert!(
            on_line[2] > 200 && on_line[0] < 60,
            "the line at y 400 of 540: {on_line:?}"
        );
        assert!(bgr(450)[2] < 120, "nothing drawn at y 450: {:?}", bgr(450));

        let mut track = f.tracks[0].clone();
        track.predicted = vec![Prediction {
            dt_s: 1.0,
            bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
            cov_xy: [400.0, 40.0, 100.0],
            scene: None,
        }];
        assert_eq!(
            scale_tracks(&[track], 0.5)[0].predicted[0].cov_xy,
            [100.0, 10.0, 25.0]
        );
    }
}
