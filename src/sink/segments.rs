//! Annotated video cut into fixed-length segments, each a complete file: a daemon that runs for
//! weeks cannot keep one video open (an MP4 is only playable once closed), and old segments can
//! be deleted one by one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use opencv::core::{Mat, Size};
use opencv::prelude::*;

use super::jsonl::UtcTime;
use super::{create_numbered, Annotator, Sink, VideoSink};
use crate::error::{Context, Result};
use crate::frame::TrackedFrame;
use crate::labels::Labels;

pub struct SegmentedVideoSink {
    dir: PathBuf,
    prefix: String,
    segment_ms: f64,
    /// The rate segments are written at when the stream's own is not known yet.
    fps: f64,
    /// The stream's measured frame interval, ms (a moving average): live cameras often report
    /// no rate, or a wrong one, before their first frames.
    interval_ms: Option<f64>,
    last_pts_ms: Option<f64>,
    /// One annotator for the whole series, so trails continue across segment boundaries.
    annotator: Annotator,
    current: Option<Segment>,
}

/// The open segment: its writer, and what decides when it ends.
struct Segment {
    video: VideoSink,
    path: PathBuf,
    size: Size,
    start_pts_ms: f64,
}

impl SegmentedVideoSink {
    /// Opens nothing yet: the first frame opens the first segment at that frame's size.
    pub fn new(
        dir: &Path,
        prefix: &str,
        segment_s: f64,
        fps: f64,
        labels: Arc<Labels>,
        trail_len: usize,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            segment_ms: segment_s * 1000.0,
            fps,
            interval_ms: None,
            last_pts_ms: None,
            annotator: Annotator::new(labels, trail_len),
            current: None,
        }
    }

    /// The segment being written, if one is open.
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|s| s.path.as_path())
    }

    /// True when the frame cannot go into the open segment: it is long enough, the frame size
    /// changed (a camera reconnected at another resolution), or time went backwards (the
    /// source restarted its clock).
    fn needs_new_segment(&self, size: Size, pts_ms: f64) -> bool {
        match &self.current {
            None => true,
            Some(s) => {
                s.size != size
                    || pts_ms < s.start_pts_ms
                    || pts_ms - s.start_pts_ms >= self.segment_ms
            }
        }
    }

    fn measure_rate(&mut self, pts_ms: f64) {
        if let Some(last) = self.last_pts_ms {
            let dt = pts_ms - last;
            if dt > 0.0 && dt < 5000.0 {
                let avg = self.interval_ms.get_or_insert(dt);
                *avg += 0.1 * (dt - *avg);
            }
        }
        self.last_pts_ms = Some(pts_ms);
    }

    /// Makes sure the segment this frame belongs in is open; false when the frame is not to be
    /// written (the very first one only starts the clock, so that the first segment opens at
    /// the second frame, at the rate the stream really has).
    fn segment_for(&mut self, f: &TrackedFrame) -> Result<bool> {
        let size = f.frame.image.size().internal_err(|| "frame size".into())?;
        self.measure_rate(f.frame.meta.pts_ms);
        if self.interval_ms.is_none() {
            return Ok(false);
        }
        if self.needs_new_segment(size, f.frame.meta.pts_ms) {
            // Closed before the next opens: every finished segment is a complete file.
            self.close()?;
            self.open(size, f.frame.meta.pts_ms)?;
        }
        Ok(true)
    }

    fn encode(&mut self, canvas: &Mat) -> Result<()> {
        match self.current.as_mut() {
            Some(s) => s.video.encode(canvas),
            None => Ok(()),
        }
    }

    /// Closes the open segment (its file is complete afterwards), if any.
    fn close(&mut self) -> Result<()> {
        match self.current.take() {
            Some(mut s) => s.video.finish(),
            None => Ok(()),
        }
    }

    fn open(&mut self, size: Size, pts_ms: f64) -> Result<()> {
        let path = reserve_name(&self.dir, &self.prefix, SystemTime::now())?;
        // The segment's own annotator is unused: frames arrive here already drawn.
        let labels = Arc::new(Labels::numbered(0));
        let fps = self
            .interval_ms
            .map_or(self.fps, |ms| (1000.0 / ms).clamp(1.0, 240.0));
        match VideoSink::create(&path, size.width, size.height, fps, labels, 0) {
            Ok(video) => {
                self.current = Some(Segment {
                    video,
                    path,
                    size,
                    start_pts_ms: pts_ms,
                });
                Ok(())
            }
            Err(e) => {
                // Do not leave an empty file behind for every failed attempt.
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
}

/// Creates `DIR/PREFIX-YYYYMMDD-HHMMSS.mp4` for the UTC time `now`, or the first free
/// `…-HHMMSS-N.mp4`, atomically, so an existing segment is never overwritten.
fn reserve_name(dir: &Path, prefix: &str, now: SystemTime) -> Result<PathBuf> {
    let t = UtcTime::of(now);
    let stem = format!("{prefix}-{}-{}", t.date_stamp(), t.time_stamp());
    create_numbered(dir, &stem, "mp4", 0).map(|(path, _, _)| path)
}

impl Sink for SegmentedVideoSink {
    fn describe(&self) -> String {
        format!(
            "video segments '{}'",
            self.dir.join(format!("{}-*.mp4", self.prefix)).display()
        )
    }

    fn kind(&self) -> &'static str {
        "video"
    }

    fn needs_image(&self) -> bool {
        true
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        if !self.segment_for(f)? {
            self.annotator.follow_camera(&f.frame.meta.camera); // trails stay true meanwhile
            return Ok(());
        }
        let canvas = self.annotator.annotated_copy(f)?;
        self.encode(&canvas)
    }

    fn write_owned(&mut self, f: &mut TrackedFrame) -> Result<()> {
        if !self.segment_for(f)? {
            self.annotator.follow_camera(&f.frame.meta.camera); // trails stay true meanwhile
            return Ok(());
        }
        let (meta, image) = (&f.frame.meta, &mut f.frame.image);
        self.annotator
            .draw_with_scene(image, meta, &f.tracks, &f.scene)?;
        self.encode(image)
    }

    fn finish(&mut self) -> Result<()> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::recording::fixtures::{ffprobe_stream, frame, labels, scratch, track};

    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // Writing order: each segment is finished before the next is written. Names do not sort
        // that way when the wall clock's second turns during the test.
        v.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).unwrap());
        v
    }

    fn is_segment_name(p: &Path) -> bool {
        let name = p.file_name().unwrap().to_string_lossy();
        let parts: Vec<&str> = name.trim_end_matches(".mp4").split('-').collect();
        parts[0] == "video"
            && parts[1].len() == 8
            && parts[2].len() == 6
            && parts[1..3]
                .iter()
                .all(|s| s.bytes().all(|b| b.is_ascii_digit()))
    }

    #[test]
    fn cuts_complete_segments_by_stream_time() {
        let dir = scratch("segments-cut");
        let mut sink = SegmentedVideoSink::new(&dir, "video", 1.0, 10.0, labels(), 10);
        for i in 0..35 {
            let f = frame(i, i as f64 * 100.0, 320, 240, vec![track(1)], vec![]);
            sink.write(&f).unwrap();
        }
        sink.finish().unwrap();
        let files = segments(&dir);
        assert_eq!(files.len(), 4, "{files:?}");
        let counts: Vec<u64> = files.iter().map(|p| ffprobe_stream(p).0).collect();
        // The first frame only starts the clock (the rate is measured from the second on).
        assert_eq!(counts, [10, 10, 10, 4], "{files:?}");
        assert!(files.iter().all(|p| is_segment_name(p)), "{files:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_new_frame_size_starts_a_new_segment() {
        let dir = scratch("segments-resize");
        let mut sink = SegmentedVideoSink::new(&dir, "video", 60.0, 10.0, labels(), 10);
        for i in 0..6 {
            let (w, h) = if i < 3 { (320, 240) } else { (160, 120) };
            let f = frame(i, i as f64 * 100.0, w, h, vec![track(1)], vec![]);
            sink.write(&f).unwrap();
        }
        sink.finish().unwrap();
        let found: Vec<(u64, i32, i32)> =
            segments(&dir).iter().map(|p| ffprobe_stream(p)).collect();
        assert_eq!(
            found,
            [(2, 320, 240), (3, 160, 120)],
            "the first frame starts the clock"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_folder_is_an_error_and_leaves_no_file() {
        let root = scratch("segments-missing");
        let dir = root.join("gone");
        let mut sink = SegmentedVideoSink::new(&dir, "video", 1.0, 10.0, labels(), 10);
        sink.write(&frame(0, 0.0, 320, 240, vec![], vec![]))
            .unwrap();
        let err = sink
            .write(&frame(1, 100.0, 320, 240, vec![], vec![]))
            .unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
        assert!(sink.current_path().is_none());
        sink.finish().unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }
}
