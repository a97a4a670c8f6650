//! `vigil serve`: many cameras in one process. Each camera has its own reconnecting source,
//! tracker and outputs; one detector pool serves them all; HTTP shows their health, metrics and
//! live previews; MQTT carries their events. Only a bad configuration stops the daemon: a camera
//! that fails is reported and retried while the others keep running.

pub mod config;
pub mod http;
pub mod retention;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::DetectorConfig;
use crate::detect::{DetectionFilter, Labels};
use crate::error::Result;
use crate::metrics::{Metrics, SourceState};
use crate::pipeline::{Control, Pipeline};
use crate::sink::{open_recordings, MqttPublisher, Preview, PreviewSink, Sink};
use crate::source::{self, redact_url, OpenOptions};
use crate::stages::{self, class_ids, DetectorPool};
pub use config::{CameraConfig, ServeConfig};
use http::{CameraView, HttpServer, HttpState};
use retention::{Retention, Watched};

/// How long buffered MQTT messages may take to leave at shutdown.
const MQTT_FLUSH: Duration = Duration::from_secs(2);

/// Runs the daemon until SIGTERM/SIGINT (`control.stop`), or until every camera has ended
/// (only cameras reading files end). Returns the exit code.
pub fn run(config: ServeConfig, control: Arc<Control>) -> Result<i32> {
    let metrics = Metrics::new()?;
    let mut pool = DetectorPool::load(&pool_settings(&config))?;
    // The classes are checked per camera, so that a mistake names the camera's key.
    pool.keep_classes(wanted_classes(&config, &pool.labels)?);
    log_privacy_and_outputs(&config);
    let mqtt = match &config.mqtt {
        Some(m) => Some(MqttPublisher::start(m)?),
        None => None,
    };
    let mut streams = Vec::new();
    let mut views = Vec::new();
    for camera in &config.cameras {
        let camera_metrics = metrics.camera(&camera.name);
        let preview = (camera.enabled && camera.preview).then(Preview::new);
        views.push(CameraView {
            name: camera.name.clone(),
            source: redact_url(&camera.url),
            metrics: camera_metrics.clone(),
            preview: preview.clone(),
        });
        if !camera.enabled {
            camera_metrics.set_state(SourceState::Disabled, None);
            continue;
        }
        let source = source::open(
            &camera.url,
            OpenOptions {
                stream: &camera.source,
                metrics: &camera_metrics,
                stop: &control.stop,
                must_connect_first: false,
            },
        )
        .map_err(|e| e.prefixed(&format!("cameras.{}.url", camera.name)))?;
        let labels = &pool.labels;
        let fps = source.info().fps;
        let mut sinks =
            open_camera_outputs(camera, &config, fps, labels, &camera_metrics, preview)?;
        if let (Some(mqtt), true) = (&mqtt, camera.mqtt) {
            sinks.push(Box::new(mqtt.sink(
                &camera.name,
                labels.clone(),
                camera_metrics.clone(),
            )));
        }
        let filter = DetectionFilter {
            min_score: camera.conf,
            classes: camera_classes(camera, labels)?,
        };
        let mut stream = stages::stream(
            &camera.name,
            source,
            (&camera.tracker, &camera.source, camera.schedule.clone()),
            filter,
            sinks,
            (
                camera_metrics,
                stages::analyzer(
                    &camera.analytics,
                    &camera.tracker,
                    labels,
                    &format!("cameras.{}.analytics", camera.name),
                )?,
            ),
        );
        // Live cameras tell their size once connected; their masks are clipped to it.
        let section = format!("cameras.{}.privacy", camera.name);
        stream.privacy = stages::privacy(
            &camera.privacy,
            labels,
            (&camera.name, &section),
            (0, 0),
            camera.sends_pictures(),
        )?;
        streams.push(stream);
    }
    let state = Arc::new(HttpState {
        metrics: metrics.clone(),
        cameras: views,
        started: Instant::now(),
    });
    let server = HttpServer::start(&config.http, state)?;
    tracing::info!(
        listen = %server.local_addr(),
        cameras = streams.len(),
        "serving: /, /healthz, /metrics, /cameras/NAME/mjpeg"
    );
    let retention = Retention::start(
        config
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| Watched {
                camera: c.name.clone(),
                record: c.record.clone(),
                metrics: metrics.camera(&c.name),
            })
            .collect(),
    );
    let pipeline = Pipeline {
        streams,
        detectors: pool.detectors,
        metrics: metrics.clone(),
        report_failures: true,
        cpu_target: config.defaults.detector.cpu_target,
    };
    let outcomes = pipeline.run(control.clone());
    drop(retention);
    if let Some(mqtt) = &mqtt {
        mqtt.shutdown(MQTT_FLUSH);
    }
    server.stop();
    for outcome in outcomes? {
        if let Some(e) = outcome.error {
            tracing::error!(camera = %outcome.summary.name, "camera stopped: {e}");
        }
    }
    tracing::info!(
        stopped = control.stop.load(Ordering::Relaxed),
        "vigil serve finished"
    );
    Ok(0)
}

