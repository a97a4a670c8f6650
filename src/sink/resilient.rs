//! An output that survives its own failures: a full disk or a vanished folder must not end a
//! camera that runs for weeks. The broken sink is dropped, frames are skipped, and a new one is
//! opened every `retry` until that works.

use std::time::{Duration, Instant};

use super::{Sink, SinkPolicy};
use crate::error::{Error, Result};
use crate::frame::{StreamEnd, TrackedFrame};
use crate::metrics::CameraMetrics;

/// Opens (a fresh instance of) the wrapped sink.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn Sink>> + Send>;

pub struct Resilient {
    kind: &'static str,
    describe: String,
    opener: Opener,
    retry: Duration,
    metrics: CameraMetrics,
    inner: Option<Box<dyn Sink>>,
    /// The wrapped sink's policy and need of pictures, remembered while it is closed.
    policy: SinkPolicy,
    needs_image: bool,
    /// When the last open failed or the sink broke; no new attempt before `retry` after it.
    failed_at: Option<Instant>,
    /// A warning was logged and recovery has not been logged yet: keeps the log to one line
    /// per outage however many frames or retries it lasts.
    failing: bool,
}

impl Resilient {
    /// Opens the sink at once; a failure is reported and retried, never returned.
    pub fn new(
        kind: &'static str,
        describe: String,
        opener: Opener,
        retry: Duration,
        metrics: CameraMetrics,
    ) -> Self {
        let mut sink = Self {
            kind,
            describe,
            opener,
            retry,
            metrics,
            inner: None,
            policy: SinkPolicy::Lossless,
            // Until a sink has opened, assume it draws: frames without pictures would break it.
            needs_image: true,
            failed_at: None,
            failing: false,
        };
        sink.try_open();
        sink
    }

    /// True while the output is open (not failed, or recovered).
    pub fn is_open(&self) -> bool {
        self.inner.is_some()
    }

    fn retry_due(&self) -> bool {
        self.failed_at.is_none_or(|t| t.elapsed() >= self.retry)
    }

    fn try_open(&mut self) {
        match (self.opener)() {
            Ok(sink) => {
                self.policy = sink.policy();
                self.needs_image = sink.needs_image();
                self.inner = Some(sink);
            }
            Err(e) => self.failed(&e),
        }
    }

    /// Counts and reports a failure; logs it only if the output was healthy until now.
    fn failed(&mut self, e: &Error) {
        self.failed_at = Some(Instant::now());
        self.metrics.sink_error(self.kind);
        let message = format!("{}: {e}", self.describe);
        self.metrics.health.report_error(&message);
        if !self.failing {
            self.failing = true;
            tracing::warn!(
                camera = %self.metrics.name,
                "output {message}; skipping frames, retrying every {:.1} s",
                self.retry.as_secs_f64()
            );
        }
    }

    /// Drops a sink that failed. Finishing it lets it close what it can (a video segment);
    /// its own error is expected and adds nothing to the one already reported.
    fn drop_inner(&mut self) {
        if let Some(mut sink) = self.inner.take() {
            let _ = sink.finish();
        }
    }

    /// Writes through the wrapped sink, opening it again when a retry is due; a failure is
    /// reported and the sink dropped.
    fn write_with(&mut self, write: impl FnOnce(&mut dyn Sink) -> Result<()>) {
        if self.inner.is_none() {
            if !self.retry_due() {
                return;
            }
            self.try_open();
        }
        let Some(sink) = self.inner.as_mut() else {
            return;
        };
        match write(sink.as_mut()) {
            Ok(()) => self.recovered(),
            Err(e) => {
                self.failed(&e);
                self.drop_inner();
            }
        }
    }

    fn recovered(&mut self) {
        if self.failing {
            self.failing = false;
            tracing::info!(camera = %self.metrics.name, "output {} recovered", self.describe);
        }
    }
}

