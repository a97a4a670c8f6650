//! Retention of the daemon's recordings: files older than their camera's `record.retain_days`
//! are deleted, and when the free space of a recording folder's disk falls under
//! `record.min_free_mb`, the oldest recordings go first until it is back above (an NVR that
//! stops recording when the disk is full has failed at its one job).
//!
//! Only the files vigil writes are touched (`tracks-*.jsonl`, `video-*.mp4`,
//! `snapshots/track-*.jpg` in a camera's folder), and never the newest of a series, which may
//! still be open. Which files go is decided by a pure function, [`plan`]; [`Retention`] lists the
//! folders, asks the disk, deletes and counts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::metrics::CameraMetrics;
use crate::periodic::Periodic;
use crate::sink::RecordConfig;

/// How often the folders are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// A series of recorded files, by the name vigil gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Series {
    Tracks,
    Video,
    Snapshot,
}

impl Series {
    /// The series of a file in a camera's folder (`in_snapshots`: in its `snapshots` folder),
    /// `None` for any file vigil did not write.
    fn of(name: &str, in_snapshots: bool) -> Option<Self> {
        let named = |prefix: &str, ext: &str| {
            name.len() > prefix.len() + ext.len() && name.starts_with(prefix) && name.ends_with(ext)
        };
        match in_snapshots {
            true if named("track-", ".jpg") => Some(Series::Snapshot),
            false if named("tracks-", ".jsonl") => Some(Series::Tracks),
            false if named("video-", ".mp4") => Some(Series::Video),
            _ => None,
        }
    }
}

/// One recorded file.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub path: PathBuf,
    /// Index of its camera in the list the policy was made for.
    pub camera: usize,
    pub series: Series,
    pub modified: SystemTime,
    pub bytes: u64,
}

/// Why a file is deleted (the `reason` label of `vigil_recordings_deleted_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Age,
    Disk,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Age => "age",
            Reason::Disk => "disk",
        }
    }
}

/// Which files of one disk go, oldest first: every file older than its camera's `retain`
/// (`None`: kept for ever), then, while `free` bytes are short of `min_free`, the oldest of the
/// rest. The newest file of each camera's series stays whatever its age. Returns indices into
/// `files`.
pub fn plan(
    files: &[Recorded],
    now: SystemTime,
    retain: &[Option<Duration>],
    (free, min_free): (u64, u64),
) -> Vec<(usize, Reason)> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| files[i].modified);
    let mut newest: HashMap<(usize, Series), usize> = HashMap::new();
    for &i in &order {
        newest.insert((files[i].camera, files[i].series), i);
    }
    let deletable = order
        .into_iter()
        .filter(|i| newest.get(&(files[*i].camera, files[*i].series)) != Some(i));
    let mut free = free;
    let mut doomed = Vec::new();
    for i in deletable {
        let f = &files[i];
        let expired = retain
            .get(f.camera)
            .copied()
            .flatten()
            .is_some_and(|keep| now.duration_since(f.modified).is_ok_and(|age| age > keep));
        let reason = if expired {
            Reason::Age
        } else if free < min_free {
            Reason::Disk
        } else {
            continue;
        };
        free = free.saturating_add(f.bytes);
        doomed.push((i, reason));
    }
    doomed
}

/// One camera's recordings as retention sees them.
pub struct Watched {
    pub camera: String,
    pub record: RecordConfig,
    pub metrics: CameraMetrics,
}

/// The retention thread of the daemon; stops when dropped.
pub struct Retention {
    /// Held for its drop, which stops the thread.
    _thread: Periodic,
}

impl Retention {
    /// Starts looking after the cameras that record and ask for retention; `None` when none
    /// does.
    pub fn start(cameras: Vec<Watched>) -> Option<Self> {
        let cameras: Vec<Watched> = cameras
            .into_iter()
            .filter(|c| {
                let r = &c.record;
                (r.json || r.video || r.snapshots) && (r.retain_days > 0.0 || r.min_free_mb > 0)
            })
            .collect();
        if cameras.is_empty() {
            return None;
        }
        Periodic::start("retention", CHECK_EVERY, move || {
            sweep(&cameras, SystemTime::now())
        })
        .map_err(|e| tracing::error!("retention: cannot start its thread: {e}"))
        .ok()
        .map(|t| Self { _thread: t })
    }
}

/// One pass: for each recording folder (cameras may share one), list, plan, delete, count.
fn sweep(cameras: &[Watched], now: SystemTime) {
    let mut by_dir: HashMap<&Path, Vec<usize>> = HashMap::new();
    for (i, c) in cameras.iter().enumerate() {
        by_dir.entry(c.record.dir.as_path()).or_default().push(i);
    }
    for (dir, members) in by_dir {
        let mut files = Vec::new();
        for (k, &i) in members.iter().enumerate() {
            list_camera(&dir.join(&cameras[i].camera), k, &mut files);
        }
        let retain: Vec<Option<Duration>> = members
            .iter()
            .map(|&i| retain_of(&cameras[i].record))
            .collect();
        let min_free = members
            .iter()
            .map(|&i| cameras[i].record.min_free_mb.saturating_mul(1 << 20))
            .max()
            .unwrap_or(0);
        let free = if min_free > 0 {
            free_bytes(dir).unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        for (f, reason) in plan(&files, now, &retain, (free, min_free)) {
            let (file, camera) = (&files[f], &cameras[members[files[f].camera]]);
            match std::fs::remove_file(&file.path) {
                Ok(()) => {
                    camera.metrics.recording_deleted(reason.name());
                    tracing::info!(camera = %camera.camera, reason = reason.name(), file = %file.path.display(), "retention: deleted");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %file.path.display(), "retention: cannot delete: {e}")
                }
            }
        }
    }
}

