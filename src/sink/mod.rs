//! Outputs: each kind in its own file behind one trait. A sink receives every tracked frame in
//! order and is finalised exactly once, at the end of the stream or when the pipeline stops.

mod annotate;
mod encoder;
mod event_log;
mod jetstream;
mod jsonl;
mod mot;
mod mqtt;
pub mod payload;
mod preview;
mod recording;
mod resilient;
mod segments;
mod snapshot;
mod video;

use std::path::Path;

use crate::error::{Error, Result};
use crate::frame::{StreamEnd, TrackedFrame};

pub use crate::comms::mqtt::{MqttConfig, MqttPublisher};
pub use annotate::Annotator;
pub use event_log::{EventFilter, EventLog, EventLogSink, DEFAULT_EVENTS_PER_CAMERA};
pub use jetstream::{JetStreamSink, Stamp};
pub use jsonl::{JsonLinesSink, Rotation};
pub use mot::{DetectionsSink, MotSink};
pub use mqtt::MqttSink;
pub use preview::{Preview, PreviewSink};
pub use recording::{open_recordings, RecordConfig};
pub use resilient::{Opener, Resilient};
pub use segments::SegmentedVideoSink;
pub use snapshot::SnapshotSink;
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
    /// Whether the sink draws on the picture. Those that do not are sent frames without it,
    /// and when no output of a stream needs pictures they are released right after detection.
    fn needs_image(&self) -> bool {
        false
    }
    fn write(&mut self, frame: &TrackedFrame) -> Result<()>;
    /// `write`, for a frame no other output holds: a sink that draws may draw on the picture
    /// itself instead of a copy of it (at 4K a copy is 25 MB and a few milliseconds).
    fn write_owned(&mut self, frame: &mut TrackedFrame) -> Result<()> {
        self.write(frame)
    }
    /// The events of tracks ended between frames (`track_ended`, and the `zone_exit` of those
    /// inside a zone): at the end of the stream, or after an outage of the source. Pictures and
    /// MOT rows have nowhere to put them.
    fn write_end(&mut self, _end: &StreamEnd) -> Result<()> {
        Ok(())
    }
    /// Flushes and closes the output so that it is complete and valid.
    fn finish(&mut self) -> Result<()>;
}

/// Checks a run's output files before any of them is created or truncated, so that a run refused
/// at the start loses nothing: each must be writable, no two may be the same file, and none may
/// be one of the run's `inputs` (writing it would destroy what is being read). `outputs` are
/// `(option, path)`; the option names the culprit in the message.
pub fn claim_outputs(outputs: &[(&str, &Path)], inputs: &[&Path]) -> Result<()> {
    let inputs: Vec<_> = inputs
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut claimed: Vec<(&str, std::path::PathBuf)> = Vec::new();
    let mut created = Vec::new();
    let checked = outputs.iter().try_for_each(|&(option, path)| {
        // A link counts as there even when its target is not: the probe must not remove it.
        let existed = std::fs::symlink_metadata(path).is_ok();
        if existed && !path.is_file() && !path.is_dir() {
            // A device or a pipe (/dev/null, /dev/stdout, a FIFO) may take several outputs, and
            // opening a FIFO to probe it would wait for, then lose, its reader.
            return Ok(());
        }
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::input(format!("cannot write '{}': {e}", path.display())))?;
        if !existed {
            created.push(path);
        }
        // Opened, so a regular file (a folder fails to open).
        let Ok(file) = std::fs::canonicalize(path) else {
            return Ok(());
        };
        if inputs.contains(&file) {
            return Err(Error::input(format!(
                "{option} '{}' is an input of this run: writing it would destroy it",
                path.display()
            )));
        }
        if let Some((other, _)) = claimed.iter().find(|(_, f)| *f == file) {
            return Err(Error::input(format!(
                "{other} and {option} name the same file '{}'",
                path.display()
            )));
        }
        claimed.push((option, file));
        Ok(())
    });
    // The probe leaves no trace: the sinks create their files themselves.
    for path in created {
        let _ = std::fs::remove_file(path); // only what this check made, still empty
    }
    checked
}

/// Creates (truncates) an output file, failing with a line that names it.
fn create_output(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|e| Error::input(format!("cannot write '{}': {e}", path.display())))
}

/// Creates `DIR/STEM.EXT`, or the first free `DIR/STEM-N.EXT` from suffix `first` on, atomically
/// (`create_new`): a file already there (an earlier run's) is never overwritten. Returns the path,
/// the file (open for appending) and its suffix number (0 for none).
fn create_numbered(
    dir: &Path,
    stem: &str,
    ext: &str,
    first: u32,
) -> Result<(std::path::PathBuf, std::fs::File, u32)> {
    let name = |n: u32| match n {
        0 => dir.join(format!("{stem}.{ext}")),
        n => dir.join(format!("{stem}-{n}.{ext}")),
    };
    for n in first..first.saturating_add(100_000) {
        let path = name(n);
        let opened = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path);
        match opened {
            Ok(file) => return Ok((path, file, n)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(write_failed(&path, e)),
        }
    }
    Err(Error::input(format!(
        "cannot write '{}': too many files with that name",
        name(first).display()
    )))
}

fn write_failed(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::input(format!("writing '{}' failed: {e}", path.display()))
}
