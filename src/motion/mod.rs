//! Live camera motion: the global warp from one video frame to the next, measured from the
//! images, so a tracker can move its predictions with a moving camera (issue 11).
//!
//! [`MotionEstimator`] follows BoT-SORT's default global motion compensation (sparse optical flow):
//! corners of the previous frame, away from the detected objects, are followed into this frame by
//! pyramidal Lucas–Kanade, and a rotation + uniform scale + translation is fitted to them with
//! RANSAC. [`StaticCameraWatch`] tells from the recent warps whether the camera stands still, so
//! the pipeline can skip warping it. OpenCV stays inside this module: what it returns is a plain
//! [`Affine`](crate::geom::Affine).

mod estimate;
mod static_camera;

pub use estimate::{MotionConfig, MotionEstimator};
pub use static_camera::{is_static_camera, StaticCameraWatch};