impl Sink for Resilient {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn kind(&self) -> &'static str {
        self.kind
    }

    fn policy(&self) -> SinkPolicy {
        self.inner.as_ref().map_or(self.policy, |s| s.policy())
    }

    fn needs_image(&self) -> bool {
        self.needs_image
    }

    /// Always Ok: while the output is broken its frames are skipped, not the camera's.
    fn write(&mut self, frame: &TrackedFrame) -> Result<()> {
        self.write_with(|sink| sink.write(frame));
        Ok(())
    }

    fn write_owned(&mut self, frame: &mut TrackedFrame) -> Result<()> {
        self.write_with(|sink| sink.write_owned(frame));
        Ok(())
    }

    fn write_end(&mut self, end: &StreamEnd) -> Result<()> {
        self.write_with(|sink| sink.write_end(end));
        Ok(())
    }

    /// Finishes the open sink, if any. A later `write` opens a new one at once (a camera's
    /// pipeline restarted with the same outputs).
    fn finish(&mut self) -> Result<()> {
        if let Some(mut sink) = self.inner.take() {
            if let Err(e) = sink.finish() {
                self.failed(&e);
            }
        }
        self.failed_at = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::metrics::Metrics;
    use crate::sink::recording::fixtures::{frame, labels, scratch, track};
    use crate::sink::JsonLinesSink;

    /// An opener that fails its first `failures` calls, then opens a JSON Lines file.
    fn flaky_opener(path: PathBuf, failures: usize, calls: Arc<AtomicUsize>) -> Opener {
        Box::new(move || {
            if calls.fetch_add(1, Ordering::SeqCst) < failures {
                return Err(Error::input("disk on fire"));
            }
            Ok(Box::new(JsonLinesSink::create(&path, labels())?) as Box<dyn Sink>)
        })
    }

    fn sink_errors(metrics: &Metrics, kind: &str) -> String {
        metrics
            .encode()
            .lines()
            .find(|l| l.starts_with("vigil_sink_errors_total") && l.contains(kind))
            .unwrap_or_default()
            .to_string()
    }

    /// Log lines written while `f` runs on this thread.
    fn logged(f: impl FnOnce()) -> String {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct LogWriter(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for LogWriter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reopens_after_failures_and_resumes_writing() {
        let dir = scratch("resilient-reopen");
        let path = dir.join("t.jsonl");
        let metrics = Metrics::new().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let log = logged(|| {
            let opener = flaky_opener(path.clone(), 2, calls.clone());
            let mut sink = Resilient::new(
                "jsonl",
                "JSON Lines 't'".into(),
                opener,
                Duration::ZERO,
                metrics.camera("x"),
            );
            assert!(!sink.is_open());
            for i in 0..4 {
                sink.write(&frame(i, i as f64 * 100.0, 32, 24, vec![track(1)], vec![]))
                    .unwrap();
            }
            assert!(sink.is_open());
            sink.finish().unwrap();
        });
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Opening failed in `new` and on frame 0; frames 1..=3 were written.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            sink_errors(&metrics, "jsonl").ends_with(" 2"),
            "{}",
            metrics.encode()
        );
        assert_eq!(
            log.lines().filter(|l| l.contains("WARN")).count(),
            1,
            "{log}"
        );
        assert!(log.contains("disk on fire"), "{log}");
        assert_eq!(log.matches("recovered").count(), 1, "{log}");
        let report = metrics.camera("x").health.report();
        assert!(report.detail.last_error.unwrap().contains("disk on fire"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn retries_no_more_often_than_the_interval() {
        let calls = Arc::new(AtomicUsize::new(0));
        let opener = flaky_opener(PathBuf::from("unused"), usize::MAX, calls.clone());
        let metrics = Metrics::new().unwrap();
        let mut sink = Resilient::new(
            "jsonl",
            "t".into(),
            opener,
            Duration::from_secs(3600),
            metrics.camera("x"),
        );
        for i in 0..50 {
            sink.write(&frame(i, 0.0, 32, 24, vec![], vec![])).unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        sink.finish().unwrap();
    }

    #[test]
    fn survives_a_full_disk() {
        let metrics = Metrics::new().unwrap();
        let opener: Opener = Box::new(|| {
            Ok(Box::new(JsonLinesSink::create(Path::new("/dev/full"), labels())?) as Box<dyn Sink>)
        });
        let log = logged(|| {
            let mut sink = Resilient::new(
                "jsonl",
                "JSON Lines '/dev/full'".into(),
                opener,
                Duration::ZERO,
                metrics.camera("x"),
            );
            for i in 0..5 {
                sink.write(&frame(i, 0.0, 32, 24, vec![track(1)], vec![]))
                    .unwrap();
            }
            sink.finish().unwrap();
        });
        assert!(
            sink_errors(&metrics, "jsonl").ends_with(" 5"),
            "{}",
            metrics.encode()
        );
        assert_eq!(
            log.lines().filter(|l| l.contains("WARN")).count(),
            1,
            "{log}"
        );
        assert!(log.contains("/dev/full"), "{log}");
        assert_eq!(log.matches("recovered").count(), 0, "{log}");
    }
}
