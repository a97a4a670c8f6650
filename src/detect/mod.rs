//! Object detection: an ONNX model run by ONNX Runtime, its output decoded into boxes, then NMS.

mod edges;
mod family;
mod nms;
mod outputs;
pub mod runtime;
mod tiles;
mod yolox;

use std::path::{Path, PathBuf};

use ndarray::Array4;
pub use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{first_line, Error, Result};
use crate::frame::Detection;
use crate::preprocess::{InputSpec, Letterbox, Preprocessor};
use opencv::core::{Mat, Rect};
use opencv::prelude::*;
use std::time::Instant;

pub use crate::labels::Labels;
pub use edges::{complete_cut_people, PERSON_ASPECT};
use family::{identify, Graph, Identified};
pub use family::{parse_class_names, Family};
pub use nms::nms;
use outputs::{DecodeContext, Port};
pub use runtime::Device;
pub use tiles::{Region, Tiles};

/// Whether a frame size suits a detector's tiling (`--tiles`), checked when a source opens and
/// before any output is created.
#[derive(Clone, Copy, Debug)]
pub struct TileCheck {
    tiles: Tiles,
    input: (usize, usize),
}

impl TileCheck {
    pub fn check(&self, width: i32, height: i32) -> Result<()> {
        if width <= 0 || height <= 0 {
            return Ok(()); // not known yet: a live camera tells its size once connected
        }
        self.tiles
            .regions((width as usize, height as usize), self.input)
            .map(|_| ())
            .map_err(|e| Error::input(format!("--tiles: {e}")))
    }
}

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
    /// The model's layout; `None` reads it from the graph.
    pub family: Option<Family>,
    /// Keep at most this many detections a frame, the most confident (0: no limit).
    pub max_objects: usize,
    /// Detect in overlapping tiles of each frame too (small objects).
    pub tiles: Tiles,
    /// Frames stacked into one run of the network, at most (1: one at a time); needs a model
    /// whose batch is free.
    pub batch: usize,
    /// How long the first frame of a batch waits for the others at most.
    pub batch_wait: std::time::Duration,
    /// How ONNX Runtime builds the session. Every run uses the default; the others change which
    /// kernels run and in what order float32 sums are taken, as another CPU would, so that
    /// `tests/detector_portability.rs` can measure how far the boxes move on one machine.
    pub session: SessionTuning,
}

/// The ONNX Runtime session choices that change kernels and summation order but not the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTuning {
    pub optimization: GraphOptimizationLevel,
    /// ONNX Runtime's memory arena for the CPU: changes where buffers live, which moves SIMD
    /// alignment (and so the split of vector and scalar tails) in some kernels.
    pub cpu_arena: bool,
}

impl Default for SessionTuning {
    fn default() -> Self {
        Self {
            optimization: GraphOptimizationLevel::All,
            cpu_arena: true,
        }
    }
}

