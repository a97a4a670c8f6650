//! What tracks did, derived from the tracker's output alone: lifecycles, line crossings, zone
//! visits, ground speed. Pure, no I/O.

mod config;
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
