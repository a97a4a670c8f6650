//! MOTChallenge tracking results: `frame,id,x,y,w,h,score,-1,-1,-1`, frames counted from 1.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{create_output, write_failed, Sink};
use crate::error::Result;
use crate::frame::TrackedFrame;

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
        let frame_no = f.frame.meta.number;
        for t in &f.tracks {
            let [x, y, w, h] = t.bbox.tlwh();
            writeln!(
                self.out,
                "{frame_no},{},{x:.2},{y:.2},{w:.2},{h:.2},{:.4},-1,-1,-1",
                t.id, t.score
            )
            .map_err(|e| write_failed(&self.path, e))?;
        }
        // A frame's lines reach the file together, so an abrupt stop never leaves half a line.
        self.out.flush().map_err(|e| write_failed(&self.path, e))
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| write_failed(&self.path, e))
    }
}
