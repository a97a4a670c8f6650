//! Object detection: an ONNX model run by ONNX Runtime, its output decoded into boxes, then NMS.

mod labels;
mod nms;
pub mod runtime;
mod yolox;

use std::path::{Path, PathBuf};

use ndarray::Array4;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{first_line, Error, Result};
use crate::frame::Detection;
use crate::preprocess::{InputSpec, Letterbox};

pub use labels::Labels;
pub use nms::nms;
pub use runtime::Device;
use yolox::YoloxLayout;

/// What the detector stage needs to build one detector.
#[derive(Clone, Debug)]
pub struct DetectorSettings {
    pub model: PathBuf,
    pub device: Device,
    /// Minimum score of a detection, before NMS.
    pub conf: f32,
    /// IoU above which NMS suppresses the lower-scoring box of a class.
    pub iou: f32,
    /// Keep only these class ids; `None` keeps all.
    pub classes: Option<Vec<usize>>,
    /// ONNX Runtime intra-op threads of this detector's session.
    pub threads: usize,
}

/// A stream's own choice among what the shared detectors found: in the daemon, cameras share one
/// detector pool (run with the lowest score and every class any camera wants) and each keeps
/// its own score threshold and classes.
#[derive(Clone, Debug, Default)]
pub struct DetectionFilter {
    pub min_score: f32,
    /// Class ids to keep; `None` keeps all.
    pub classes: Option<Vec<usize>>,
}

impl DetectionFilter {
    pub fn apply(&self, mut detections: Vec<Detection>) -> Vec<Detection> {
        detections.retain(|d| {
            d.score >= self.min_score
                && self
                    .classes
                    .as_ref()
                    .is_none_or(|c| c.contains(&d.class_id))
        });
        detections
    }
}

/// One inference session with its decoder. Not shared between threads: each detector worker
/// owns one (ONNX Runtime sessions serialise `run`).
pub struct Detector {
    session: Session,
    input_name: String,
    spec: InputSpec,
    layout: YoloxLayout,
    settings: DetectorSettings,
    class_allowed: Vec<bool>,
}

impl Detector {
    pub fn load(settings: &DetectorSettings) -> Result<Self> {
        let env = runtime::environment()?;
        let model = &settings.model;
        let what = |e: &dyn std::fmt::Display| {
            Error::input(format!(
                "model '{}': {}",
                model.display(),
                first_line(&e.to_string())
            ))
        };
        if !model.is_file() {
            return Err(Error::input(format!(
                "model '{}': no such file",
                model.display()
            )));
        }
        let device_unavailable = |e: ort::Error| {
            Error::input(format!(
                "--device {}: {} (the ONNX Runtime library in use has no such execution provider)",
                settings.device.name(),
                first_line(&e.to_string())
            ))
        };
        let session = Session::builder(&env)
            .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::All)?))
            .and_then(|b| Ok(b.with_intra_threads(settings.threads.max(1))?))
            .and_then(|b| Ok(b.with_inter_threads(1)?))
            .map_err(|e| Error::internal(format!("cannot configure an ONNX Runtime session: {e}")))?
            .with_execution_providers(runtime::execution_providers(settings.device))
            .map_err(|e| device_unavailable(e.into()))?
            .commit_from_file(model)
            .map_err(|e| what(&format!("not a loadable ONNX model ({e})")))?;
        let (input_name, spec) = input_spec(&session).map_err(|e| what(&e))?;
        let output_shape: Vec<i64> = session
            .outputs()
            .first()
            .and_then(|o| o.dtype().tensor_shape())
            .map(|s| s.to_vec())
            .ok_or_else(|| what(&"the model has no tensor output"))?;
        let layout =
            YoloxLayout::new(spec.width, spec.height, &output_shape).map_err(|e| what(&e))?;
        let mut class_allowed = vec![settings.classes.is_none(); layout.num_classes];
        for &c in settings.classes.iter().flatten() {
            if c < class_allowed.len() {
                class_allowed[c] = true;
            }
        }
        let mut detector = Self {
            session,
            input_name,
            spec,
            layout,
            settings: settings.clone(),
            class_allowed,
        };
        // ONNX Runtime allocates its buffers on the first run, which takes several times as
        // long as the next: done here, it delays no camera's first frame, and a model that loads
        // but cannot run is refused before any output is opened.
        let blank = Array4::zeros((1, 3, spec.height, spec.width));
        detector
            .infer(&blank)
            .map_err(|e| what(&format!("cannot run it ({e})")))?;
        Ok(detector)
    }

    pub fn input_spec(&self) -> InputSpec {
        self.spec
    }

    pub fn num_classes(&self) -> usize {
        self.layout.num_classes
    }

    /// Runs the network on one preprocessed tensor and returns its raw output.
    pub fn infer(&mut self, tensor: &Array4<f32>) -> Result<Vec<f32>> {
        let input = TensorRef::from_array_view(tensor.view())
            .map_err(|e| Error::internal(format!("input tensor: {e}")))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => input])
            .map_err(|e| Error::internal(format!("inference failed: {e}")))?;
        let (_, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::internal(format!("model output is not f32: {e}")))?;
        Ok(data.to_vec())
    }

    /// Decodes a raw output into detections in source pixels, after NMS.
    pub fn postprocess(&self, raw: &[f32], letterbox: &Letterbox) -> Vec<Detection> {
        let allowed = &self.class_allowed;
        let candidates = self
            .layout
            .decode(raw, letterbox, self.settings.conf, |c| allowed[c]);
        nms(candidates, self.settings.iou)
    }

    pub fn detect(
        &mut self,
        tensor: &Array4<f32>,
        letterbox: &Letterbox,
    ) -> Result<Vec<Detection>> {
        let raw = self.infer(tensor)?;
        Ok(self.postprocess(&raw, letterbox))
    }
}

/// The input's name and layout. YOLOX graphs take BGR 0–255, letterboxed top-left, pad 114.
fn input_spec(session: &Session) -> std::result::Result<(String, InputSpec), String> {
    let input = session.inputs().first().ok_or("the model has no input")?;
    let shape = input
        .dtype()
        .tensor_shape()
        .ok_or("the model input is not a tensor")?;
    let (h, w) = match **shape {
        [1, 3, h, w] if h > 0 && w > 0 => (h as usize, w as usize),
        _ => {
            return Err(format!(
                "input '{}' has shape {:?}, expected a fixed [1, 3, H, W]",
                input.name(),
                &**shape
            ))
        }
    };
    let spec = InputSpec {
        width: w,
        height: h,
        rgb: false,
        scale: 1.0,
        centered: false,
        pad_value: 114,
    };
    Ok((input.name().to_string(), spec))
}

/// Finds a default asset (`models/yolox_nano.onnx`) in the working directory or beside the
/// binary's checkout, so `vigil` works from anywhere in the project.
pub fn locate_asset(relative: &Path) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let exe_dirs: Vec<PathBuf> = std::env::current_exe()
        .ok()
        .map(|exe| exe.ancestors().skip(1).map(Path::to_path_buf).collect())
        .unwrap_or_default();
    cwd.into_iter()
        .chain(exe_dirs)
        .map(|d| d.join(relative))
        .find(|p| p.is_file())
}
