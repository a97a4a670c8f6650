//! One camera's description, and how it becomes a pipeline stream.

use super::class_ids;
use super::outputs::OutputsSpec;
use super::services::{CameraHandles, Services};
use crate::analytics::{AnalyticsConfig, Analyzer, Carried};
use crate::config::Config;
use crate::detect::{DetectionFilter, Labels};
use crate::error::{Error, Result};
use crate::frame::Track;
use crate::pipeline::{Schedule, Snapshots, Stream};
use crate::privacy::{Privacy, PrivacyConfig};
use crate::source::{self, OpenOptions, SourceInfo, StreamOptions};
use crate::track::{Tracker, TrackerConfig};

/// Everything one camera is: where it reads, what the detector sees of it, how it is tracked,
/// what it hides, what it analyses and where its results go. Built from a `[cameras.NAME]`
/// section (the daemon) or from flags and a config file (`track`, `bench`).
#[derive(Clone)]
pub struct CameraSpec {
    pub name: String,
    /// Where this camera's keys sit in the configuration, as errors name them: empty for the
    /// top-level sections of `track`, `cameras.NAME.` for the daemon.
    pub section: String,
    /// A file, an image pattern, a device or a stream URL.
    pub input: String,
    pub source: StreamOptions,
    /// `vigil track` fails at once when the input cannot be opened; a daemon camera keeps trying.
    pub must_connect_first: bool,
    pub schedule: Schedule,
    /// The score this camera keeps of what the shared detectors find (`None`: what they keep).
    pub conf: Option<f32>,
    /// The class names this camera keeps; empty: every class the detectors keep.
    pub classes: Vec<String>,
    pub tracker: TrackerConfig,
    pub privacy: PrivacyConfig,
    pub analytics: AnalyticsConfig,
    pub outputs: OutputsSpec,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// The first track id (a camera taken over in cluster mode continues above its past ids).
    pub first_track_id: u64,
    /// Tracks its previous owner handed over in a planned move: they go on here.
    pub continued_tracks: Vec<Track>,
    /// What its previous owner's analytics carried: the counts, and after a planned move who
    /// is where.
    pub carried: Option<Carried>,
    /// Cluster mode: where the tracker leaves the camera's state for its next owner.
    pub snapshots: Option<Snapshots>,
}

impl CameraSpec {
    /// A camera from the top-level sections of a config (`track`, `bench`): no outputs yet,
    /// failing at once when the input cannot be opened.
    pub fn from_config(name: &str, input: &str, config: &Config) -> Self {
        Self {
            name: name.to_string(),
            section: String::new(),
            input: input.to_string(),
            source: config.source.clone(),
            must_connect_first: true,
            schedule: config.detector.schedule(),
            conf: None,
            classes: Vec::new(), // the detectors keep `detector.classes` already
            tracker: config.tracker.clone(),
            privacy: config.privacy.clone(),
            analytics: config.analytics.clone(),
            outputs: OutputsSpec {
                draw: config.output.clone(),
                ..OutputsSpec::default()
            },
            max_frames: None,
            first_track_id: 1,
            continued_tracks: Vec::new(),
            carried: None,
            snapshots: None,
        }
    }

    /// The key `key` of this camera, as errors name it (`privacy`, `cameras.a.privacy`).
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.section)
    }

    /// Whether any output of this camera sends pictures (video, snapshots, preview).
    pub fn sends_pictures(&self) -> bool {
        self.outputs.sends_pictures()
    }

    /// Opens the camera: its source, then (once its size is known, and before any output is
    /// created) its privacy filter, then its outputs, tracker and analytics. Nothing runs yet.
    pub fn build(&self, cx: &Services, handles: &CameraHandles) -> Result<(Stream, SourceInfo)> {
        let source = source::open(
            &self.input,
            OpenOptions {
                stream: &self.source,
                metrics: &handles.metrics,
                stop: &handles.stop,
                must_connect_first: self.must_connect_first,
            },
        )
        .map_err(|e| match self.section.is_empty() {
            true => e,
            false => e.prefixed(&self.key("url")),
        })?;
        let info = source.info().clone();
        cx.tiles.check(info.width, info.height)?;
        let privacy = self.privacy_filter(&cx.labels, &info)?;
        let filter = DetectionFilter {
            min_score: self.conf.unwrap_or(0.0),
            classes: class_ids(&cx.labels, &self.classes)
                .map_err(|e| e.prefixed(&self.key("classes")))?,
        };
        // A track is over once the tracker can no longer re-find it.
        let mut analyzer = Analyzer::new(
            &self.analytics,
            &cx.labels,
            self.tracker.lost_timeout_s,
            &self.key("analytics"),
        )
        .map_err(|e| Error::input(format!("config: {e}")))?;
        if let Some(carried) = &self.carried {
            analyzer.resume(carried.clone());
        }
        let sinks = self
            .outputs
            .open((&self.name, &self.key("record")), &info, cx, handles)?;
        let mut tracker = Tracker::new(self.tracker.clone(), info.fps);
        tracker.continue_ids_from(self.first_track_id);
        tracker.continue_tracks(self.continued_tracks.clone());
        let stream = Stream {
            name: self.name.clone(),
            source,
            stop: handles.stop.clone(),
            tracker,
            filter,
            sinks,
            max_frames: self.max_frames,
            max_fps: self.source.max_fps,
            metrics: handles.metrics.clone(),
            analyzer,
            privacy,
            schedule: self.schedule.clone(),
            snapshots: self.snapshots.clone(),
        };
        Ok((stream, info))
    }

    /// The privacy filter, checked against the frame size when the source knows it. Says in
    /// the log what it hides, or that no picture leaves.
    fn privacy_filter(&self, labels: &Labels, info: &SourceInfo) -> Result<Privacy> {
        let section = self.key("privacy");
        let pictures_out = self.sends_pictures();
        if self.privacy.metadata_only && pictures_out {
            return Err(Error::input(format!(
                "config: {section}.metadata_only = true, yet a picture output is asked for (annotated video, preview or snapshots): drop one of the two"
            )));
        }
        let privacy = Privacy::new(&self.privacy, labels, &section)?;
        if info.width > 0 && info.height > 0 {
            privacy.check_frame(info.width, info.height, &section)?;
        }
        let camera = self.name.as_str();
        if pictures_out {
            tracing::info!(camera, "privacy: {}", privacy.describe(labels));
        } else {
            tracing::info!(camera, "privacy: metadata only, no picture leaves");
        }
        Ok(privacy)
    }
}
