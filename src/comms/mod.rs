//! Connections to other systems that the whole process shares, as opposed to a camera's own
//! outputs (`sink`): the MQTT broker connection (`mqtt`), which every camera's MQTT sink
//! publishes through.

pub mod mqtt;

pub use mqtt::{MqttConfig, MqttPublisher};