fn retain_of(record: &RecordConfig) -> Option<Duration> {
    (record.retain_days > 0.0).then(|| Duration::from_secs_f64(record.retain_days * 86_400.0))
}

/// The recordings in a camera's folder and its `snapshots` folder.
fn list_camera(folder: &Path, camera: usize, into: &mut Vec<Recorded>) {
    for (dir, in_snapshots) in [
        (folder.to_path_buf(), false),
        (folder.join("snapshots"), true),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue; // not created yet
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(series) = name.to_str().and_then(|n| Series::of(n, in_snapshots)) else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            into.push(Recorded {
                path: entry.path(),
                camera,
                series,
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                bytes: meta.len(),
            });
        }
    }
}

/// Bytes an unprivileged process may still write on the disk holding `dir`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stat` is written by statvfs before it is read.
    let ok = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } == 0;
    ok.then(|| {
        // SAFETY: statvfs succeeded, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        #[allow(clippy::unnecessary_cast)] // the field types differ between targets
        let (blocks, size) = (stat.f_bavail as u64, stat.f_frsize as u64);
        blocks.saturating_mul(size)
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn file(name: &str, camera: usize, series: Series, age: Duration, now: SystemTime) -> Recorded {
        Recorded {
            path: PathBuf::from(name),
            camera,
            series,
            modified: now - age,
            bytes: 100,
        }
    }

    fn names(files: &[Recorded], planned: &[(usize, Reason)]) -> Vec<(String, Reason)> {
        planned
            .iter()
            .map(|&(i, r)| (files[i].path.display().to_string(), r))
            .collect()
    }

    #[test]
    fn exactly_the_expired_files_go_by_age() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let files = vec![
            file("old.jsonl", 0, Series::Tracks, 3 * DAY, now),
            file(
                "day.jsonl",
                0,
                Series::Tracks,
                DAY - Duration::from_secs(1),
                now,
            ),
            file("new.jsonl", 0, Series::Tracks, Duration::ZERO, now),
            file("old.mp4", 0, Series::Video, 2 * DAY, now),
            file("new.mp4", 0, Series::Video, Duration::from_secs(60), now),
            file("old.jpg", 0, Series::Snapshot, 5 * DAY, now),
            file("mid.jpg", 0, Series::Snapshot, 2 * DAY, now),
            file("new.jpg", 0, Series::Snapshot, Duration::ZERO, now),
            // Another camera keeps its files for ever.
            file("yard.jsonl", 1, Series::Tracks, 9 * DAY, now),
            file("yard2.jsonl", 1, Series::Tracks, 8 * DAY, now),
        ];
        let planned = plan(&files, now, &[Some(DAY), None], (u64::MAX, 0));
        assert_eq!(
            names(&files, &planned),
            [
                ("old.jpg".to_string(), Reason::Age),
                ("old.jsonl".to_string(), Reason::Age),
                ("old.mp4".to_string(), Reason::Age),
                ("mid.jpg".to_string(), Reason::Age),
            ]
        );
    }

    #[test]
    fn the_newest_of_a_series_stays_however_old() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let files = vec![
            file("a.mp4", 0, Series::Video, 30 * DAY, now),
            file("b.mp4", 0, Series::Video, 20 * DAY, now),
        ];
        let planned = plan(&files, now, &[Some(DAY)], (0, u64::MAX));
        assert_eq!(
            names(&files, &planned),
            [("a.mp4".to_string(), Reason::Age)]
        );
    }

    #[test]
    fn a_short_disk_frees_the_oldest_first_across_cameras_until_enough() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let files = vec![
            file("gate1.mp4", 0, Series::Video, 5 * DAY, now),
            file("yard1.mp4", 1, Series::Video, 6 * DAY, now),
            file("gate2.mp4", 0, Series::Video, 4 * DAY, now),
            file("yard2.mp4", 1, Series::Video, 3 * DAY, now),
            file("gate3.mp4", 0, Series::Video, DAY, now),
            file("yard3.mp4", 1, Series::Video, DAY, now),
        ];
        // 150 bytes short: two files of 100 bytes, the two oldest.
        let planned = plan(&files, now, &[None, None], (850, 1000));
        assert_eq!(
            names(&files, &planned),
            [
                ("yard1.mp4".to_string(), Reason::Disk),
                ("gate1.mp4".to_string(), Reason::Disk),
            ]
        );
        assert!(plan(&files, now, &[None, None], (1000, 1000)).is_empty());
    }

    #[test]
    fn only_files_vigil_writes_are_recordings() {
        assert_eq!(
            Series::of("tracks-2026-11-30.jsonl", false),
            Some(Series::Tracks)
        );
        assert_eq!(Series::of("video-0001.mp4", false), Some(Series::Video));
        assert_eq!(Series::of("track-12.jpg", true), Some(Series::Snapshot));
        for (name, snap) in [
            ("track-12.jpg", false),
            ("tracks-1.jsonl", true),
            ("notes.txt", false),
            ("video-.mp4", false),
            ("holiday.mp4", false),
        ] {
            assert_eq!(Series::of(name, snap), None, "{name}");
        }
    }
}
