//! Connections to other systems that the whole process shares, as opposed to a camera's own
//! outputs (`sink`): the MQTT broker connection (`mqtt`), which every camera's MQTT sink
//! publishes through; and the site's durable event log on NATS JetStream (`jetstream`, cluster mode).

pub mod jetstream;
pub mod mqtt;

pub use mqtt::{MqttConfig, MqttPublisher};
