//! What tracks did, derived from the tracker's output alone: lifecycles, line crossings, zone
//! visits, ground speed. Pure, no I/O.

mod config;
mod footing;
mod homography;
mod lifecycle;
mod lines;
mod scene;
mod zones;

pub use config::{AnalyticsConfig, Anchor, HomographyConfig, LineConfig, ZoneConfig};
pub use homography::Homography;
pub use lifecycle::Lifecycle;
pub use lines::{Direction, LineCounter, Segment};
pub use scene::{
    Analyzer, CrossingForecast, Layout, LineTotal, SceneEvent, SceneEventKind, SceneFrame,
    TrackInsight,
};
pub use zones::{Polygon, ZoneChange, ZoneWatcher};

/// An image point `[x, y]` in pixels (or a ground point in metres).
pub type Point = [f64; 2];

/// Length of `[dx, dy]`. `f64::hypot` guards against overflow we cannot have with pixel
/// coordinates, and is several times slower: this runs for every track, line and zone per frame.
fn norm(dx: f64, dy: f64) -> f64 {
    (dx * dx + dy * dy).sqrt()
}

/// Per-track state keyed by track id. Ids are dense counters, not attacker-chosen, so a
/// multiplicative hash is enough; SipHash made the lookups a good part of the analytics' cost.
type TrackMap<V> = std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
