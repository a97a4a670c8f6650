//! JSON Lines: one object per frame with its tracks, velocities and forecasts, and the events
//! decided on it; tracks ended between frames (the end of the stream, a camera's outage) get a
//! line of their own, `{"end":…,"events":[…]}`. `vigil track` writes one file; the daemon writes
//! a rotating series of files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::payload::{round_ms, AnyEventRecord, TrackRecord};
use super::{create_numbered, create_output, write_failed, Sink};
use crate::error::Result;
use crate::frame::{EndReason, StreamEnd, TrackedFrame};
use crate::labels::Labels;

pub struct JsonLinesSink {
    path: PathBuf,
    /// Unbuffered: each line goes out in one `write_all`, so a frame is on disk when `write`
    /// returns and a failed write can be cut back to the last complete line.
    out: File,
    /// Bytes of complete lines in the current file.
    written: u64,
    labels: Arc<Labels>,
    rotator: Option<Rotator>,
}

/// When a rotating series starts a new file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// A new file at each UTC midnight.
    pub daily: bool,
    /// A new file before a line would take the current one past this size; 0: no limit.
    pub max_bytes: u64,
}

/// Where a rotating series stands: `DIR/PREFIX-YYYYMMDD[-N].jsonl`.
struct Rotator {
    dir: PathBuf,
    prefix: String,
    rotation: Rotation,
    /// UTC day (days since the Unix epoch) in the current file's name.
    day: i64,
    /// The current file's suffix; 0 is none.
    index: u32,
    /// When the current file was last seen to exist; `None`: look at the next write.
    seen_at: Option<Instant>,
}

/// How often a series looks whether its file still exists. Writes to a deleted file (its folder
/// was removed) succeed but reach nothing, so without looking the loss would last until the
/// next rotation; once a second costs nothing.
const EXISTS_CHECK: Duration = Duration::from_secs(1);

#[derive(Serialize)]
struct FrameRecord<'a> {
    frame: u64,
    pts_ms: f64,
    /// Only on frames the detector skipped (`detect_every`), whose boxes are predictions.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    predicted_only: bool,
    /// Only on frames motion gating kept from the detector: nothing had changed since it last
    /// ran, and its detections were used again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unchanged: bool,
    tracks: Vec<TrackRecord<'a>>,
    /// Only on frames where something happened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<AnyEventRecord<'a>>,
    /// Crossings so far per counting line, when lines are configured.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    lines: BTreeMap<&'a str, LineCounts>,
    /// Tracks inside each zone now, per class, when zones are configured.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    zones: BTreeMap<&'a str, BTreeMap<&'a str, u32>>,
}

/// The events of tracks ended between frames.
#[derive(Serialize)]
struct EndRecord<'a> {
    end: EndReason,
    pts_ms: f64,
    events: Vec<AnyEventRecord<'a>>,
}

#[derive(Serialize)]
struct LineCounts {
    #[serde(rename = "in")]
    inward: u64,
    #[serde(rename = "out")]
    outward: u64,
}

impl JsonLinesSink {
    /// One file, created or truncated (`vigil track`).
    pub fn create(path: &Path, labels: Arc<Labels>) -> Result<Self> {
        // The helper's buffer is still empty, so taking the file out of it loses nothing.
        let (out, _) = create_output(path)?.into_parts();
        Ok(Self {
            path: path.to_path_buf(),
            out,
            written: 0,
            labels,
            rotator: None,
        })
    }

    /// A series of files `DIR/PREFIX-YYYYMMDD.jsonl`, `…-YYYYMMDD-1.jsonl`, … (the daemon). An
    /// existing file is never reused: a restarted daemon starts the next free suffix.
    pub fn rotating(
        dir: &Path,
        prefix: &str,
        labels: Arc<Labels>,
        rotation: Rotation,
    ) -> Result<Self> {
        let day = unix_day(SystemTime::now());
        let (path, out, index) = open_free(dir, prefix, day, 0)?;
        Ok(Self {
            path,
            out,
            written: 0,
            labels,
            rotator: Some(Rotator {
                dir: dir.to_path_buf(),
                prefix: prefix.to_string(),
                rotation,
                day,
                index,
                seen_at: Some(Instant::now()),
            }),
        })
    }

