//! MOTChallenge rows, `frame,id,x,y,w,h,score,-1,-1,-1` with frames counted from 1: tracking
//! results (`--mot`), and the raw detections in the det-file format, id -1 (`--dets`), to feed
//! `vigil eval-det` or `vigil track --detections`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{create_output, write_failed, Sink};
use crate::error::Result;
use crate::frame::TrackedFrame;
use crate::geom::BBox;

pub struct MotSink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl MotSink {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            out: create_output(path)?,
        })
    }
}

impl Sink for MotSink {
    fn describe(&self) -> String {
        format!("MOT tracks '{}'", self.path.display())
    }

    fn kind(&self) -> &'static str {
        "mot"
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let rows = f.tracks.iter().map(|t| (t.id as i64, t.bbox, t.score));
        self.write_rows(f.frame.meta.number, rows)
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| write_failed(&self.path, e))
    }
}

impl MotSink {
    fn write_rows(
        &mut self,
        frame_no: u64,
        rows: impl Iterator<Item = (i64, BBox, f32)>,
    ) -> Result<()> {
        for (id, bbox, score) in rows {
            let [x, y, w, h] = bbox.tlwh();
            writeln!(
                self.out,
                "{frame_no},{id},{x:.2},{y:.2},{w:.2},{h:.2},{score:.4},-1,-1,-1"
            )
            .map_err(|e| write_failed(&self.path, e))?;
        }
        // A frame's lines reach the file together, so an abrupt stop never leaves half a line.
        self.out.flush().map_err(|e| write_failed(&self.path, e))
    }
}

/// The detector's boxes of every frame, before tracking, as a MOTChallenge det file.
pub struct DetectionsSink(MotSink);

impl DetectionsSink {
    pub fn create(path: &Path) -> Result<Self> {
        MotSink::create(path).map(Self)
    }
}

impl Sink for DetectionsSink {
    fn describe(&self) -> String {
        format!("MOT detections '{}'", self.0.path.display())
    }

    fn kind(&self) -> &'static str {
        "dets"
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let rows = f.detections.iter().map(|d| (-1, d.bbox, d.score));
        self.0.write_rows(f.frame.meta.number, rows)
    }

    fn finish(&mut self) -> Result<()> {
        self.0.finish()
    }
}
