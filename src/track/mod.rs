//! Multi-object tracking: a time-stepped Kalman filter per object, optimal IoU assignment, and
//! ByteTrack's two-round association with a tentative/tracked/lost lifecycle. Pure: no I/O.

mod assign;
mod byte;
mod kalman;
mod lag;
#[cfg(test)]
mod properties;
mod reupdate;

pub(crate) use byte::validate_horizons;
pub use byte::{CameraMotion, NoiseReference, Tracker, TrackerConfig, MAX_COORDINATE};
pub use lag::FixedLag;
