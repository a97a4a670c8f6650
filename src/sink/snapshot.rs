//! Snapshots: one JPEG per new track, the frame it was first reported on with its box drawn, so
//! an operator can see at a glance who or what arrived without scrubbing through video.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use opencv::core::{Mat, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

use super::{create_numbered, write_failed, Annotator, Sink};
use crate::error::{Context, Error, Result};
use crate::frame::{Event, EventKind, Track, TrackedFrame};
use crate::geom::BBox;
use crate::labels::Labels;

/// Wider frames are scaled down: a snapshot is for recognising, not for evidence-grade detail,
/// and a 4K JPEG per track would fill a disk fast on a busy scene.
const MAX_WIDTH: i32 = 1280;
const JPEG_QUALITY: i32 = 90;

pub struct SnapshotSink {
    dir: PathBuf,
    prefix: String,
    labels: Arc<Labels>,
}

impl SnapshotSink {
    /// Writes `DIR/PREFIX-<id>-<class>.jpg` per started track; `DIR` must exist.
    pub fn new(dir: &Path, prefix: &str, labels: Arc<Labels>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            labels,
        }
    }

    fn snapshot(&self, f: &TrackedFrame, e: &Event) -> Result<()> {
        let (mut image, scale) = downscaled(&f.frame.image)?;
        let mut track = f
            .tracks
            .iter()
            .find(|t| t.id == e.id)
            .cloned()
            .unwrap_or_else(|| track_of(e));
        track.bbox = scaled(track.bbox, scale);
        // Forecast arrows are for video; a still shows where the object is.
        track.predicted.clear();
        // A fresh annotator: no trail, only this track's box and label.
        Annotator::new(self.labels.clone(), 0).draw(&mut image, f.frame.meta.seq, &[track])?;
        let mut jpeg = Vector::<u8>::new();
        let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, JPEG_QUALITY]);
        let encoded = imgcodecs::imencode(".jpg", &image, &mut jpeg, &params)
            .internal_err(|| "encode snapshot".into())?;
        if !encoded || jpeg.is_empty() {
            return Err(Error::internal("the JPEG encoder produced nothing"));
        }
        let class = file_safe(self.labels.name(e.class_id));
        let stem = format!("{}-{}-{class}", self.prefix, e.id);
        write_new(&self.dir, &stem, jpeg.as_slice())
    }
}

/// The frame, scaled down to at most `MAX_WIDTH` wide, and the factor applied.
fn downscaled(image: &Mat) -> Result<(Mat, f32)> {
    let width = image.cols();
    if width <= MAX_WIDTH {
        return Ok((image.try_clone().internal_err(|| "copy frame".into())?, 1.0));
    }
    let scale = MAX_WIDTH as f64 / width as f64;
    let height = ((image.rows() as f64 * scale).round() as i32).max(1);
    let mut small = Mat::default();
    imgproc::resize(
        image,
        &mut small,
        Size::new(MAX_WIDTH, height),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .internal_err(|| "scale snapshot".into())?;
    Ok((small, scale as f32))
}

fn scaled(b: BBox, s: f32) -> BBox {
    BBox::new(b.x1 * s, b.y1 * s, b.x2 * s, b.y2 * s)
}

/// A track as the event describes it, for the (unexpected) case that the frame lacks it.
fn track_of(e: &Event) -> Track {
    Track {
        id: e.id,
        class_id: e.class_id,
        score: 0.0,
        bbox: e.first_bbox,
        velocity: [0.0, 0.0],
        predicted: Vec::new(),
    }
}

/// A class name usable in a file name on any system (`traffic light` → `traffic_light`).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `DIR/STEM.jpg`, or `DIR/STEM-N.jpg` if taken: track IDs start again at 1 when the
/// daemon restarts, and the snapshots of the earlier run must survive.
fn write_new(dir: &Path, stem: &str, bytes: &[u8]) -> Result<()> {
    let (path, mut file, _) = create_numbered(dir, stem, "jpg", 0)?;
    if let Err(e) = file.write_all(bytes) {
        // A truncated JPEG is worse than none.
        let _ = std::fs::remove_file(&path);
        return Err(write_failed(&path, e));
    }
    Ok(())
}

impl Sink for SnapshotSink {
    fn describe(&self) -> String {
        format!(
            "snapshots '{}'",
            self.dir.join(format!("{}-*.jpg", self.prefix)).display()
        )
    }

    fn kind(&self) -> &'static str {
        "snapshot"
    }

    fn needs_image(&self) -> bool {
        true
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        f.events
            .iter()
            .filter(|e| e.kind == EventKind::TrackStarted)
            .try_for_each(|e| self.snapshot(f, e))
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::recording::fixtures::{ended, frame, labels, scratch, started, track};

    #[test]
    fn one_jpeg_per_started_track_scaled_to_1280_wide() {
        let dir = scratch("snapshots");
        let mut sink = SnapshotSink::new(&dir, "track", labels());
        let events = vec![started(3), started(4), ended(2)];
        let f = frame(0, 0.0, 1920, 1080, vec![track(3), track(4)], events);
        sink.write(&f).unwrap();
        sink.write(&frame(1, 100.0, 1920, 1080, vec![track(3)], vec![]))
            .unwrap();
        // A restarted daemon numbers tracks from 1 again: the earlier snapshot stays.
        sink.write(&frame(0, 0.0, 320, 240, vec![track(3)], vec![started(3)]))
            .unwrap();
        sink.finish().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "track-3-class1-1.jpg",
                "track-3-class1.jpg",
                "track-4-class1.jpg"
            ]
        );
        let big = imgcodecs::imread(
            dir.join("track-3-class1.jpg").to_str().unwrap(),
            imgcodecs::IMREAD_COLOR,
        )
        .unwrap();
        assert_eq!((big.cols(), big.rows()), (1280, 720));
        let small = imgcodecs::imread(
            dir.join("track-3-class1-1.jpg").to_str().unwrap(),
            imgcodecs::IMREAD_COLOR,
        )
        .unwrap();
        assert_eq!((small.cols(), small.rows()), (320, 240));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn class_names_become_file_safe() {
        assert_eq!(file_safe("traffic light"), "traffic_light");
        assert_eq!(file_safe("a/b"), "a_b");
    }
}
