//! The one place that builds pipeline stages from a configuration: the detector pool, the
//! streams and their outputs. `track`, `bench` and `serve` all assemble their runs here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::analytics::{AnalyticsConfig, Analyzer};
use crate::config::{DetectorConfig, OutputConfig};
use crate::detect::{locate_asset, DetectionFilter, Detector, DetectorSettings, Labels};
use crate::error::{Error, Result};
use crate::metrics::CameraMetrics;
use crate::pipeline::{Schedule, Stream};
use crate::privacy::{Privacy, PrivacyConfig};
use crate::sink::{Sink, VideoSink};
use crate::source::{FrameSource, SourceInfo, StreamOptions};
use crate::track::{Tracker, TrackerConfig};

/// The detector workers every stream shares, and the class names of their model.
pub struct DetectorPool {
    pub detectors: Vec<Detector>,
    pub labels: Arc<Labels>,
}

impl DetectorPool {
    /// Keeps only these class ids from now on (`None`: every class).
    pub fn keep_classes(&mut self, classes: Option<Vec<usize>>) {
        for detector in &mut self.detectors {
            detector.keep_classes(classes.clone());
        }
    }

    /// Loads one detector per worker as `[detector]` asks.
    pub fn load(config: &DetectorConfig) -> Result<Self> {
        let model = default_asset(&config.model, "models/yolox_nano.onnx", "--model")?;
        let (workers, threads) = config.worker_layout();
        let settings = DetectorSettings {
            model,
            device: config.device,
            conf: config.conf,
            iou: config.iou,
            classes: None,
            threads,
            family: config.family,
            max_objects: config.max_objects,
            tiles: config.tiles,
            batch: config.batch,
            batch_wait: std::time::Duration::from_secs_f64(config.batch_wait_ms / 1000.0),
            session: Default::default(),
        };
        let mut detectors = (0..workers)
            .map(|_| Detector::load(&settings))
            .collect::<Result<Vec<_>>>()?;
        let labels = labels_for(config, &detectors[0], &settings.model)?;
        let classes = class_ids(&labels, &config.classes)
            .map_err(|e| e.prefixed("--classes (detector.classes)"))?;
        let person = config
            .complete_cut_people
            .then(|| labels.id_of("person").ok())
            .flatten();
        for detector in &mut detectors {
            detector.keep_classes(classes.clone());
            detector.complete_cut_people(person);
        }
        let family = detectors[0].family().name();
        if let Some(why) = detectors[0].passed_over() {
            tracing::info!("--device {}: {why}", settings.device.name());
        }
        tracing::info!(model = %settings.model.display(), family, workers, threads, device = detectors[0].device().name(), "detector ready");
        if settings.batch > 1 {
            tracing::info!(
                "detector: up to {} frames a run, the first waiting at most {} ms for the others",
                settings.batch,
                config.batch_wait_ms
            );
        }
        Ok(Self {
            detectors,
            labels: Arc::new(labels),
        })
    }
}

/// The class names: the labels file given (its count must fit the model's); else the names the
/// model carries; else the project's `coco.names` when its count fits; else numbered names.
fn labels_for(config: &DetectorConfig, detector: &Detector, model: &Path) -> Result<Labels> {
    let in_model = detector.num_classes();
    let fits = |labels: &Labels| in_model.is_none_or(|n| n == labels.len());
    if let Some(path) = &config.labels {
        let labels = Labels::load(path)?;
        if !fits(&labels) {
            return Err(Error::input(format!(
                "labels file '{}' has {} names but model '{}' predicts {} classes",
                path.display(),
                labels.len(),
                model.display(),
                in_model.unwrap_or(0)
            )));
        }
        return Ok(labels);
    }
    if let Some(names) = detector.class_names() {
        return Ok(Labels::from_names(names.to_vec()));
    }
    if let Some(coco) = locate_asset(Path::new("models/coco.names")) {
        let labels = Labels::load(&coco)?;
        if fits(&labels) {
            return Ok(labels);
        }
    }
    // Said once: otherwise the first sign is a class name refused, or outputs saying "class0".
    tracing::warn!(
        model = %model.display(),
        "no class names (the model has none, and models/coco.names is not beside vigil or here, or does not fit): classes are class0, class1, …; give detector.labels or --labels"
    );
    Ok(Labels::numbered(in_model.unwrap_or(0)))
}

