//! Cluster mode: `vigil serve` instances share a site's cameras. etcd says who runs which camera
//! (ownership by lease, the key's create revision as the camera's fence); NATS JetStream is the
//! durable event log (`comms::jetstream`). Each instance's [`Coordinator`] takes unowned cameras
//! up to its capacity and hands them to its supervisor; a failed instance's lease lapses and its
//! cameras are taken by the others. See docs/SCALE.md.

mod coordinator;
mod registry;

use serde::Deserialize;

pub use crate::comms::jetstream::{FenceGuard, NatsConfig};
pub use coordinator::{spawn, Coordinator, Order, Takeover};
pub use registry::{unix_now, HandedTrack, Handover, Registry};

/// `[cluster]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The etcd cluster's client URLs.
    pub etcd: Vec<String>,
    /// The namespace of keys and subjects.
    pub site: String,
    /// Unique per instance; default: the host name.
    #[serde(default = "host_name")]
    pub instance: String,
    /// The most cameras this instance runs.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// The ownership lease, seconds; renewed at a third of it.
    #[serde(default = "default_lease")]
    pub lease_s: f64,
    /// How long to wait for etcd at start before giving up (0: fail at once).
    #[serde(default)]
    pub wait_s: f64,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "vigil".into())
}

fn default_capacity() -> usize {
    4
}

fn default_lease() -> f64 {
    3.0
}

impl ClusterConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.etcd.is_empty() || self.etcd.iter().any(|u| !u.starts_with("http")) {
            return Err("cluster.etcd: one or more http:// URLs of etcd members".into());
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !name_ok(&self.site) {
            return Err(format!(
                "cluster.site = {:?}: letters, digits, '_' or '-' (it names keys and subjects)",
                self.site
            ));
        }
        if !name_ok(&self.instance) {
            return Err(format!(
                "cluster.instance = {:?}: letters, digits, '_' or '-'",
                self.instance
            ));
        }
        if self.capacity == 0 {
            return Err("cluster.capacity = 0: must be at least 1".into());
        }
        if !(1.0..=60.0).contains(&self.lease_s) {
            return Err(format!(
                "cluster.lease_s = {}: must be from 1 to 60 (etcd leases are whole seconds)",
                self.lease_s
            ));
        }
        if !(0.0..=3600.0).contains(&self.wait_s) {
            return Err(format!(
                "cluster.wait_s = {}: must be from 0 to 3600",
                self.wait_s
            ));
        }
        Ok(())
    }
}
