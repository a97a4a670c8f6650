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
pub use lines::LineCounter;
pub use scene::{Analyzer, Carried, LineTotal};
pub use zones::{ZoneChange, ZoneWatcher};
// The shapes and what a frame's analytics saw are shared by every stage; named here too.
pub use crate::geom::{Point, Polygon, Segment};
pub use crate::scene::{
    CrossingForecast, Direction, Layout, SceneEvent, SceneEventKind, SceneFrame, TrackInsight,
};

use crate::geom::norm;

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
