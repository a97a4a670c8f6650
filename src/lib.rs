//! vigil: real-time video detection, tracking and forecasting.
//!
//! The pipeline (see `docs/ARCHITECTURE.md`): a [`source`] yields frames, [`preprocess`] makes
//! tensors, [`detect`] runs the ONNX model and NMS, [`track`] follows objects with a Kalman filter
//! and forecasts them, and [`sink`]s write what was seen. [`pipeline`] wires them as threads.

pub mod analytics;
pub mod assemble;
pub mod assignment;
pub mod backoff;
pub mod cli;
pub mod cluster;
pub mod comms;
pub mod config;
pub mod detect;
pub mod error;
pub mod eval;
pub mod frame;
pub mod geom;
pub mod labels;
pub mod metrics;
pub mod motchallenge;
pub mod motion;
pub mod offline;
pub mod periodic;
pub mod pipeline;
pub mod predict;
pub mod preprocess;
pub mod privacy;
pub mod scene;
pub mod serve;
pub mod sink;
pub mod source;
pub mod track;
