//! Annotated video: frames with their tracks drawn, encoded by FFmpeg (`encoder.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

use super::encoder::Encoder;
use super::{write_failed, Annotator, Sink};
use crate::error::{Context, Error, Result};
use crate::frame::TrackedFrame;
use crate::labels::Labels;

pub struct VideoSink {
    path: PathBuf,
    writer: Encoder,
    annotator: Annotator,
    size: Size,
    resize_reported: bool,
}

/// Whether the container is AVI (whose players expect the MPEG-4 stream tagged XVID); other
/// extensions than .mp4, .mov, .mkv and .avi are refused.
fn is_avi(path: &Path) -> Result<bool> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "mp4" | "mov" | "mkv" => Ok(false),
        "avi" => Ok(true),
        _ => Err(Error::input(format!(
            "cannot write '{}': unknown video extension (use .mp4, .avi or .mkv)",
            path.display()
        ))),
    }
}

impl VideoSink {
    pub fn create(
        path: &Path,
        width: i32,
        height: i32,
        fps: f64,
        labels: Arc<Labels>,
        trail_len: usize,
    ) -> Result<Self> {
        let avi = is_avi(path)?;
        // Creating the file first turns a bad folder or permission into the OS's own message.
        std::fs::File::create(path)
            .map_err(|e| Error::input(format!("cannot write '{}': {e}", path.display())))?;
        let size = Size::new(width, height);
        let writer = Encoder::open(path, (width, height), fps, avi)
            .map_err(|e| Error::input(format!("cannot write '{}': {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            annotator: Annotator::new(labels, trail_len),
            size,
            resize_reported: false,
        })
    }
}

impl VideoSink {
    /// A copy of the frame with its tracks drawn, at the video's size: a live camera that comes
    /// back at another resolution is scaled to the size the file was opened with.
    pub fn annotate(&mut self, f: &TrackedFrame) -> Result<Mat> {
        let canvas = self.annotator.annotated_copy(f)?;
        match self.scaled(&canvas)? {
            Some(scaled) => Ok(scaled),
            None => Ok(canvas),
        }
    }

    /// Encodes a drawn picture, scaled to the video's size if it has another.
    fn encode_fitted(&mut self, canvas: &Mat) -> Result<()> {
        match self.scaled(canvas)? {
            Some(scaled) => self.encode(&scaled),
            None => self.encode(canvas),
        }
    }

    /// The picture at the video's size, or `None` when it has that size already.
    fn scaled(&mut self, canvas: &Mat) -> Result<Option<Mat>> {
        let size = canvas.size().internal_err(|| "frame size".into())?;
        if size == self.size {
            return Ok(None);
        }
        if !self.resize_reported {
            self.resize_reported = true;
            tracing::warn!(
                video = %self.path.display(),
                "frames are now {}x{}, the video was opened at {}x{}: scaling them",
                size.width, size.height, self.size.width, self.size.height
            );
        }
        let mut scaled = Mat::default();
        imgproc::resize(
            canvas,
            &mut scaled,
            self.size,
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )
        .internal_err(|| "scale frame".into())?;
        Ok(Some(scaled))
    }

    pub fn encode(&mut self, image: &Mat) -> Result<()> {
        self.writer
            .write(image)
            .map_err(|e| write_failed(&self.path, e))
    }
}

impl Sink for VideoSink {
    fn describe(&self) -> String {
        format!("annotated video '{}'", self.path.display())
    }

    fn kind(&self) -> &'static str {
        "video"
    }

    fn needs_image(&self) -> bool {
        true
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let canvas = self.annotator.annotated_copy(f)?;
        self.encode_fitted(&canvas)
    }

    fn write_owned(&mut self, f: &mut TrackedFrame) -> Result<()> {
        let (meta, image) = (&f.frame.meta, &mut f.frame.image);
        self.annotator
            .draw_with_scene(image, meta, &f.tracks, &f.scene)?;
        self.encode_fitted(image)
    }

    fn finish(&mut self) -> Result<()> {
        self.writer.close().map_err(|e| write_failed(&self.path, e))
    }
}
