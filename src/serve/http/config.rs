//! The `[http]` section: where to listen, the token, and the preview's limits. Checked before
//! anything binds, so that a mistake stops the daemon with the key named.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use serde::Deserialize;

/// The `[http]` section of the daemon's configuration.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// Bearer token every request must carry; required unless `listen` is a loopback address.
    pub token: Option<String>,
    /// Live MJPEG previews served at once; more get 503.
    pub max_stream_clients: usize,
    /// Most preview frames per second of each camera.
    pub preview_fps: f64,
    /// Preview frames wider than this are scaled down, in pixels.
    pub preview_width: i32,
    /// Recent events kept per camera for `GET /api/events`.
    pub events_per_camera: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_string(),
            token: None,
            max_stream_clients: 8,
            preview_fps: 5.0,
            preview_width: 960,
            events_per_camera: crate::sink::DEFAULT_EVENTS_PER_CAMERA,
        }
    }
}

/// By hand so that printing the configuration never shows the token.
impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_stream_clients", &self.max_stream_clients)
            .field("preview_fps", &self.preview_fps)
            .field("preview_width", &self.preview_width)
            .field("events_per_camera", &self.events_per_camera)
            .finish()
    }
}

impl HttpConfig {
    /// Checks every key; the message names the key and (except for the token) its value.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let loopback = listens_on_loopback(&self.listen)?;
        if let Some(token) = self.token() {
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("http.token must not contain spaces or control characters".into());
            }
        } else if !loopback {
            return Err(format!(
                "http.token is required when http.listen ({}) is not a loopback address",
                self.listen
            ));
        }
        if self.max_stream_clients == 0 {
            return Err("http.max_stream_clients = 0 must be at least 1".into());
        }
        if !(self.preview_fps.is_finite() && self.preview_fps > 0.0) {
            return Err(format!(
                "http.preview_fps = {} must be a positive number",
                self.preview_fps
            ));
        }
        if !(1..=1_000_000).contains(&self.events_per_camera) {
            return Err(format!(
                "http.events_per_camera = {} must be from 1 to 1000000",
                self.events_per_camera
            ));
        }
        if self.preview_width < 32 {
            return Err(format!(
                "http.preview_width = {} must be at least 32",
                self.preview_width
            ));
        }
        Ok(())
    }

    /// The token clients must send; an empty one counts as none.
    pub(super) fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }
}

/// Whether every address `listen` resolves to is a loopback one (only this host can connect).
fn listens_on_loopback(listen: &str) -> std::result::Result<bool, String> {
    let bad = || format!("http.listen = {listen:?}: not a host:port address");
    let addrs: Vec<SocketAddr> = listen.to_socket_addrs().map_err(|_| bad())?.collect();
    if addrs.is_empty() {
        return Err(bad());
    }
    let host = listen.rsplit_once(':').map_or("", |(h, _)| h);
    Ok(host.eq_ignore_ascii_case("localhost") || addrs.iter().all(|a| a.ip().is_loopback()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, token: Option<&str>) -> HttpConfig {
        HttpConfig {
            listen: listen.into(),
            token: token.map(String::from),
            ..HttpConfig::default()
        }
    }

    #[test]
    fn validate_requires_a_token_off_loopback() {
        assert_eq!(
            config("0.0.0.0:8080", None).validate().unwrap_err(),
            "http.token is required when http.listen (0.0.0.0:8080) is not a loopback address"
        );
        assert!(config("0.0.0.0:8080", Some("")).validate().is_err());
        assert!(config("[::]:8080", None).validate().is_err());
        config("0.0.0.0:8080", Some("t0ken")).validate().unwrap();
        config("127.0.0.1:8080", None).validate().unwrap();
        config("127.0.0.2:8080", None).validate().unwrap();
        config("localhost:9000", None).validate().unwrap();
        config("[::1]:9000", None).validate().unwrap();
        HttpConfig::default().validate().unwrap();
    }

    #[test]
    fn validate_names_the_key_of_a_bad_value() {
        assert_eq!(
            config("x", None).validate().unwrap_err(),
            r#"http.listen = "x": not a host:port address"#
        );
        let bad = [
            (
                "http.preview_fps",
                HttpConfig {
                    preview_fps: 0.0,
                    ..HttpConfig::default()
                },
            ),
            (
                "http.preview_width",
                HttpConfig {
                    preview_width: 0,
                    ..HttpConfig::default()
                },
            ),
            (
                "http.max_stream_clients",
                HttpConfig {
                    max_stream_clients: 0,
                    ..HttpConfig::default()
                },
            ),
            ("http.token", config("127.0.0.1:1", Some("a b"))),
        ];
        for (key, c) in bad {
            assert!(c.validate().unwrap_err().starts_with(key), "{key}");
        }
    }

    #[test]
    fn the_config_reads_from_toml_and_never_prints_the_token() {
        let c: HttpConfig =
            toml::from_str("listen = \"0.0.0.0:9090\"\ntoken = \"hunter2\"\n").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9090");
        assert_eq!(c.max_stream_clients, 8);
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(toml::from_str::<HttpConfig>("listne = \"x\"").is_err());
    }
}
