//! What a camera is built with besides its spec: what every camera of the process shares, and
//! what outlives one build of a camera.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::comms::jetstream::EventStore;
use crate::detect::{Labels, TileCheck};
use crate::metrics::{CameraMetrics, Metrics};
use crate::sink::{EventLog, MqttPublisher, Preview};

/// What every camera of a process shares when it is built.
#[derive(Clone)]
pub struct Services {
    pub labels: Arc<Labels>,
    pub registry: Arc<Metrics>,
    pub tiles: TileCheck,
    /// The process-wide MQTT connection, when `[mqtt]` is configured.
    pub mqtt: Option<Arc<MqttPublisher>>,
    /// The recent events `/api/events` serves.
    pub events: Option<Arc<EventLog>>,
    /// The site's durable event log (cluster mode with `[nats]`).
    pub journal: Option<Arc<EventStore>>,
}

/// What outlives one build of a camera: its metrics, its stop flag and its preview, which the
/// daemon's endpoints hold while the camera is replaced.
#[derive(Clone)]
pub struct CameraHandles {
    pub metrics: CameraMetrics,
    /// Ends this camera alone (or, shared, the whole run).
    pub stop: Arc<AtomicBool>,
    pub preview: Option<Arc<Preview>>,
}
