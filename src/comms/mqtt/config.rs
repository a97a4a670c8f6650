//! The `[mqtt]` section: where the broker is, how to log in, and the buffer and cadence of
//! what is published.

use std::fmt;
use std::time::Duration;

use rumqttc::MqttOptions;
use serde::Deserialize;

use super::{INFLIGHT, MAX_PACKET_BYTES};

/// The `[mqtt]` section of the daemon's configuration.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// Topics are `{topic_prefix}/{camera}/events` and `{topic_prefix}/{camera}/tracks`.
    pub topic_prefix: String,
    /// Empty: `vigil-<pid>`.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Stream seconds between two track snapshots of one camera.
    pub tracks_interval_s: f64,
    /// Messages queued while the broker is slow or away, all cameras together.
    pub buffer: usize,
    /// Seconds between pings; a broker silent for two of them is taken as gone.
    pub keep_alive_s: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 1883,
            topic_prefix: "vigil".into(),
            client_id: String::new(),
            username: None,
            password: None,
            tracks_interval_s: 1.0,
            buffer: 1000,
            keep_alive_s: 15,
        }
    }
}

/// By hand, so that printing a configuration never shows the password.
impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("topic_prefix", &self.topic_prefix)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tracks_interval_s", &self.tracks_interval_s)
            .field("buffer", &self.buffer)
            .field("keep_alive_s", &self.keep_alive_s)
            .finish()
    }
}

impl MqttConfig {
    /// Checks values; the error names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("mqtt.host must not be empty".into());
        }
        if self.port == 0 {
            return Err("mqtt.port = 0 is not a port (1 to 65535)".into());
        }
        let prefix = &self.topic_prefix;
        if prefix.is_empty() || prefix.contains(['#', '+', '\0']) {
            return Err(format!(
                "mqtt.topic_prefix = '{prefix}' must be a non-empty topic without '#' or '+'"
            ));
        }
        let interval = self.tracks_interval_s;
        if !(interval.is_finite() && interval > 0.0) {
            return Err(format!(
                "mqtt.tracks_interval_s = {interval} must be a positive number of seconds"
            ));
        }
        if self.buffer == 0 {
            return Err("mqtt.buffer = 0 must be at least 1 message".into());
        }
        // Pings are how a silently dead broker is noticed, so they cannot be turned off.
        if !(1..=u64::from(u16::MAX)).contains(&self.keep_alive_s) {
            return Err(format!(
                "mqtt.keep_alive_s = {} must be within [1, 65535]",
                self.keep_alive_s
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(
                "mqtt.password is set without mqtt.username (MQTT 3.1.1 needs both)".into(),
            );
        }
        Ok(())
    }

    pub(super) fn client_id(&self) -> String {
        if self.client_id.is_empty() {
            format!("vigil-{}", std::process::id())
        } else {
            self.client_id.clone()
        }
    }

    pub(super) fn options(&self) -> MqttOptions {
        let mut o = MqttOptions::new(self.client_id(), self.host.clone(), self.port);
        o.set_keep_alive(Duration::from_secs(self.keep_alive_s))
            // We subscribe to nothing and re-send our own un-acknowledged publishes, so the
            // broker need keep no session; a persistent one per `vigil-<pid>` would pile up.
            .set_clean_session(true)
            .set_inflight(INFLIGHT)
            // Incoming packets are acknowledgements and pings only.
            .set_max_packet_size(64 * 1024, MAX_PACKET_BYTES);
        if let Some(user) = &self.username {
            o.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        let bad = [
            MqttConfig {
                port: 0,
                ..Default::default()
            },
            MqttConfig {
                tracks_interval_s: 0.0,
                ..Default::default()
            },
            MqttConfig {
                buffer: 0,
                ..Default::default()
            },
            MqttConfig {
                topic_prefix: "site/#".into(),
                ..Default::default()
            },
        ];
        let keys = [
            "mqtt.port",
            "mqtt.tracks_interval_s",
            "mqtt.buffer",
            "mqtt.topic_prefix",
        ];
        for (config, key) in bad.iter().zip(keys) {
            let err = config.validate().unwrap_err();
            assert!(err.starts_with(key), "{err}");
        }
        assert!(MqttConfig::default().validate().is_ok());
        let with_password = MqttConfig {
            username: Some("u".into()),
            password: Some("secret".into()),
            ..Default::default()
        };
        assert!(!format!("{with_password:?}").contains("secret"));
    }
}
