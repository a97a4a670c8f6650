//! JSON Lines: one object per frame with its tracks, velocities and forecasts.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::payload::{round_ms, EventRecord, TrackRecord};
use super::{create_output, write_failed, Sink};
use crate::detect::Labels;
use crate::error::Result;
use crate::frame::TrackedFrame;

pub struct JsonLinesSink {
    path: PathBuf,
    out: BufWriter<File>,
    labels: Arc<Labels>,
}

#[derive(Serialize)]
struct FrameRecord<'a> {
    frame: u64,
    pts_ms: f64,
    tracks: Vec<TrackRecord<'a>>,
    /// Only on frames where something happened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<EventRecord<'a>>,
}

impl JsonLinesSink {
    pub fn create(path: &Path, labels: Arc<Labels>) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            out: create_output(path)?,
            labels,
        })
    }
}

impl Sink for JsonLinesSink {
    fn describe(&self) -> String {
        format!("JSON Lines '{}'", self.path.display())
    }

    fn kind(&self) -> &'static str {
        "jsonl"
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let record = FrameRecord {
            frame: f.frame.meta.number,
            pts_ms: round_ms(f.frame.meta.pts_ms),
            tracks: f
                .tracks
                .iter()
                .map(|t| TrackRecord::new(t, &self.labels))
                .collect(),
            events: f
                .events
                .iter()
                .map(|e| EventRecord::new(e, &self.labels, None))
                .collect(),
        };
        serde_json::to_writer(&mut self.out, &record).map_err(|e| write_failed(&self.path, e))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| write_failed(&self.path, e))?;
        self.out.flush().map_err(|e| write_failed(&self.path, e))
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| write_failed(&self.path, e))
    }
}
