//! The daemon's running cameras. One thread (the daemon's main one) owns them and changes
//! them, one command at a time: cameras added, replaced or removed through the REST API, the
//! file's cameras after a reload, and the end of the daemon. Each camera starts and stops
//! alone; the others, and the shared detector pool, run on untouched.
//!
//! ```text
//!  PUT ─┐                      ┌─ build(spec) ─▶ attach to the pool ─▶ running
//!  DELETE ─┼─▶ commands ─▶ supervisor ┤
//!  SIGHUP ─┘   (a channel)     └─ remove: stop capture ─▶ drain ─▶ tracks end (`removed`)
//!                                        ─▶ outputs finalised ─▶ threads joined
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};

use super::config::{CameraConfig, ServeConfig};
use super::http::{ApiError, Applied, CameraView, Cameras, EventQuery};
use super::retention::{Retention, Watched};
use super::state::ApiState;
use crate::assemble::{class_ids, CameraHandles, Services};
use crate::cluster::{Handover, Order, Registry, Takeover};
use crate::error::Result;
use crate::metrics::SourceState;
use crate::pipeline::{Control, Pool, PoolGauge, RunningStream};
use crate::sink::{EventFilter, EventLog, Preview, Stamp};
use crate::source::redact_url;

/// How long an API call waits for the supervisor (a camera being removed drains first).
const REPLY_WITHIN: Duration = Duration::from_secs(120);

/// What the supervisor is asked to do.
pub enum Command {
    Put {
        name: String,
        section: serde_json::Value,
        reply: Sender<std::result::Result<Applied, ApiError>>,
    },
    Delete {
        name: String,
        reply: Sender<std::result::Result<(), ApiError>>,
    },
    /// SIGHUP: read the config file again.
    Reload,
    /// `POST /api/cameras/NAME/move?to=INSTANCE`.
    Move {
        name: String,
        to: String,
        reply: Sender<std::result::Result<(), ApiError>>,
    },
}

/// Cluster mode: where the site's cameras live, and what `/api/cluster` shows.
pub struct ClusterLink {
    pub registry: Arc<Registry>,
    pub view: Arc<RwLock<serde_json::Value>>,
    pub instance: String,
}

/// One configured camera.
struct Camera {
    config: CameraConfig,
    handles: CameraHandles,
    /// `None` while disabled.
    running: Option<RunningStream>,
    /// What it was built from, to tell at a reload whether the file changed it.
    fingerprint: String,
}

/// The cameras, the pool they share and what every camera is built with.
pub struct Supervisor {
    /// The config file as last read, and where it is.
    config: ServeConfig,
    config_path: PathBuf,
    state: ApiState,
    services: Services,
    pool: Pool,
    control: Arc<Control>,
    cameras: BTreeMap<String, Camera>,
    /// What HTTP shows, republished after every change.
    views: Arc<RwLock<Vec<CameraView>>>,
    retention: Option<Retention>,
    /// What the pool detects: every camera's classes and score must be within it.
    pool_classes: Option<Vec<usize>>,
    pool_conf: f32,
    /// Cluster mode: cameras come from the coordinator (`Own`), changes go to etcd.
    cluster: Option<ClusterLink>,
}

/// HTTP's side: commands out, what the supervisor publishes in.
pub struct SupervisorHandle {
    commands: Sender<Command>,
    views: Arc<RwLock<Vec<CameraView>>>,
    events: Arc<EventLog>,
    stats: PoolGauge,
    cluster: Option<Arc<RwLock<serde_json::Value>>>,
}

