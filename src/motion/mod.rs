//! Motion in the picture, measured live, in two senses.
//!
//! The camera's own motion: the global warp from one video frame to the next, so a tracker can
//! move its predictions with a moving camera (issue 11). [`MotionEstimator`] follows BoT-SORT's
//! default global motion compensation (sparse optical flow): corners of the previous frame, away
//! from the detected objects, are followed into this frame by pyramidal Lucas–Kanade, and a
//! rotation + uniform scale + translation is fitted to them with RANSAC. [`StaticCameraWatch`]
//! tells from the recent warps whether the camera stands still, so the pipeline can skip warping.
//!
//! Activity in the scene: [`ActivityGate`] tells whether anything has changed since the detector
//! last looked, so a still scene is not detected again and again (motion gating, issue 12).
//!
//! OpenCV stays inside this module: what it returns is a plain [`Affine`](crate::geom::Affine)
//! or [`Thumbnail`].

mod activity;
mod estimate;
mod static_camera;

pub use activity::{grey_thumbnail, ActivityGate, GateConfig, Thumbnail, Verdict};
pub use estimate::{MotionConfig, MotionEstimator};
pub use static_camera::{is_static_camera, AutoMeasure, StaticCameraWatch};