/// Class ids for names; an empty list keeps every class (`None`).
pub fn class_ids(labels: &Labels, names: &[String]) -> Result<Option<Vec<usize>>> {
    if names.is_empty() {
        return Ok(None);
    }
    Ok(Some(labels.ids_of(&names.join(","))?))
}

fn default_asset(given: &Option<PathBuf>, default: &str, flag: &str) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p.clone()),
        None => locate_asset(Path::new(default)).ok_or_else(|| {
            Error::input(format!(
                "{default} not found: run scripts/bootstrap.sh or pass {flag}"
            ))
        }),
    }
}

/// The annotated video for a source, with the configured drawing options.
pub fn annotated_video(
    path: &Path,
    info: &SourceInfo,
    output: &OutputConfig,
    labels: &Arc<Labels>,
) -> Result<VideoSink> {
    VideoSink::create(
        path,
        info.width,
        info.height,
        info.fps,
        labels.clone(),
        output.trail_length,
    )
}

/// A stream with its own tracker, reading `source` as `[source]` says (its fps cap), keeping
/// what `filter` keeps of the shared detectors' output, on the frames `schedule` gives them.
pub fn stream(
    name: &str,
    source: Box<dyn FrameSource>,
    (tracker, reading, schedule): (&TrackerConfig, &StreamOptions, Schedule),
    filter: DetectionFilter,
    sinks: Vec<Box<dyn Sink>>,
    (metrics, analyzer): (CameraMetrics, Analyzer),
) -> Stream {
    let fps = source.info().fps;
    Stream {
        name: name.to_string(),
        source,
        tracker: Tracker::new(tracker.clone(), fps),
        filter,
        sinks,
        max_frames: None,
        max_fps: reading.max_fps,
        metrics,
        analyzer,
        privacy: Privacy::default(),
        schedule,
    }
}

/// A stream's privacy filter; `section` is where `privacy` sits in the configuration
/// (`privacy`, `cameras.NAME.privacy`), for errors and the log line that says what it hides.
/// `pictures_out`: whether any output of the stream sends pictures out at all.
pub fn privacy(
    config: &PrivacyConfig,
    labels: &Labels,
    (camera, section): (&str, &str),
    (width, height): (i32, i32),
    pictures_out: bool,
) -> Result<Privacy> {
    if config.metadata_only && pictures_out {
        return Err(Error::input(format!(
            "config: {section}.metadata_only = true, yet a picture output is asked for (annotated video, preview or snapshots): drop one of the two"
        )));
    }
    let privacy = Privacy::new(config, labels, section)?;
    if width > 0 && height > 0 {
        privacy.check_frame(width, height, section)?;
    }
    if pictures_out {
        tracing::info!(camera, "privacy: {}", privacy.describe(labels));
    } else {
        tracing::info!(camera, "privacy: metadata only, no picture leaves");
    }
    Ok(privacy)
}

/// A stream's lines, zones and lifecycle events. `section` is where `analytics` sits in the
/// configuration (`analytics`, `cameras.NAME.analytics`), for errors.
pub fn analyzer(
    analytics: &AnalyticsConfig,
    tracker: &TrackerConfig,
    labels: &Labels,
    section: &str,
) -> Result<Analyzer> {
    // A track is over once the tracker can no longer re-find it.
    Analyzer::new(analytics, labels, tracker.lost_timeout_s, section)
        .map_err(|e| Error::input(format!("config: {e}")))
}