impl Supervisor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (config, config_path): (ServeConfig, PathBuf),
        state: ApiState,
        services: Services,
        pool: Pool,
        control: Arc<Control>,
        (pool_classes, pool_conf): (Option<Vec<usize>>, f32),
    ) -> Self {
        Self {
            config,
            config_path,
            state,
            services,
            pool,
            control,
            cameras: BTreeMap::new(),
            views: Arc::default(),
            retention: None,
            pool_classes,
            pool_conf,
            cluster: None,
        }
    }

    /// Cluster mode: the site's cameras replace the file's and the API's state.
    pub fn join_cluster(&mut self, link: ClusterLink) {
        self.cluster = Some(link);
    }

    /// The handle HTTP holds; `commands` is the supervisor's channel.
    pub fn handle(&self, commands: Sender<Command>) -> SupervisorHandle {
        SupervisorHandle {
            commands,
            views: self.views.clone(),
            events: self
                .services
                .events
                .clone()
                .unwrap_or_else(|| EventLog::new(1)),
            stats: self.pool.gauge(),
            cluster: self.cluster.as_ref().map(|c| c.view.clone()),
        }
    }

    /// The cameras the file and the API's state ask for, with what each is built from. A camera
    /// the API put that no longer fits the file's globals is skipped, said once in the log.
    fn desired(&self) -> BTreeMap<String, (CameraConfig, String)> {
        let globals = self.config.globals_fingerprint();
        let mut desired: BTreeMap<String, (CameraConfig, String)> = self
            .config
            .cameras
            .iter()
            .map(|c| {
                let written = format!("{:?}", self.config.written(&c.name));
                (
                    c.name.clone(),
                    (c.clone(), format!("file {written} {globals}")),
                )
            })
            .collect();
        for (name, word) in self.state.cameras() {
            match word {
                None => {
                    desired.remove(name);
                }
                Some(section) => match self.config.camera_from_json(name, section) {
                    Ok(c) => {
                        desired.insert(name.clone(), (c, format!("api {section} {globals}")));
                    }
                    Err(e) => {
                        tracing::error!(camera = %name, "the API's camera no longer fits the config, skipped: {e}")
                    }
                },
            }
        }
        desired
    }

    /// Starts every camera at the daemon's start: the first that cannot be built is the
    /// daemon's error (a bad configuration stops it before it serves).
    pub fn start_all(&mut self) -> std::result::Result<(), String> {
        if self.cluster.is_some() {
            return Ok(()); // the coordinator hands this instance its cameras
        }
        for (_, (config, fingerprint)) in self.desired() {
            self.start(config, fingerprint)?;
        }
        self.publish();
        Ok(())
    }

    /// Starts, replaces and removes cameras until the running set is what is desired; the
    /// others are not touched. Errors are logged per camera.
    fn apply(&mut self) {
        let desired = self.desired();
        let gone: Vec<String> = self
            .cameras
            .keys()
            .filter(|n| !desired.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name);
        }
        for (name, (config, fingerprint)) in desired {
            if self
                .cameras
                .get(&name)
                .is_some_and(|c| c.fingerprint == fingerprint)
            {
                continue;
            }
            if let Err(e) = self.start(config, fingerprint) {
                tracing::error!(camera = %name, "camera not started: {e}");
            }
        }
        self.publish();
    }

    /// Checks what the pool cannot give a camera: a class it does not detect, a lower score.
    fn fits_pool(&self, c: &CameraConfig) -> std::result::Result<(), String> {
        let labels = &self.services.labels;
        let wanted = class_ids(labels, &c.classes)
            .map_err(|e| format!("cameras.{}.classes: {e}", c.name))?;
        if let Some(kept) = &self.pool_classes {
            let missing: Vec<&str> = match &wanted {
                None => vec!["every class"],
                Some(ids) => ids
                    .iter()
                    .filter(|i| !kept.contains(i))
                    .map(|&i| labels.name(i))
                    .collect(),
            };
            if !missing.is_empty() {
                return Err(format!(
                    "cameras.{}.classes: the daemon's detectors were started for the classes of the file's cameras and do not keep {}: restart with a camera in the file that keeps them",
                    c.name,
                    missing.join(", ")
                ));
            }
        }
        if c.enabled && c.conf < self.pool_conf {
            return Err(format!(
                "cameras.{}.conf = {} is below the {} the daemon's detectors keep (the lowest of detector.conf and the file's cameras): restart with a lower detector.conf",
                c.name, c.conf, self.pool_conf
            ));
        }
        Ok(())
    }

    /// Builds the camera and, only once that worked, stops the camera it replaces (so a bad
    /// change leaves the old one running) and starts it on the pool.
    fn start(
        &mut self,
        config: CameraConfig,
        fingerprint: String,
    ) -> std::result::Result<Applied, String> {
        self.start_taken(config, fingerprint, None)
    }

    /// `start`, for a camera taken over in cluster mode: its ids, fence and event log position.
    fn start_taken(
        &mut self,
        config: CameraConfig,
        fingerprint: String,
        takeover: Option<&Takeover>,
    ) -> std::result::Result<Applied, String> {
        self.fits_pool(&config)?;
        let name = config.name.clone();
        let old = self.cameras.get(&name);
        let preview = match (config.preview, old.and_then(|c| c.handles.preview.clone())) {
            (true, Some(p)) => Some(p), // a viewer keeps watching across the change
            (true, None) => Some(Preview::new()),
            (false, _) => None,
        };
        let handles = CameraHandles {
            metrics: self.services.registry.camera(&name),
            stop: Arc::new(AtomicBool::new(false)),
            preview,
        };
        let built = if config.enabled {
            let mut spec = config.spec(&self.config.http);
            if let (Some(t), Some(link)) = (takeover, &self.cluster) {
                spec.first_track_id = t.first_id;
                spec.continued_tracks.clone_from(&t.continued);
                spec.carried.clone_from(&t.carried);
                spec.snapshots.clone_from(&t.snapshots);
                spec.outputs.journal = Some(Stamp {
                    instance: link.instance.clone(),
                    fence: t.fence,
                    last_seq: t.last_seq,
                    left_open: t.left_open.clone(),
                });
            }
            let (stream, _) = spec
                .build(&self.services, &handles)
                .map_err(|e| e.to_string())?;
            Some(stream)
        } else {
            None
        };
        let applied = match self.cameras.remove(&name) {
            Some(old) => {
                self.stop(old, true);
                Applied::Replaced
            }
            None => Applied::Created,
        };
        let running = match built {
            Some(stream) => Some(
                self.pool
                    .attach(stream, &self.control)
                    .map_err(|e| e.to_string())?,
            ),
            None => {
                handles.metrics.set_state(SourceState::Disabled, None);
                None
            }
        };
        log_camera(&config);
        self.cameras.insert(
            name,
            Camera {
                config,
                handles,
                running,
                fingerprint,
            },
        );
        Ok(applied)
    }

    fn remove(&mut self, name: &str) -> bool {
        match self.cameras.remove(name) {
            Some(camera) => {
                self.stop(camera, true);
                tracing::info!(camera = name, "camera removed");
                true
            }
            None => false,
        }
    }

    /// Stops one camera and waits until its outputs are finalised. `removed`: its tracks end
    /// with reason `removed` (otherwise the daemon is stopping: `stream`).
    fn stop(&self, camera: Camera, removed: bool) {
        let Some(running) = camera.running else {
            return;
        };
        let outcome = if removed {
            running.remove()
        } else {
            camera
                .handles
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
            running.join()
        };
        if let Some(e) = outcome.error {
            tracing::error!(camera = %outcome.summary.name, "camera stopped: {e}");
        }
    }

    /// HTTP's view of the cameras, and retention's, after a change.
    fn publish(&mut self) {
        let views = self
            .cameras
            .values()
            .map(|c| CameraView {
                name: c.config.name.clone(),
                source: redact_url(&c.config.url),
                enabled: c.config.enabled,
                metrics: c.handles.metrics.clone(),
                preview: c.handles.preview.clone(),
            })
            .collect();
        *self.views.write().unwrap_or_else(|p| p.into_inner()) = views;
        let watched = self
            .cameras
            .values()
            .filter(|c| c.config.enabled)
            .map(|c| Watched {
                camera: c.config.name.clone(),
                record: c.config.record.clone(),
                metrics: c.handles.metrics.clone(),
            })
            .collect();
        self.retention = None; // the old thread stops before the new one starts
        self.retention = Retention::start(watched);
    }

    /// Does what one command asks.
    pub fn obey(&mut self, command: Command) {
        match command {
            Command::Put {
                name,
                section,
                reply,
            } => {
                let _ = reply.send(self.put(&name, section));
            }
            Command::Delete { name, reply } => {
                let _ = reply.send(self.delete(&name));
            }
            Command::Reload if self.cluster.is_some() => {
                tracing::warn!("SIGHUP: in cluster mode the site's cameras live in etcd: change them through the API")
            }
            Command::Reload => self.reload(),
            Command::Move { name, to, reply } => {
                let _ = reply.send(self.move_to(&name, &to));
            }
        }
    }

    /// Does what the cluster's coordinator orders.
    pub fn obey_order(&mut self, order: Order) {
        match order {
            Order::Own {
                name,
                section,
                takeover,
            } => self.own(&name, &section, &takeover),
            Order::Disown { name } => {
                self.remove(&name);
                self.publish();
            }
            Order::HandOver { name, reply } => {
                let _ = reply.send(self.hand_over(&name));
            }
        }
    }

    /// Cluster mode, a planned move: the camera stops here with its tracks alive.
    fn hand_over(&mut self, name: &str) -> Option<Handover> {
        let camera = self.cameras.remove(name)?;
        let outcome = camera.running?.hand_over();
        self.publish();
        tracing::info!(camera = name, "cluster: camera handed over");
        Some(Handover::of(outcome.summary.handed?, true))
    }

    /// `POST /api/cameras/NAME/move?to=INSTANCE`: written for the owner and the taker to act on.
    fn move_to(&mut self, name: &str, to: &str) -> std::result::Result<(), ApiError> {
        let Some(link) = &self.cluster else {
            return Err(ApiError::BadRequest(
                "not in cluster mode: a camera has nowhere to move".into(),
            ));
        };
        let site = link.view.read().unwrap_or_else(|p| p.into_inner()).clone();
        if site["cameras"].get(name).is_none() {
            return Err(ApiError::NotFound(format!(
                "no camera named {name:?} in the site"
            )));
        }
        if site["instances"].get(to).is_none() {
            return Err(ApiError::BadRequest(format!(
                "to = {to:?}: no running instance of that name in the site"
            )));
        }
        link.registry
            .put_move(name, to)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Cluster mode: run a camera the coordinator took (or whose section changed).
    fn own(&mut self, name: &str, section: &serde_json::Value, takeover: &Takeover) {
        let config = match self.config.camera_from_json(name, section) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    camera = name,
                    "cluster: the site's camera is not valid here: {e}"
                );
                return;
            }
        };
        let fingerprint = format!("site {section} {}", takeover.fence);
        match self.start_taken(config, fingerprint, Some(takeover)) {
            Ok(_) => tracing::info!(
                camera = name,
                fence = takeover.fence,
                first_id = takeover.first_id,
                "cluster: camera running here"
            ),
            Err(e) => tracing::error!(camera = name, "cluster: camera not started: {e}"),
        }
        self.publish();
    }

    fn put(
        &mut self,
        name: &str,
        section: serde_json::Value,
    ) -> std::result::Result<Applied, ApiError> {
        let config = self
            .config
            .camera_from_json(name, &section)
            .map_err(ApiError::BadRequest)?;
        if let Some(link) = &self.cluster {
            // Checked here as on the owner, then written for the owner to apply.
            self.fits_pool(&config).map_err(ApiError::BadRequest)?;
            let existed = link
                .registry
                .put_camera(name, &section)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            return Ok(if existed {
                Applied::Replaced
            } else {
                Applied::Created
            });
        }
        let fingerprint = format!("api {section} {}", self.config.globals_fingerprint());
        let applied = self
            .start(config, fingerprint)
            .map_err(ApiError::BadRequest)?;
        self.publish();
        if let Err(e) = self.state.put(name, section) {
            return Err(ApiError::Internal(format!(
                "camera {name} applied, but not kept for a restart: {e}"
            )));
        }
        tracing::info!(
            camera = name,
            "camera {} through the API",
            match applied {
                Applied::Created => "added",
                Applied::Replaced => "replaced",
            }
        );
        Ok(applied)
    }

    fn delete(&mut self, name: &str) -> std::result::Result<(), ApiError> {
        if let Some(link) = &self.cluster {
            return match link.registry.delete_camera(name) {
                Ok(true) => Ok(()),
                Ok(false) => Err(ApiError::NotFound(format!(
                    "no camera named {name:?} in the site"
                ))),
                Err(e) => Err(ApiError::Internal(e.to_string())),
            };
        }
        if !self.remove(name) {
            return Err(ApiError::NotFound(format!("no camera named {name:?}")));
        }
        self.publish();
        self.state.delete(name).map_err(|e| {
            ApiError::Internal(format!(
                "camera {name} removed, but not kept for a restart: {e}"
            ))
        })
    }

    /// SIGHUP: the file is read again; a file with an error is refused in one line and nothing
    /// changes. Cameras the file changed take the file's version (their API word is dropped).
    fn reload(&mut self) {
        let config = match ServeConfig::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("reload refused, the running cameras are kept: {e}");
                return;
            }
        };
        let globals_changed = config.globals_fingerprint() != self.config.globals_fingerprint();
        let mut names: Vec<String> = config.cameras.iter().map(|c| c.name.clone()).collect();
        names.extend(self.config.cameras.iter().map(|c| c.name.clone()));
        names.sort();
        names.dedup();
        let changed: Vec<String> = names
            .into_iter()
            .filter(|n| globals_changed || config.written(n) != self.config.written(n))
            .collect();
        if config.services_fingerprint() != self.config.services_fingerprint() {
            tracing::warn!("reload: [http] and [mqtt] changes take effect at the next start");
        }
        self.config = config;
        if let Err(e) = self.state.forget(&changed) {
            tracing::error!("reload: {e}");
        }
        tracing::info!(changed = changed.len(), "reloading the config file");
        self.apply();
    }

    /// True once every enabled camera has ended on its own (cameras reading files): the daemon
    /// then has nothing left to do.
    pub fn all_ended(&self) -> bool {
        if self.cluster.is_some() {
            return false; // cameras come and go with the site
        }
        let enabled: Vec<&Camera> = self.cameras.values().filter(|c| c.config.enabled).collect();
        !enabled.is_empty()
            && enabled
                .iter()
                .all(|c| c.running.as_ref().is_none_or(RunningStream::is_finished))
    }

    /// Stops every camera (their tracks end with reason `stream`), then the pool.
    pub fn shutdown(mut self) -> Result<()> {
        for (_, camera) in std::mem::take(&mut self.cameras) {
            self.stop(camera, false);
        }
        self.retention = None;
        self.pool.shutdown()
    }
}

