//! Outputs: each kind in its own file behind one trait. A sink receives every tracked frame in
//! order and is finalised exactly once, at the end of the stream or when the pipeline stops.

mod annotate;
mod jsonl;
mod mot;
mod mqtt;
pub mod payload;
mod video;

use std::path::Path;

use crate::error::{Error, Result};
use crate::frame::TrackedFrame;

pub use annotate::Annotator;
pub use jsonl::JsonLinesSink;
pub use mot::MotSink;
pub use mqtt::{MqttConfig, MqttPublisher, MqttSink};
pub use video::VideoSink;

/// What a sink may do to the frame path when it falls behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkPolicy {
    /// Every frame is written: the pipeline waits for the sink (files).
    Lossless,
    /// The pipeline never waits: frames the sink is not ready for are skipped and counted
    /// (network outputs, previews).
    NeverBlock,
}

pub trait Sink: Send {
    /// What the sink writes to, for messages.
    fn describe(&self) -> String;
    /// A short name for metrics labels (`video`, `jsonl`, `mqtt`, ...).
    fn kind(&self) -> &'static str;
    fn policy(&self) -> SinkPolicy {
        SinkPolicy::Lossless
    }
    fn write(&mut self, frame: &TrackedFrame) -> Result<()>;
    /// Flushes and closes the output so that it is complete and valid.
    fn finish(&mut self) -> Result<()>;
}

/// Creates (truncates) an output file, failing with a line that names it.
fn create_output(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|e| Error::input(format!("cannot write '{}': {e}", path.display())))
}

fn write_failed(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::input(format!("writing '{}' failed: {e}", path.display()))
}