/// The shared pool detects what any camera wants: the lowest score any camera keeps, and (once
/// loaded, when the model's class names are known: `wanted_classes`) the union of their
/// classes. Each camera then filters its own.
fn pool_settings(config: &ServeConfig) -> DetectorConfig {
    let mut detector = config.defaults.detector.clone();
    let enabled = config.cameras.iter().filter(|c| c.enabled);
    detector.conf = enabled.map(|c| c.conf).fold(detector.conf, f32::min);
    detector.classes = Vec::new();
    detector
}

/// The classes some enabled camera keeps (`None`: one keeps all), each camera's checked
/// against the model's names.
fn wanted_classes(config: &ServeConfig, labels: &Labels) -> Result<Option<Vec<usize>>> {
    let mut all = Vec::new();
    for camera in config.cameras.iter().filter(|c| c.enabled) {
        match camera_classes(camera, labels)? {
            Some(ids) => all.extend(ids),
            None => return Ok(None),
        }
    }
    all.sort_unstable();
    all.dedup();
    Ok((!all.is_empty()).then_some(all)) // no camera enabled: nothing to narrow down
}

/// The class ids one camera keeps (`None`: all); an unknown name is reported with its key.
fn camera_classes(camera: &CameraConfig, labels: &Labels) -> Result<Option<Vec<usize>>> {
    class_ids(labels, &camera.classes)
        .map_err(|e| e.prefixed(&format!("cameras.{}.classes", camera.name)))
}

/// A camera's recordings (each retried on failure by itself) and its live preview.
fn open_camera_outputs(
    camera: &CameraConfig,
    config: &ServeConfig,
    fps: f64,
    labels: &Arc<Labels>,
    metrics: &crate::metrics::CameraMetrics,
    preview: Option<Arc<Preview>>,
) -> Result<Vec<Box<dyn Sink>>> {
    let trail = camera.output.trail_length;
    let mut sinks = open_recordings(
        &camera.name,
        &camera.record,
        fps,
        labels.clone(),
        trail,
        metrics,
    )
    .map_err(|e| e.prefixed(&format!("cameras.{}.record", camera.name)))?;
    if let Some(preview) = preview {
        sinks.push(Box::new(PreviewSink::new(
            preview,
            labels.clone(),
            trail,
            config.http.preview_fps,
            config.http.preview_width,
        )));
    }
    Ok(sinks)
}

/// One line per camera at start: what leaves the process for it, so an operator sees at a
/// glance whether images are recorded or served.
fn log_privacy_and_outputs(config: &ServeConfig) {
    for c in &config.cameras {
        if !c.enabled {
            tracing::info!(camera = %c.name, "disabled");
            continue;
        }
        let r = &c.record;
        tracing::info!(
            camera = %c.name,
            source = %redact_url(&c.url),
            json = r.json,
            video = r.video,
            snapshots = r.snapshots,
            preview = c.preview,
            mqtt = c.mqtt && config.mqtt.is_some(),
            retain_days = r.retain_days,
            min_free_mb = r.min_free_mb,
            "camera outputs"
        );
    }
}
