//! `vigil serve`: many cameras in one process. Each camera has its own reconnecting source,
//! tracker and outputs; one detector pool serves them all; HTTP shows their health, metrics and
//! live previews and takes cameras added, changed and removed while the others run; MQTT
//! carries their events. Only a bad configuration at start stops the daemon: a camera that
//! fails is reported and retried while the others keep running, and a bad change (API, reload)
//! is refused with the running cameras kept.
//!
//! Rooms: `config` (the file), `supervisor` (the running cameras, changed one command at a
//! time), `state` (the API's changes kept for a restart), `signals` (SIGHUP reloads, SIGTERM/SIGINT stop), `http` (the
//! endpoints and the REST API), `retention` (old recordings deleted).

pub mod config;
pub mod http;
pub mod retention;
mod signals;
mod state;
mod supervisor;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::assemble::{class_ids, Detectors, Services};
use crate::cluster::{self, ClusterConfig, Coordinator, FenceGuard, Order, Registry};
use crate::comms::jetstream::EventStore;
use crate::config::DetectorConfig;
use crate::detect::Labels;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::pipeline::Control;
use crate::sink::{EventLog, MqttPublisher};
pub use config::{CameraConfig, ServeConfig};
use http::{HttpServer, HttpState};
use state::ApiState;
pub use supervisor::Command;
use supervisor::{ClusterLink, Supervisor};

/// How long buffered MQTT messages may take to leave at shutdown.
const MQTT_FLUSH: Duration = Duration::from_secs(2);
/// How often the daemon looks at its stop flag and its cameras between commands.
const TICK: Duration = Duration::from_millis(200);

/// Runs the daemon until SIGTERM/SIGINT (`control.stop`), or until every camera has ended
/// (only cameras reading files end). Returns the exit code.
pub fn run(config: ServeConfig, config_path: &Path, control: Arc<Control>) -> Result<i32> {
    let (commands, inbox) = crossbeam_channel::unbounded();
    // The cluster's coordinator orders on a channel of its own (cluster mode only).
    let (orders_tx, orders) = crossbeam_channel::unbounded::<Order>();
    signals::listen(commands.clone(), control.clone())?;
    let metrics = Metrics::new()?;
    let settings = pool_settings(&config);
    let mut detectors = Detectors::load(&settings)?;
    // The classes are checked per camera, so that a mistake names the camera's key.
    let classes = wanted_classes(&config, &detectors.labels)?;
    detectors.keep_classes(classes.clone());
    let state = ApiState::load(&state::path_beside(config_path))?;
    let mqtt = match &config.mqtt {
        Some(m) => Some(MqttPublisher::start(m)?),
        None => None,
    };
    let guard = FenceGuard::default();
    let site = match &config.cluster {
        Some(c) => Some(join_site(&config, c, &guard)?),
        None => None,
    };
    let services = Services {
        labels: detectors.labels.clone(),
        registry: metrics.clone(),
        tiles: detectors.tile_check(),
        mqtt: mqtt.clone(),
        events: Some(EventLog::new(config.http.events_per_camera)),
        journal: site.as_ref().and_then(|(_, j)| j.clone()),
    };
    let seeds = config.written_json();
    let cluster_config = config.cluster.clone();
    let pool = detectors.start(metrics.clone(), config.defaults.detector.cpu_target, true)?;
    let http_config = config.http.clone();
    let mut supervisor = Supervisor::new(
        (config, config_path.to_path_buf()),
        state,
        services,
        pool,
        control.clone(),
        (classes, settings.conf),
    );
    let coordinator = match (site, cluster_config) {
        (Some((registry, journal)), Some(c)) => {
            let instance = c.instance.clone();
            let coordinator = Coordinator::join(
                registry.clone(),
                c,
                &seeds,
                (orders_tx.clone(), journal, guard),
            );
            let coordinator = match coordinator {
                Ok(c) => c,
                Err(e) => {
                    let _ = supervisor.shutdown();
                    return Err(e);
                }
            };
            supervisor.join_cluster(ClusterLink {
                registry,
                view: coordinator.view(),
                instance,
            });
            Some(coordinator)
        }
        _ => None,
    };
    if let Err(e) = supervisor.start_all() {
        let _ = supervisor.shutdown();
        return Err(Error::input(e));
    }
    let state = Arc::new(HttpState {
        metrics: metrics.clone(),
        started: Instant::now(),
        cameras: Arc::new(supervisor.handle(commands.clone())),
    });
    let server = match HttpServer::start(&http_config, state) {
        Ok(s) => s,
        Err(e) => {
            let _ = supervisor.shutdown();
            return Err(e);
        }
    };
    let cluster_stop = Arc::new(AtomicBool::new(false));
    let coordinator = coordinator
        .map(|c| cluster::spawn(c, cluster_stop.clone()))
        .transpose()?;
    tracing::info!(
        listen = %server.local_addr(),
        "serving: /, /healthz, /metrics, /cameras/NAME/mjpeg, /api/cameras, /api/events, /api/stats"
    );
    drop(orders_tx);
    // Without a coordinator nobody orders: a channel that never delivers, not one that says
    // "disconnected" at every turn of the loop.
    let orders = if coordinator.is_some() {
        orders
    } else {
        crossbeam_channel::never()
    };
    while !control.stop.load(Ordering::Relaxed) && !supervisor.all_ended() {
        crossbeam_channel::select! {
            recv(inbox) -> command => if let Ok(command) = command {
                supervisor.obey(command);
            },
            recv(orders) -> order => if let Ok(order) = order {
                supervisor.obey_order(order);
            },
            default(TICK) => {}
        }
    }
    drop(inbox); // API calls still waiting are answered "stopping"
                 // Cluster mode: the coordinator drains this instance first, each camera handed over to a
                 // peer with room as in a planned move (its tracks go on there); its orders are obeyed
                 // until it is done and has given the lease up.
    cluster_stop.store(true, Ordering::Relaxed);
    if let Some(thread) = coordinator {
        while !thread.is_finished() {
            if let Ok(order) = orders.recv_timeout(TICK) {
                supervisor.obey_order(order);
            }
        }
        let _ = thread.join();
    }
    let result = supervisor.shutdown();
    if let Some(mqtt) = &mqtt {
        mqtt.shutdown(MQTT_FLUSH);
    }
    server.stop();
    result?;
    tracing::info!(
        stopped = control.stop.load(Ordering::Relaxed),
        "vigil serve finished"
    );
    Ok(0)
}

/// Cluster mode: the site's etcd (waiting `wait_s` for it), and its event log when `[nats]`
/// is configured.
fn join_site(
    config: &ServeConfig,
    cluster: &ClusterConfig,
    guard: &FenceGuard,
) -> Result<(Arc<Registry>, Option<Arc<EventStore>>)> {
    let wait = Duration::from_secs_f64(cluster.wait_s);
    let registry = Arc::new(Registry::connect(&cluster.etcd, &cluster.site, wait)?);
    let journal = config
        .nats
        .as_ref()
        .map(|n| EventStore::start(n, &cluster.site, guard.clone()))
        .transpose()?;
    tracing::info!(site = %cluster.site, instance = %cluster.instance, capacity = cluster.capacity, "cluster: joined the site's etcd");
    Ok((registry, journal))
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
        let ids = class_ids(labels, &camera.classes)
            .map_err(|e| e.prefixed(&format!("cameras.{}.classes", camera.name)))?;
        match ids {
            Some(ids) => all.extend(ids),
            None => return Ok(None),
        }
    }
    all.sort_unstable();
    all.dedup();
    Ok((!all.is_empty()).then_some(all)) // no camera enabled: nothing to narrow down
}