/// One line per camera as it starts: what leaves the process for it, so an operator sees at a
/// glance whether images are recorded or served.
fn log_camera(c: &CameraConfig) {
    if !c.enabled {
        tracing::info!(camera = %c.name, "disabled");
        return;
    }
    let r = &c.record;
    tracing::info!(
        camera = %c.name,
        source = %redact_url(&c.url),
        json = r.json,
        video = r.video,
        snapshots = r.snapshots,
        preview = c.preview,
        mqtt = c.mqtt,
        retain_days = r.retain_days,
        min_free_mb = r.min_free_mb,
        "camera outputs"
    );
}

impl SupervisorHandle {
    fn ask<T>(
        &self,
        command: impl FnOnce(Sender<std::result::Result<T, ApiError>>) -> Command,
    ) -> std::result::Result<T, ApiError> {
        let (tx, rx) = bounded(1);
        self.commands
            .send(command(tx))
            .map_err(|_| ApiError::Internal("the daemon is stopping".into()))?;
        rx.recv_timeout(REPLY_WITHIN)
            .map_err(|_| ApiError::Internal("the daemon did not answer in time".into()))?
    }
}

impl Cameras for SupervisorHandle {
    fn views(&self) -> Vec<CameraView> {
        self.views.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn put(
        &self,
        name: &str,
        section: serde_json::Value,
    ) -> std::result::Result<Applied, ApiError> {
        let name = name.to_string();
        self.ask(|reply| Command::Put {
            name,
            section,
            reply,
        })
    }

    fn delete(&self, name: &str) -> std::result::Result<(), ApiError> {
        let name = name.to_string();
        self.ask(|reply| Command::Delete { name, reply })
    }

    fn events(&self, query: &EventQuery) -> Vec<serde_json::Value> {
        self.events.query(&EventFilter {
            camera: query.camera.as_deref(),
            kind: query.kind.as_deref(),
            since: query.since,
            limit: query.limit.unwrap_or(100).min(10_000),
        })
    }

    fn pool(&self) -> serde_json::Value {
        serde_json::to_value(self.stats.read()).unwrap_or_default()
    }

    fn move_camera(&self, name: &str, to: &str) -> std::result::Result<(), ApiError> {
        let (name, to) = (name.to_string(), to.to_string());
        self.ask(|reply| Command::Move { name, to, reply })
    }

    fn cluster(&self) -> Option<serde_json::Value> {
        let view = self.cluster.as_ref()?;
        Some(view.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}
