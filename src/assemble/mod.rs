//! The one place that turns configuration into running parts. A camera (or an input of
//! `vigil track` / `vigil bench`) is described by one [`CameraSpec`], built from config or
//! flags; [`CameraSpec::build`] opens its source, tracker, privacy filter, analytics and every
//! output ([`OutputsSpec::open`], the one function that opens outputs) into a pipeline
//! [`Stream`](crate::pipeline::Stream); the shared [`Detectors`] start the pool streams run on.
//! `track`, `bench` and `serve` only build specs and report.
//!
//! A new output kind is added in `outputs.rs` (a field of `OutputsSpec` and one arm of
//! `open`); a new source kind behind `source::open`.

mod outputs;
mod services;
mod spec;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::DetectorConfig;
use crate::detect::{locate_asset, Detector, DetectorSettings, Labels, TileCheck};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::pipeline::{Pool, Stream};
use crate::source::SourceInfo;
pub use outputs::{OutputsSpec, PreviewSpec};
pub use services::{CameraHandles, Services};
pub use spec::CameraSpec;

/// A run of fixed cameras (`track`, `bench`), ready to go: the pool started, every camera's
/// stream built (its source open, its outputs created).
pub struct Prepared {
    pub pool: Pool,
    pub streams: Vec<Stream>,
    pub infos: Vec<SourceInfo>,
    pub labels: Arc<Labels>,
    pub metrics: Arc<Metrics>,
}

/// Loads the detectors, builds every camera (each stopped by `stop`), then starts the pool: a
/// bad input or output fails before any worker starts.
pub fn prepare(
    detector: &DetectorConfig,
    specs: &[CameraSpec],
    stop: &Arc<AtomicBool>,
) -> Result<Prepared> {
    let detectors = Detectors::load(detector)?;
    let metrics = Metrics::new()?;
    let services = Services {
        labels: detectors.labels.clone(),
        registry: metrics.clone(),
        tiles: detectors.tile_check(),
        mqtt: None,
        events: None,
        journal: None,
    };
    let (mut streams, mut infos) = (Vec::new(), Vec::new());
    for spec in specs {
        let handles = CameraHandles {
            metrics: metrics.camera(&spec.name),
            stop: stop.clone(),
            preview: None,
        };
        let (stream, info) = spec.build(&services, &handles)?;
        streams.push(stream);
        infos.push(info);
    }
    let pool = detectors.start(metrics.clone(), detector.cpu_target, false)?;
    Ok(Prepared {
        pool,
        streams,
        infos,
        labels: services.labels,
        metrics,
    })
}

/// The detectors every stream shares, loaded, and the class names of their model.
pub struct Detectors {
    pub detectors: Vec<Detector>,
    pub labels: Arc<Labels>,
}

impl Detectors {
    /// Keeps only these class ids from now on (`None`: every class).
    pub fn keep_classes(&mut self, classes: Option<Vec<usize>>) {
        for detector in &mut self.detectors {
            detector.keep_classes(classes.clone());
        }
    }

    /// How frame sizes are checked against the detectors' tiling.
    pub fn tile_check(&self) -> TileCheck {
        self.detectors[0].tile_check()
    }

    /// Starts the workers. `cpu_target`: the adaptive budget (0: off); `report_failures`: the
    /// daemon marks a failed camera as it happens.
    pub fn start(
        self,
        registry: Arc<Metrics>,
        cpu_target: f64,
        report_failures: bool,
    ) -> Result<Pool> {
        Pool::start(self.detectors, registry, cpu_target, report_failures)
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