impl DetectorSettings {
    /// The simplest detector of a model: every class, whole frames one at a time, one CPU
    /// thread (the graph tells its layout).
    pub fn single_cpu(model: PathBuf, conf: f32, iou: f32) -> Self {
        Self {
            model,
            device: Device::Cpu,
            conf,
            iou,
            classes: None,
            threads: 1,
            family: None,
            max_objects: 0,
            tiles: Tiles::Off,
            batch: 1,
            batch_wait: std::time::Duration::ZERO,
            session: SessionTuning::default(),
        }
    }
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
    model: Identified,
    settings: DetectorSettings,
    /// Where it runs: the device asked for, or what `auto` found.
    device: Device,
    /// Why `auto` did not run on the devices it tried first.
    passed_over: Option<String>,
    /// Runs of the network so far (a batch of frames, a tile, a frame: one each).
    runs: u64,
    /// The person class, whose boxes cut by the frame's edge are completed (`edges`).
    complete_cut: Option<usize>,
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
        let device_unavailable = |device: Device, e: ort::Error| {
            Error::input(format!(
                "--device {}: {} (the ONNX Runtime library in use has no such execution provider)",
                device.name(),
                first_line(&e.to_string())
            ))
        };
        let open = |device: Device| {
            Session::builder(&env)
                .and_then(|b| Ok(b.with_optimization_level(settings.session.optimization)?))
                .and_then(|b| Ok(b.with_intra_threads(settings.threads.max(1))?))
                .and_then(|b| Ok(b.with_inter_threads(1)?))
                .and_then(|b| Ok(b.with_memory_pattern(false)?))
                .map_err(|e| {
                    Error::internal(format!("cannot configure an ONNX Runtime session: {e}"))
                })?
                .with_execution_providers(runtime::execution_providers(device, settings.session))
                .map_err(|e| device_unavailable(device, e.into()))?
                .commit_from_file(model)
                .map_err(|e| what(&format!("not a loadable ONNX model ({e})")))
        };
        let (session, device, passed_over) = open_first(settings.device, open)?;
        let graph = graph_of(&session);
        let identified = identify(&graph, settings.family).map_err(|e| what(&e))?;
        if settings.batch > 1 && !identified.free_batch {
            return Err(Error::input(format!(
                "detector.batch = {}: model '{}' takes a fixed batch ({}); scripts/make_batch_models.py makes a copy whose batch is free",
                settings.batch,
                model.display(),
                graph.describe()
            )));
        }
        let mut detector = Self {
            session,
            model: identified,
            settings: settings.clone(),
            device,
            passed_over,
            runs: 0,
            complete_cut: None,
        };
        // ONNX Runtime allocates its buffers on the first run, which takes several times as
        // long as the next: done here, it delays no camera's first frame, and a model that loads
        // but cannot run is refused before any output is opened.
        let blank = Array4::zeros((1, 3, detector.model.spec.height, detector.model.spec.width));
        detector
            .infer(&blank)
            .map_err(|e| what(&format!("cannot run it ({e})")))?;
        Ok(detector)
    }

    pub fn input_spec(&self) -> InputSpec {
        self.model.spec
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Why `--device auto` did not take the devices it tried before this one.
    pub fn passed_over(&self) -> Option<&str> {
        self.passed_over.as_deref()
    }

    pub fn family(&self) -> Family {
        self.model.family
    }

    /// Classes the model predicts, when its output shape tells.
    pub fn num_classes(&self) -> Option<usize> {
        self.model.head.num_classes()
    }

    /// Class names the model carries in its metadata (Ultralytics exports).
    pub fn class_names(&self) -> Option<&[String]> {
        self.model.class_names.as_deref()
    }

    /// Keeps only these classes from now on (`None`: all).
    pub fn keep_classes(&mut self, classes: Option<Vec<usize>>) {
        self.settings.classes = classes;
    }

    /// Boxes of class `person` cut by a frame's edge are extended past it to a whole person's
    /// shape (`None`: boxes stay as the network gives them).
    pub fn complete_cut_people(&mut self, person: Option<usize>) {
        self.complete_cut = person;
    }

    /// NMS across the regions of a `frame`-sized picture, then people cut by its edges made whole.
    fn finish(&self, candidates: Vec<(usize, Detection)>, frame: (usize, usize)) -> Vec<Detection> {
        let mut kept = self.suppress(candidates);
        if let Some(person) = self.complete_cut {
            complete_cut_people(&mut kept, frame, person);
        }
        kept
    }

    /// Runs of the network so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Runs the network on one preprocessed tensor and returns every output, as `f32`.
    pub fn infer(&mut self, tensor: &Array4<f32>) -> Result<Vec<Vec<f32>>> {
        self.runs += 1;
        let input = TensorRef::from_array_view(tensor.view())
            .map_err(|e| Error::internal(format!("input tensor: {e}")))?;
        let outputs = self
            .session
            .run(ort::inputs![self.model.input_name.as_str() => input])
            .map_err(|e| Error::internal(format!("inference failed: {e}")))?;
        outputs.values().map(|v| output_as_f32(&v)).collect()
    }

    /// Decodes raw outputs into detections in source pixels, after NMS (unless the graph has
    /// suppressed them itself), the most confident first when `max_objects` caps them.
    pub fn postprocess(&self, raw: &[Vec<f32>], letterbox: &Letterbox) -> Result<Vec<Detection>> {
        let whole = self.candidates(raw, letterbox)?.into_iter().map(|d| (0, d));
        Ok(self.suppress(whole.collect()))
    }

    /// A check of frame sizes against this detector's tiling, kept apart from the detector.
    pub fn tile_check(&self) -> TileCheck {
        TileCheck {
            tiles: self.settings.tiles,
            input: (self.model.spec.width, self.model.spec.height),
        }
    }

    /// The regions detected in a `width`×`height` frame: the whole, then the tiles, if any.
    pub fn regions(&self, width: usize, height: usize) -> Result<Vec<Region>> {
        let input = (self.model.spec.width, self.model.spec.height);
        self.settings
            .tiles
            .regions((width, height), input)
            .map_err(|e| Error::input(format!("--tiles: {e}")))
    }

    /// Detects in every region of a frame (the whole frame, then any tiles: see `Tiles`) and
    /// merges the boxes; also returns the time spent preprocessing and in the network.
    pub fn detect_frame(
        &mut self,
        pre: &mut Preprocessor,
        image: &Mat,
    ) -> std::result::Result<(Vec<Detection>, RegionTimes), Failure> {
        let frame = (image.cols() as usize, image.rows() as usize);
        let regions = self.regions(frame.0, frame.1).map_err(Failure::Frame)?;
        let mut times = RegionTimes::default();
        let mut found = Vec::new();
        for (k, region) in regions.iter().enumerate() {
            let started = Instant::now();
            let whole = (region.width, region.height) == frame;
            let view;
            let picture = if whole {
                image
            } else {
                let rect = Rect::new(
                    region.x as i32,
                    region.y as i32,
                    region.width as i32,
                    region.height as i32,
                );
                // A view into the frame, not a copy.
                view = Mat::roi(image, rect)
                    .map_err(|e| Failure::Frame(Error::internal(format!("tile {region:?}: {e}"))))?
                    .clone_pointee();
                &view
            };
            let (tensor, letterbox) = pre.run(picture).map_err(Failure::Frame)?;
            let inferred = Instant::now();
            times.preprocess_s += (inferred - started).as_secs_f64();
            let raw = self.infer(&tensor).map_err(Failure::Network)?;
            times.inference_s += inferred.elapsed().as_secs_f64();
            let letterbox = letterbox.within(region.x, region.y);
            let candidates = self
                .candidates(&raw, &letterbox)
                .map_err(Failure::Network)?;
            found.extend(
                candidates
                    .into_iter()
                    .filter(|d| whole || region.keeps(d, frame))
                    .map(|d| (k, d)),
            );
        }
        Ok((self.finish(found, frame), times))
    }

    /// Frames a run takes at most, and how long the first waits for the others.
    pub fn batching(&self) -> (usize, std::time::Duration) {
        (self.settings.batch.max(1), self.settings.batch_wait)
    }

    /// Whether a `width`×`height` frame is detected whole, in one image (no tiles): such
    /// frames can share a run of the network.
    pub fn detects_whole(&self, width: usize, height: usize) -> bool {
        self.regions(width, height).is_ok_and(
            |r| matches!(r.as_slice(), [only] if (only.width, only.height) == (width, height)),
        )
    }

    /// Detects in several whole frames with one run of the network (their tensors stacked),
    /// each frame's boxes after its own NMS; a frame that cannot be prepared gets its error and
    /// the others go on. The inference time is shared out equally.
    pub fn detect_batch(
        &mut self,
        pre: &mut Preprocessor,
        images: &[&Mat],
    ) -> Result<Vec<FrameDetections>> {
        let prepared: Vec<_> = images
            .iter()
            .map(|image| {
                let started = Instant::now();
                pre.run(image)
                    .map(|(tensor, letterbox)| (tensor, letterbox, started.elapsed().as_secs_f64()))
            })
            .collect();
        let tensors: Vec<_> = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok().map(|(t, _, _)| t.view()))
            .collect();
        let mut raw_per_frame = Vec::new();
        let mut inference_s = 0.0;
        if !tensors.is_empty() {
            let stacked = ndarray::concatenate(ndarray::Axis(0), &tensors)
                .map_err(|e| Error::internal(format!("batch of {}: {e}", tensors.len())))?;
            let started = Instant::now();
            let raw = self.infer(&stacked)?;
            inference_s = started.elapsed().as_secs_f64() / tensors.len() as f64;
            raw_per_frame = split_batch(raw, tensors.len())?;
        }
        let mut raw_per_frame = raw_per_frame.into_iter();
        prepared
            .into_iter()
            .zip(images)
            .map(|(p, image)| {
                let (_, letterbox, preprocess_s) = match p {
                    Ok(prepared) => prepared,
                    Err(e) => return Ok(Err(e)),
                };
                let raw = raw_per_frame.next().ok_or_else(|| {
                    Error::internal("a batch's outputs ran out before its frames".to_string())
                })?;
                let found = self
                    .candidates(&raw, &letterbox)?
                    .into_iter()
                    .map(|d| (0, d));
                let times = RegionTimes {
                    preprocess_s,
                    inference_s,
                };
                let frame = (image.cols() as usize, image.rows() as usize);
                Ok(Ok((self.finish(found.collect(), frame), times)))
            })
            .collect()
    }

    /// Every box the outputs hold above the score threshold, in source pixels.
    fn candidates(&self, raw: &[Vec<f32>], letterbox: &Letterbox) -> Result<Vec<Detection>> {
        let classes = &self.settings.classes;
        let keep_class = |c: usize| classes.as_ref().is_none_or(|v| v.contains(&c));
        let context = DecodeContext {
            letterbox,
            input_width: self.model.spec.width,
            input_height: self.model.spec.height,
            min_score: self.settings.conf,
            keep_class: &keep_class,
        };
        self.model
            .head
            .decode(raw, &context)
            .map_err(|e| Error::internal(format!("model '{}': {e}", self.settings.model.display())))
    }

    /// NMS (unless the graph did it in the only region), then the `max_objects` most
    /// confident. `(region, box)`: boxes of several regions are merged across them too.
    fn suppress(&self, candidates: Vec<(usize, Detection)>) -> Vec<Detection> {
        let one_region = candidates.iter().all(|(r, _)| *r == 0);
        let mut kept = if one_region && self.model.head.is_suppressed() {
            candidates.into_iter().map(|(_, d)| d).collect()
        } else if one_region {
            nms(
                candidates.into_iter().map(|(_, d)| d).collect(),
                self.settings.iou,
            )
        } else {
            nms::merge_regions(candidates, self.settings.iou, REGION_COVER)
        };
        if self.settings.max_objects > 0 {
            kept.sort_by(|a, b| b.score.total_cmp(&a.score));
            kept.truncate(self.settings.max_objects);
        }
        kept
    }

    pub fn detect(
        &mut self,
        tensor: &Array4<f32>,
        letterbox: &Letterbox,
    ) -> Result<Vec<Detection>> {
        let raw = self.infer(tensor)?;
        self.postprocess(&raw, letterbox)
    }
}