    /// The file being written now.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn line(&self, f: &TrackedFrame) -> Result<Vec<u8>> {
        let record = FrameRecord {
            frame: f.frame.meta.number,
            pts_ms: round_ms(f.frame.meta.pts_ms),
            predicted_only: !f.detected,
            unchanged: f.unchanged,
            tracks: TrackRecord::all(&f.tracks, &f.scene, &self.labels),
            events: AnyEventRecord::all(&f.events, &f.scene, &self.labels, None),
            lines: f
                .scene
                .layout
                .lines
                .iter()
                .zip(&f.scene.line_counts)
                .map(|((name, _), c)| {
                    let counts = LineCounts {
                        inward: c[0],
                        outward: c[1],
                    };
                    (&**name, counts)
                })
                .collect(),
            zones: f
                .scene
                .layout
                .zones
                .iter()
                .zip(&f.scene.occupancy)
                .map(|((name, _), by_class)| {
                    let named = by_class
                        .iter()
                        .map(|(&class, &n)| (self.labels.name(class), n))
                        .collect();
                    (&**name, named)
                })
                .collect(),
        };
        let mut line = serde_json::to_vec(&record).map_err(|e| write_failed(&self.path, e))?;
        line.push(b'\n');
        Ok(line)
    }

    /// Writes one complete line, first moving to a new file if the series is due for one.
    fn write_line(&mut self, line: &[u8], now: SystemTime) -> Result<()> {
        let day = unix_day(now);
        let due = self
            .rotator
            .as_ref()
            .is_some_and(|r| r.due(day, self.written, line.len() as u64));
        if due {
            self.rotate(day)?;
        }
        self.check_exists()?;
        if let Err(e) = self.out.write_all(line) {
            self.cut_partial_line();
            return Err(write_failed(&self.path, e));
        }
        self.written += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self, day: i64) -> Result<()> {
        let Some(r) = self.rotator.as_mut() else {
            return Ok(());
        };
        let start = if day == r.day { r.index + 1 } else { 0 };
        let (path, out, index) = open_free(&r.dir, &r.prefix, day, start)?;
        (r.day, r.index, r.seen_at) = (day, index, Some(Instant::now()));
        // Every line already went out whole, so dropping the old file leaves it complete.
        (self.path, self.out, self.written) = (path, out, 0);
        Ok(())
    }

    /// Fails if the series' file was deleted, so the caller can open a new one.
    fn check_exists(&mut self) -> Result<()> {
        let Some(r) = self.rotator.as_mut() else {
            return Ok(());
        };
        if r.seen_at.is_some_and(|t| t.elapsed() < EXISTS_CHECK) {
            return Ok(());
        }
        if !self.path.exists() {
            return Err(write_failed(&self.path, "the file was deleted"));
        }
        r.seen_at = Some(Instant::now());
        Ok(())
    }

    /// After a failed write (a full disk) part of a line may have reached the file: cut it off so
    /// the file still ends with a complete line. Best effort: the write already failed.
    fn cut_partial_line(&mut self) {
        let _ = self.out.set_len(self.written);
        let _ = self.out.seek(SeekFrom::Start(self.written));
    }
}

impl Rotator {
    fn due(&self, day: i64, written: u64, len: u64) -> bool {
        let new_day = self.rotation.daily && day != self.day;
        // An empty file takes any line, so a line longer than the limit cannot loop.
        let full = self.rotation.max_bytes > 0
            && written > 0
            && written.saturating_add(len) > self.rotation.max_bytes;
        new_day || full
    }
}

/// Creates `DIR/PREFIX-YYYYMMDD.jsonl`, or the first free `…-N.jsonl` from suffix `start` on,
/// never overwriting an existing file.
fn open_free(dir: &Path, prefix: &str, day: i64, start: u32) -> Result<(PathBuf, File, u32)> {
    let date = UtcTime::from_day(day).date_stamp();
    create_numbered(dir, &format!("{prefix}-{date}"), "jsonl", start)
}

impl Sink for JsonLinesSink {
    fn describe(&self) -> String {
        format!("JSON Lines '{}'", self.path.display())
    }

    fn kind(&self) -> &'static str {
        "jsonl"
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let line = self.line(f)?;
        self.write_line(&line, SystemTime::now())
    }

    /// A line that is not a frame, `{"end":"stream"|"outage","pts_ms":…,"events":[…]}`, when
    /// tracks ended between frames.
    fn write_end(&mut self, end: &StreamEnd) -> Result<()> {
        let events = AnyEventRecord::all(&end.events, &end.scene, &self.labels, None);
        if events.is_empty() {
            return Ok(());
        }
        let record = EndRecord {
            end: end.reason,
            pts_ms: round_ms(end.pts_ms),
            events,
        };
        let mut line = serde_json::to_vec(&record).map_err(|e| write_failed(&self.path, e))?;
        line.push(b'\n');
        self.write_line(&line, SystemTime::now())
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| write_failed(&self.path, e))
    }
}

