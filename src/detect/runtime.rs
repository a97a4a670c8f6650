//! ONNX Runtime: finding its shared library, the process-wide environment, and the one place
//! that turns a `--device` choice into execution providers.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::ExecutionProviderDispatch;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The ONNX Runtime release the `ort` bindings are built against.
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// Where inference runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
    Tensorrt,
    /// CUDA when this ONNX Runtime library has it and a GPU answers, else the CPU (said in the
    /// log). The only choice that may fall back.
    Auto,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Tensorrt => "tensorrt",
            Device::Auto => "auto",
        }
    }

    /// The devices to try, in order: `auto` tries CUDA, then the CPU; the others only themselves.
    pub fn candidates(self) -> &'static [Device] {
        match self {
            Device::Auto => &[Device::Cuda, Device::Cpu],
            Device::Cpu => &[Device::Cpu],
            Device::Cuda => &[Device::Cuda],
            Device::Tensorrt => &[Device::Tensorrt],
        }
    }
}

/// The process-wide ONNX Runtime environment, created on first use.
pub fn environment() -> Result<Environment> {
    static ENV: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let library = locate_library()?;
        tracing::debug!(library = %library.display(), "loading ONNX Runtime");
        ort::init_from(&library)
            .map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from '{}' ({e}): run scripts/bootstrap.sh, or set ORT_DYLIB_PATH to {ORT_LIBRARY}",
                    library.display()
                )
            })?
            .with_name("vigil")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
    })
    .clone()
    .map_err(Error::input)
}

/// `$ORT_DYLIB_PATH`, else the project's `.deps/` (beside the binary's checkout or the working
/// directory; the GPU build that `scripts/bootstrap.sh --gpu` fetched first), else the system's
/// dynamic loader path.
fn locate_library() -> std::result::Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "ORT_DYLIB_PATH='{}' does not exist: point it at {ORT_LIBRARY}",
                path.display()
            ))
        };
    }
    for folder in [".deps/onnxruntime-gpu", ".deps/onnxruntime"] {
        if let Some(bundled) = super::locate_asset(&Path::new(folder).join(ORT_LIBRARY)) {
            return Ok(bundled);
        }
    }
    let system = ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"]
        .iter()
        .map(|d| Path::new(d).join(ORT_LIBRARY))
        .find(|p| p.is_file());
    system.ok_or_else(|| {
        format!("ONNX Runtime library {ORT_LIBRARY} not found (ORT_DYLIB_PATH, .deps/onnxruntime/, /usr/lib): run scripts/bootstrap.sh or set ORT_DYLIB_PATH")
    })
}

/// Execution providers for a device. GPU providers fail loudly instead of silently running on
/// the CPU, so a user who asked for CUDA learns that it is not available.
/// `Auto` is resolved by the caller (`Device::candidates`) and never reaches here as such.
pub fn execution_providers(
    device: Device,
    tuning: super::SessionTuning,
) -> Vec<ExecutionProviderDispatch> {
    match device {
        // ONNX Runtime adds its CPU provider, arena on, when none is named.
        Device::Cpu | Device::Auto if tuning.cpu_arena => vec![],
        Device::Cpu | Device::Auto => {
            vec![ort::ep::CPU::default().with_arena_allocator(false).build()]
        }
        Device::Cuda => vec![ort::ep::CUDA::default().build().error_on_failure()],
        Device::Tensorrt => vec![
            ort::ep::TensorRT::default()
                .with_engine_cache(true)
                .with_engine_cache_path(tensorrt_cache().display())
                .with_timing_cache(true)
                .with_timing_cache_path(tensorrt_cache().display())
                .build()
                .error_on_failure(),
            ort::ep::CUDA::default().build().error_on_failure(),
        ],
    }
}

/// Where TensorRT keeps the engines it builds (minutes per model) between runs:
/// `$VIGIL_TRT_CACHE`, else `$XDG_CACHE_HOME/vigil/tensorrt`, else `~/.cache/vigil/tensorrt`.
pub fn tensorrt_cache() -> PathBuf {
    let dir = std::env::var_os("VIGIL_TRT_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("vigil/tensorrt"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/vigil/tensorrt"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("vigil-tensorrt"));
    // TensorRT writes into it but does not create it; if this fails, its own error says where.
    let _ = std::fs::create_dir_all(&dir);
    dir
}
