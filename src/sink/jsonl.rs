//! JSON Lines: one object per frame with its tracks, velocities and forecasts.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::{create_output, write_failed, Sink};
use crate::detect::Labels;
use crate::error::Result;
use crate::frame::{Prediction, TrackedFrame};

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
}

#[derive(Serialize)]
struct TrackRecord<'a> {
    id: u64,
    class: &'a str,
    score: f32,
    bbox: [f32; 4],
    velocity: [f32; 2],
    predicted: Vec<PredictionRecord>,
}

#[derive(Serialize)]
struct PredictionRecord {
    dt_s: f32,
    bbox: [f32; 4],
    cov_xy: [f32; 3],
}

impl From<&Prediction> for PredictionRecord {
    fn from(p: &Prediction) -> Self {
        Self {
            dt_s: p.dt_s,
            bbox: p.bbox.tlwh(),
            cov_xy: p.cov_xy,
        }
    }
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
            pts_ms: (f.frame.meta.pts_ms * 1000.0).round() / 1000.0,
            tracks: f
                .tracks
                .iter()
                .map(|t| TrackRecord {
                    id: t.id,
                    class: self.labels.name(t.class_id),
                    score: t.score,
                    bbox: t.bbox.tlwh(),
                    velocity: t.velocity,
                    predicted: t.predicted.iter().map(PredictionRecord::from).collect(),
                })
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
