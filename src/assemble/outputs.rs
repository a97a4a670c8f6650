//! Every kind of output a camera can have, opened in one place.

use std::path::{Path, PathBuf};

use super::services::{CameraHandles, Services};
use crate::config::OutputConfig;
use crate::error::Result;
use crate::sink::{
    claim_outputs, open_recordings, DetectionsSink, EventLogSink, JetStreamSink, JsonLinesSink,
    MotSink, PreviewSink, RecordConfig, Sink, Stamp, VideoSink,
};
use crate::source::SourceInfo;

/// Where a camera's results go.
#[derive(Clone, Debug, Default)]
pub struct OutputsSpec {
    /// The annotated video (`-o`).
    pub video: Option<PathBuf>,
    /// MOTChallenge tracks (`--mot`).
    pub mot: Option<PathBuf>,
    /// JSON Lines of tracks and events (`--json`).
    pub json: Option<PathBuf>,
    /// What the detector found, MOT detection format (`--dets`).
    pub dets: Option<PathBuf>,
    /// Files the run reads, which no output may overwrite.
    pub inputs: Vec<PathBuf>,
    /// The daemon's recordings (`[record]`): JSON Lines, video segments, snapshots, each
    /// retried on failure by itself.
    pub record: Option<RecordConfig>,
    /// The live preview behind `/cameras/NAME/mjpeg`.
    pub preview: Option<PreviewSpec>,
    /// Events and tracks over the process's MQTT connection.
    pub mqtt: bool,
    /// Recent events for `/api/events`.
    pub event_log: bool,
    /// The site's durable event log, with what this owner stamps on the camera's events.
    pub journal: Option<Stamp>,
    /// How pictures are drawn.
    pub draw: OutputConfig,
}

/// How often and how large the live preview is.
#[derive(Clone, Copy, Debug)]
pub struct PreviewSpec {
    pub fps: f64,
    pub width: i32,
}

impl OutputsSpec {
    /// Whether any output sends pictures (video, snapshots, preview).
    pub fn sends_pictures(&self) -> bool {
        let recorded = self.record.as_ref().is_some_and(|r| r.video || r.snapshots);
        self.video.is_some() || self.preview.is_some() || recorded
    }

    /// The files asked for, by the option that names each.
    fn files(&self) -> Vec<(&'static str, &Path)> {
        [
            ("-o", &self.video),
            ("--mot", &self.mot),
            ("--json", &self.json),
            ("--dets", &self.dets),
        ]
        .into_iter()
        .filter_map(|(option, path)| Some((option, path.as_deref()?)))
        .collect()
    }

    /// Whether the spec writes anything at all.
    pub fn is_empty(&self) -> bool {
        self.files().is_empty()
            && self.record.is_none()
            && self.preview.is_none()
            && !self.mqtt
            && !self.event_log
    }

    /// Opens every output of camera `name` (`record_key`: where its `record` section sits, for
    /// errors); an unwritable path fails here, before any frame is read.
    pub fn open(
        &self,
        (name, record_key): (&str, &str),
        info: &SourceInfo,
        cx: &Services,
        handles: &CameraHandles,
    ) -> Result<Vec<Box<dyn Sink>>> {
        let inputs: Vec<&Path> = self.inputs.iter().map(PathBuf::as_path).collect();
        claim_outputs(&self.files(), &inputs)?;
        let (labels, trail) = (&cx.labels, self.draw.trail_length);
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(path) = &self.video {
            let (w, h, fps) = (info.width, info.height, info.fps);
            sinks.push(Box::new(VideoSink::create(
                path,
                w,
                h,
                fps,
                labels.clone(),
                trail,
            )?));
        }
        if let Some(path) = &self.mot {
            sinks.push(Box::new(MotSink::create(path)?));
        }
        if let Some(path) = &self.json {
            sinks.push(Box::new(JsonLinesSink::create(path, labels.clone())?));
        }
        if let Some(path) = &self.dets {
            sinks.push(Box::new(DetectionsSink::create(path)?));
        }
        if let Some(record) = &self.record {
            let recordings = open_recordings(
                name,
                record,
                info.fps,
                labels.clone(),
                trail,
                &handles.metrics,
            )
            .map_err(|e| e.prefixed(record_key))?;
            sinks.extend(recordings);
        }
        if let (Some(spec), Some(preview)) = (&self.preview, &handles.preview) {
            sinks.push(Box::new(PreviewSink::new(
                preview.clone(),
                labels.clone(),
                trail,
                spec.fps,
                spec.width,
            )));
        }
        if let (true, Some(mqtt)) = (self.mqtt, &cx.mqtt) {
            let metrics = handles.metrics.clone();
            sinks.push(Box::new(mqtt.sink(name, labels.clone(), metrics)));
        }
        if let (true, Some(log)) = (self.event_log, &cx.events) {
            sinks.push(Box::new(EventLogSink::new(
                log.clone(),
                name,
                labels.clone(),
            )));
        }
        if let (Some(stamp), Some(store)) = (&self.journal, &cx.journal) {
            let stamp = stamp.clone();
            sinks.push(Box::new(JetStreamSink::new(
                store.clone(),
                name,
                labels.clone(),
                stamp,
            )));
        }
        Ok(sinks)
    }
}