/// Days since the Unix epoch of a UTC wall-clock time (a clock before 1970 counts as 1970).
fn unix_day(t: SystemTime) -> i64 {
    unix_secs(t).div_euclid(86_400)
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A UTC calendar date and time of day, for file names (no time-zone crate needed for UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    pub fn of(t: SystemTime) -> Self {
        let secs = unix_secs(t);
        let of_day = secs.rem_euclid(86_400) as u32;
        Self {
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            ..Self::from_day(secs.div_euclid(86_400))
        }
    }

    fn from_day(days: i64) -> Self {
        let (year, month, day) = days_to_civil(days);
        Self {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    /// `YYYYMMDD`
    pub fn date_stamp(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `HHMMSS`
    pub fn time_stamp(&self) -> String {
        format!("{:02}{:02}{:02}", self.hour, self.minute, self.second)
    }
}

/// The proleptic Gregorian date `(year, month, day)` of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`: eras of 400 years, years starting in March so the leap
/// day falls last).
pub(crate) fn days_to_civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::recording::fixtures::{frame, labels, scratch, started, track};

    const DAY: u64 = 86_400;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn days_to_civil_on_known_dates() {
        assert_eq!(days_to_civil(0), (1970, 1, 1));
        assert_eq!(days_to_civil(11_016), (2000, 2, 29));
        assert_eq!(days_to_civil(11_017), (2000, 3, 1));
        assert_eq!(days_to_civil(20_786), (2026, 11, 29));
        assert_eq!(days_to_civil(-1), (1969, 12, 31));
        let t = UtcTime::of(at(20_786 * DAY + 13 * 3600 + 4 * 60 + 5));
        assert_eq!(
            (t.date_stamp(), t.time_stamp()),
            ("20261129".into(), "130405".into())
        );
    }

    #[test]
    fn rotates_by_size_on_line_boundaries_and_never_overwrites() {
        let dir = scratch("jsonl-rotate-size");
        let today = UtcTime::of(SystemTime::now()).date_stamp();
        // A file of an earlier run must survive: the series starts at the next free suffix.
        std::fs::write(dir.join(format!("tracks-{today}.jsonl")), "old\n").unwrap();
        let rotation = Rotation {
            daily: true,
            max_bytes: 250,
        };
        let mut sink = JsonLinesSink::rotating(&dir, "tracks", labels(), rotation).unwrap();
        assert!(sink.path().ends_with(format!("tracks-{today}-1.jsonl")));
        for i in 0..10 {
            sink.write(&frame(i, i as f64 * 100.0, 32, 24, vec![track(1)], vec![]))
                .unwrap();
        }
        sink.finish().unwrap();
        let files = names(&dir);
        assert!(files.len() > 2, "{files:?}");
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("tracks-{today}.jsonl"))).unwrap(),
            "old\n"
        );
        let mut frames = 0;
        for name in &files[..] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            if text == "old\n" {
                continue;
            }
            assert!(text.len() <= 250 && text.ends_with('\n'), "{name}: {text}");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["tracks"][0]["id"], 1);
                frames += 1;
            }
        }
        assert_eq!(frames, 10);
        // A restart takes a suffix of its own.
        let again = JsonLinesSink::rotating(&dir, "tracks", labels(), rotation).unwrap();
        assert!(!files.contains(&again.path().file_name().unwrap().to_string_lossy().into()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_new_file_at_utc_midnight_when_daily() {
        let dir = scratch("jsonl-rotate-daily");
        let rotation = Rotation {
            daily: true,
            max_bytes: 0,
        };
        let mut sink = JsonLinesSink::rotating(&dir, "t", labels(), rotation).unwrap();
        let first = sink.path().to_path_buf();
        // Far from today, so the file opened first (today's) is not one of these.
        let day = 11_016 * DAY;
        sink.write_line(b"{}\n", at(day - 1)).unwrap();
        sink.write_line(b"{}\n", at(day)).unwrap();
        sink.write_line(b"{}\n", at(day + 3600)).unwrap();
        sink.write_line(b"{}\n", at(day + DAY)).unwrap();
        assert!(dir.join("t-20000228.jsonl").is_file());
        assert_eq!(
            std::fs::read_to_string(dir.join("t-20000229.jsonl")).unwrap(),
            "{}\n{}\n"
        );
        assert!(dir.join("t-20000301.jsonl").is_file());
        assert!(first.is_file(), "the file opened first stays");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_deleted_file_is_an_error() {
        let dir = scratch("jsonl-deleted");
        let rotation = Rotation {
            daily: true,
            max_bytes: 0,
        };
        let mut sink = JsonLinesSink::rotating(&dir, "t", labels(), rotation).unwrap();
        sink.write_line(b"{}\n", SystemTime::now()).unwrap();
        std::fs::remove_file(sink.path()).unwrap();
        sink.rotator.as_mut().unwrap().seen_at = None;
        let err = sink.write_line(b"{}\n", SystemTime::now()).unwrap_err();
        assert!(err.to_string().contains("deleted"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn events_are_written_with_their_frame() {
        let dir = scratch("jsonl-events");
        let path = dir.join("t.jsonl");
        let mut sink = JsonLinesSink::create(&path, labels()).unwrap();
        sink.write(&frame(0, 0.0, 32, 24, vec![track(7)], vec![started(7)]))
            .unwrap();
        sink.write(&frame(1, 100.0, 32, 24, vec![track(7)], vec![]))
            .unwrap();
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["events"][0]["type"], "track_started");
        assert_eq!(lines[0]["events"][0]["id"], 7);
        assert!(lines[1].get("events").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_panic() {
        let mut sink = JsonLinesSink::create(Path::new("/dev/full"), labels()).unwrap();
        let err = sink
            .write(&frame(0, 0.0, 32, 24, vec![track(1)], vec![]))
            .unwrap_err();
        assert!(err.to_string().contains("/dev/full"), "{err}");
    }
}
