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
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Tensorrt => "tensorrt",
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
/// directory), else the system's dynamic loader path.
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
    if let Some(bundled) = super::locate_asset(&Path::new(".deps/onnxruntime").join(ORT_LIBRARY)) {
        return Ok(bundled);
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
pub fn execution_providers(device: Device) -> Vec<ExecutionProviderDispatch> {
    match device {
        Device::Cpu => vec![],
        Device::Cuda => vec![ort::ep::CUDA::default().build().error_on_failure()],
        Device::Tensorrt => vec![
            ort::ep::TensorRT::default().build().error_on_failure(),
            ort::ep::CUDA::default().build().error_on_failure(),
        ],
    }
}