/// A box covered this much by a more confident one from another region of the frame is the
/// same object (`nms::merge_regions`); measured on MOT17-mini with 1x2 tiles, 0.6–0.8 drop a
/// few duplicates and no hits.
const REGION_COVER: f32 = 0.7;

/// Why a frame got no detections.
#[derive(Debug)]
pub enum Failure {
    /// The frame cannot be detected (an empty picture, tiles that do not fit it): it is
    /// skipped and the stream goes on.
    Frame(Error),
    /// The network failed: no frame can be detected any more.
    Network(Error),
}

/// A session on the first of the device's candidates that opens (`auto`: CUDA, else the CPU),
/// with why the ones before it did not; the last candidate's error if none opens.
fn open_first(
    requested: Device,
    open: impl Fn(Device) -> Result<Session>,
) -> Result<(Session, Device, Option<String>)> {
    let candidates = requested.candidates();
    let mut failure = Error::internal(format!("--device {}: nothing to try", requested.name()));
    let mut passed_over = None;
    for (k, &device) in candidates.iter().enumerate() {
        match open(device) {
            Ok(session) => return Ok((session, device, passed_over)),
            Err(e) if k + 1 < candidates.len() => {
                passed_over = Some(format!("running on the {}: {e}", candidates[k + 1].name()));
                failure = e;
            }
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

/// One frame's boxes and the time they took, or why the frame could not be detected (the
/// stream goes on without them).
pub type FrameDetections = std::result::Result<(Vec<Detection>, RegionTimes), Error>;

/// Where a frame's detection spent its time, summed over its regions.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegionTimes {
    pub preprocess_s: f64,
    pub inference_s: f64,
}

/// A batch's outputs cut into each image's: every output's leading dimension is the batch.
fn split_batch(raw: Vec<Vec<f32>>, images: usize) -> Result<Vec<Vec<Vec<f32>>>> {
    let mut per_image = vec![Vec::with_capacity(raw.len()); images];
    for output in raw {
        if output.is_empty() {
            per_image
                .iter_mut()
                .for_each(|image| image.push(Vec::new()));
            continue;
        }
        if output.len() % images != 0 {
            return Err(Error::internal(format!(
                "an output of {} values does not split into {images} images",
                output.len()
            )));
        }
        for (image, chunk) in per_image
            .iter_mut()
            .zip(output.chunks(output.len() / images))
        {
            image.push(chunk.to_vec());
        }
    }
    Ok(per_image)
}

/// The graph as `family::identify` reads it.
fn graph_of(session: &Session) -> Graph {
    let port = |name: &str, shape: Option<Vec<i64>>| Port {
        name: name.to_string(),
        shape: shape.unwrap_or_default(),
    };
    let shape_of = |t: &ort::value::ValueType| t.tensor_shape().map(|s| s.to_vec());
    let metadata = session
        .metadata()
        .ok()
        .map(|m| {
            let keys = m.custom_keys().unwrap_or_default();
            keys.into_iter()
                .filter_map(|k| m.custom(&k).map(|v| (k, v)))
                .collect()
        })
        .unwrap_or_default();
    Graph {
        inputs: session
            .inputs()
            .iter()
            .map(|o| port(o.name(), shape_of(o.dtype())))
            .collect(),
        outputs: session
            .outputs()
            .iter()
            .map(|o| port(o.name(), shape_of(o.dtype())))
            .collect(),
        metadata,
    }
}

/// An output tensor's values as `f32` (labels often come as integers).
fn output_as_f32(value: &ort::value::DynValue) -> Result<Vec<f32>> {
    if let Ok((_, data)) = value.try_extract_tensor::<f32>() {
        return Ok(data.to_vec());
    }
    if let Ok((_, data)) = value.try_extract_tensor::<i64>() {
        return Ok(data.iter().map(|&v| v as f32).collect());
    }
    if let Ok((_, data)) = value.try_extract_tensor::<i32>() {
        return Ok(data.iter().map(|&v| v as f32).collect());
    }
    Err(Error::internal(
        "a model output is neither float nor integer".to_string(),
    ))
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
