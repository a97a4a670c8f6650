//! MOTChallenge file formats: `seqinfo.ini` sequence descriptions and detection files.

use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::frame::Detection;
use crate::geom::{Affine, BBox};

/// The numeric fields of every non-empty line of a MOTChallenge text file (`frame,id,x,y,w,h,…`),
/// checked: at least `min_fields`, all finite, a positive integer frame, an integer id, a
/// non-negative size. Errors name the line; callers add the file.
pub fn parse_rows(
    text: &str,
    min_fields: usize,
) -> std::result::Result<Vec<(usize, Vec<f64>)>, String> {
    let lines = without_bom(text)
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    lines
        .map(|(n, line)| {
            let parts: Vec<&str> = line.split(',').map(str::trim).collect();
            if parts.len() < min_fields {
                return Err(format!(
                    "line {n}: expected at least {min_fields} comma-separated values, found {}",
                    parts.len()
                ));
            }
            let v = finite_numbers(n, parts.iter().copied())?;
            if v[0] < 1.0 || v[0].fract() != 0.0 {
                return Err(format!(
                    "line {n}: frame {} is not a positive integer",
                    v[0]
                ));
            }
            if v[1].fract() != 0.0 {
                return Err(format!("line {n}: id {} is not an integer", v[1]));
            }
            if v[4] < 0.0 || v[5] < 0.0 {
                return Err(format!("line {n}: negative box size {}x{}", v[4], v[5]));
            }
            Ok((n, v))
        })
        .collect()
}

/// The fields of line `n` as numbers, every one finite; the error names the line and the field.
fn finite_numbers<'a>(
    n: usize,
    fields: impl Iterator<Item = &'a str>,
) -> std::result::Result<Vec<f64>, String> {
    fields
        .map(|p| {
            p.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or(format!("line {n}: '{p}' is not a finite number"))
        })
        .collect()
}

/// The longest sequence a `seqinfo.ini` may describe: 1,000,000 frames is over 9 hours at
/// 30 frames/s (MOTChallenge's longest is 3,315). Per-frame tables are sized by the length, so
/// an absurd one must be refused before it is allocated.
pub const MAX_SEQ_LENGTH: u64 = 1_000_000;
/// The frame rates a sequence may declare, in frames per second.
const MIN_FRAME_RATE: f64 = 0.01;
const MAX_FRAME_RATE: f64 = 1000.0;

/// The largest coordinate, size or score a detection line may have: the tracker's own limit
/// (a value of 1e100 once became an infinite `f32` box and NaN tracks).
const MAX_COORDINATE: f64 = crate::track::MAX_COORDINATE as f64;

/// One line of a MOTChallenge `det.txt`, at the precision it was written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectionRow {
    /// 1-based, within the sequence.
    pub frame: u64,
    /// `[x, y, w, h]`, top-left corner and size.
    pub tlwh: [f64; 4],
    pub score: f64,
}

/// The lines of a MOTChallenge `det.txt` (`frame,id,x,y,w,h,score[,...]`) for a sequence of
/// `length` frames, in file order. A frame outside `1..=length` is an error naming its line: the
/// tables are sized by the sequence, never by the file.
pub fn parse_detection_rows(
    text: &str,
    length: u64,
) -> std::result::Result<Vec<DetectionRow>, String> {
    parse_rows(text, 7)?
        .into_iter()
        .map(|(n, v)| {
            if v[0] > length as f64 {
                return Err(format!(
                    "line {n}: frame {} is outside the sequence (seqLength={length})",
                    v[0]
                ));
            }
            if v[2..6].iter().any(|c| c.abs() > MAX_COORDINATE) || v[6].abs() > MAX_COORDINATE {
                return Err(format!(
                    "line {n}: box {:?},{:?},{:?},{:?} or score {:?} is beyond ±{MAX_COORDINATE}",
                    v[2], v[3], v[4], v[5], v[6]
                ));
            }
            Ok(DetectionRow {
                frame: v[0] as u64,
                tlwh: [v[2], v[3], v[4], v[5]],
                score: v[6],
            })
        })
        .collect()
}

/// Detections per frame (index 0 is frame 1) of a sequence of `length` frames, from a
/// MOTChallenge `det.txt`, checked as [`parse_detection_rows`] checks them.
pub fn parse_detections(
    text: &str,
    length: u64,
) -> std::result::Result<Vec<Vec<Detection>>, String> {
    let mut frames: Vec<Vec<Detection>> = Vec::new();
    for row in parse_detection_rows(text, length)? {
        let index = row.frame as usize - 1;
        if frames.len() <= index {
            frames.resize_with(index + 1, Vec::new);
        }
        let [x, y, w, h] = row.tlwh.map(|c| c as f32);
        frames[index].push(Detection {
            bbox: BBox::from_tlwh(x, y, w, h),
            score: row.score as f32,
            class_id: 0,
        });
    }
    Ok(frames)
}

/// Camera motion per frame in BoT-SORT's GMC format: line `i` (0-based) is `i`, then the 2×3
/// affine `a b c d e f` (tab- or space-separated) that maps frame `i`'s coordinates onto frame
/// `i + 1`'s (frames from 1; line 0 is the identity). Returns one map per frame: the element at
/// index `i` is the camera's motion *into* frame `i + 1`. One line per frame of the sequence,
/// every map finite and invertible; errors name the line.
pub fn parse_camera_motion(text: &str, length: u64) -> std::result::Result<Vec<Affine>, String> {
    let text = without_bom(text);
    let mut maps = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        if maps.len() as u64 >= length {
            return Err(format!(
                "line {n}: more lines than the sequence's {length} frames (a file for another sequence, or for the whole of it?)"
            ));
        }
        let v = finite_numbers(n, line.split_whitespace())?;
        let [index, a, b, c, d, e, f] = v[..] else {
            return Err(format!(
                "line {n}: expected 7 values (index, then a11 a12 a13 a21 a22 a23), found {}",
                v.len()
            ));
        };
        if index != maps.len() as f64 {
            return Err(format!(
                "line {n}: index {index}, expected {} (one line per frame, in order)",
                maps.len()
            ));
        }
        let map = Affine([a, b, c, d, e, f]);
        if !map.is_usable() {
            return Err(format!(
                "line {n}: the map {:?} is singular or beyond any camera's motion between two frames (zoom over 2×, shift over 10,000 px)",
                map.0
            ));
        }
        maps.push(map);
    }
    if (maps.len() as u64) < length {
        return Err(format!(
            "{} lines for a sequence of {length} frames: one line per frame is needed",
            maps.len()
        ));
    }
    Ok(maps)
}

/// The sequence folders directly under `root`: those holding `marker` (e.g. `seqinfo.ini`), sorted.
pub fn sequence_dirs(root: &Path, marker: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(root).input_err(|| format!("folder '{}'", root.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(marker).is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(Error::input(format!(
            "folder '{}': no sequences (SEQ/{marker}) in it",
            root.display()
        )));
    }
    Ok(dirs)
}

/// The `[Sequence]` section of a MOTChallenge `seqinfo.ini`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqInfo {
    pub name: String,
    pub dir: PathBuf,
    pub image_dir: PathBuf,
    pub frame_rate: f64,
    pub length: u64,
    pub width: i32,
    pub height: i32,
    pub image_ext: String,
}

impl SeqInfo {
    /// Reads `DIR/seqinfo.ini`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("seqinfo.ini");
        let text = std::fs::read_to_string(&path)
            .input_err(|| format!("cannot read '{}'", path.display()))?;
        Self::parse(&text, dir).map_err(|e| Error::input(format!("'{}': {e}", path.display())))
    }

    /// The text of a `seqinfo.ini` in folder `dir`.
    pub fn parse(text: &str, dir: &Path) -> std::result::Result<Self, String> {
        let text = without_bom(text);
        let mut in_sequence = false;
        let mut fields = std::collections::HashMap::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                in_sequence = line.eq_ignore_ascii_case("[Sequence]");
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or(format!("line {}: expected key=value", n + 1))?;
            if in_sequence {
                fields.insert(key.trim().to_string(), (n + 1, value.trim().to_string()));
            }
        }
        let get = |key: &str| {
            fields
                .get(key)
                .ok_or(format!("missing '{key}' in [Sequence]"))
        };
        fn number<T: std::str::FromStr>(
            entry: &(usize, String),
            key: &str,
        ) -> std::result::Result<T, String> {
            entry
                .1
                .parse()
                .map_err(|_| format!("line {}: {key}={} is not a number", entry.0, entry.1))
        }
        let rate_entry = get("frameRate")?;
        let frame_rate: f64 = number(rate_entry, "frameRate")?;
        // Times are frame numbers over the rate: a rate near 0 sends them past any clock.
        if !(MIN_FRAME_RATE..=MAX_FRAME_RATE).contains(&frame_rate) {
            return Err(format!(
                "line {}: frameRate={} must be between {MIN_FRAME_RATE} and {MAX_FRAME_RATE} frames/s",
                rate_entry.0, rate_entry.1
            ));
        }
        let length_entry = get("seqLength")?;
        let length: u64 = number(length_entry, "seqLength")?;
        if length > MAX_SEQ_LENGTH {
            return Err(format!(
                "line {}: seqLength={length} is more than {MAX_SEQ_LENGTH} frames",
                length_entry.0
            ));
        }
        let image_dir = fields.get("imDir").map_or("img1".into(), |e| e.1.clone());
        Ok(Self {
            name: fields.get("name").map_or_else(
                || {
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                },
                |e| e.1.clone(),
            ),
            dir: dir.to_path_buf(),
            image_dir: dir.join(image_dir),
            frame_rate,
            length,
            width: image_size(fields.get("imWidth"), "imWidth")?,
            height: image_size(fields.get("imHeight"), "imHeight")?,
            image_ext: fields.get("imExt").map_or(".jpg".into(), |e| e.1.clone()),
        })
    }
}

/// A declared image width or height (`imWidth`, `imHeight`): absent is 0 (unknown), present
/// must be a positive number of pixels.
fn image_size(entry: Option<&(usize, String)>, key: &str) -> std::result::Result<i32, String> {
    let Some((line, value)) = entry else {
        return Ok(0);
    };
    match value.parse::<i32>() {
        Ok(pixels) if pixels > 0 => Ok(pixels),
        _ => Err(format!(
            "line {line}: {key}={value} is not a size in pixels"
        )),
    }
}

/// The text without the byte-order mark some Windows editors put first: invisible in a message
/// about "'\u{feff}1' is not a number", and no part of the data.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_motion_files_give_one_map_per_frame_and_name_bad_lines() {
        let good = "0\t1.0\t0.0\t0.0\t0.0\t1.0\t0.0\t\n1\t1.004\t-0.003\t2.5\t0.003\t1.004\t-2.0\n";
        let maps = parse_camera_motion(good, 2).unwrap();
        assert_eq!(maps[0], Affine::IDENTITY);
        assert_eq!(maps[1].0[2], 2.5);
        let e = parse_camera_motion(good, 3).unwrap_err();
        assert!(e.contains("2 lines for a sequence of 3 frames"), "{e}");
        let e = parse_camera_motion(good, 1).unwrap_err();
        assert!(e.starts_with("line 2: more lines"), "{e}");
        let e = parse_camera_motion("0 1 0 0 0 1\n", 1).unwrap_err();
        assert!(e.starts_with("line 1: expected 7 values"), "{e}");
        let e = parse_camera_motion("0 1 0 0 0 x 0\n", 1).unwrap_err();
        assert!(e.contains("'x' is not a finite number"), "{e}");
        let e = parse_camera_motion("0 1 0 0 0 1 0\n5 1 0 0 0 1 0\n", 2).unwrap_err();
        assert!(e.starts_with("line 2: index 5, expected 1"), "{e}");
        let e = parse_camera_motion("0 1 0 0 0 1 0\n1 0 0 3 0 0 4\n", 2).unwrap_err();
        assert!(
            e.starts_with("line 2: the map") && e.contains("singular"),
            "{e}"
        );
        // Found by fuzzing: maps no camera makes overflowed the tracker's state.
        for absurd in [
            "1 1 0 1064514 0 1 0",
            "1 7.7e86 0 0 0 3 0",
            "1 1 0 0 0 9.99 0",
        ] {
            let text = format!("0 1 0 0 0 1 0\n{absurd}\n");
            let e = parse_camera_motion(&text, 2).unwrap_err();
            assert!(e.contains("beyond any camera's motion"), "{e}");
        }
    }

    const INI: &str = "[Sequence]\nname=MOT17-02\nimDir=img1\nframeRate=30\nseqLength=600\nimWidth=1920\nimHeight=1080\nimExt=.jpg\n";

    #[test]
    fn parses_a_sequence_description() {
        let s = SeqInfo::parse(INI, Path::new("/d/MOT17-02")).unwrap();
        assert_eq!(s.name, "MOT17-02");
        assert_eq!(s.frame_rate, 30.0);
        assert_eq!(s.length, 600);
        assert_eq!((s.width, s.height), (1920, 1080));
        assert_eq!(s.image_dir, Path::new("/d/MOT17-02/img1"));
    }

    #[test]
    fn parses_detections_by_frame() {
        let dets =
            parse_detections("1,-1,10,20,30,40,0.9\n3,-1,1,2,3,4,0.5,-1,-1,-1\n", 5).unwrap();
        assert_eq!(dets.len(), 3);
        assert_eq!(dets[0][0].bbox, BBox::new(10.0, 20.0, 40.0, 60.0));
        assert!(dets[1].is_empty());
        assert_eq!(dets[2][0].score, 0.5);
    }

    #[test]
    fn rejects_malformed_detection_lines_naming_the_line() {
        for (text, expect) in [
            ("1,-1,10,20,30,40,0.9\n1,-1,10,20\n", "line 2"),
            ("1,-1,10,20,30,nan,0.9\n", "not a finite number"),
            ("1,-1,10,20,-30,40,0.9\n", "negative box size"),
            ("0,-1,10,20,30,40,0.9\n", "positive integer"),
            // Sized by the sequence, not the file: this once asked for 2.4 TB and aborted.
            (
                "1,-1,10,10,20,50,0.9\n99999999999,-1,10,10,20,50,0.9,-1,-1,-1\n",
                "line 2: frame 99999999999 is outside the sequence (seqLength=600)",
            ),
            // Found by fuzzing: finite as f64, infinite as the tracker's f32.
            (
                "1,6,2.5e100,75,2515,4,51\n",
                "line 1: box 2.5e100,75.0,2515.0,4.0 or score 51.0 is beyond",
            ),
        ] {
            let err = parse_detections(text, 600).unwrap_err();
            assert!(err.contains(expect), "{text:?}: {err}");
        }
    }

    #[test]
    fn names_the_missing_or_bad_field() {
        let err = SeqInfo::parse("[Sequence]\nseqLength=3\n", Path::new("x")).unwrap_err();
        assert!(err.contains("frameRate"), "{err}");
        let err =
            SeqInfo::parse("[Sequence]\nframeRate=abc\nseqLength=3\n", Path::new("x")).unwrap_err();
        assert!(err.contains("line 2") && err.contains("frameRate"), "{err}");
        let err = SeqInfo::parse(
            "[Sequence]\nframeRate=30\nseqLength=99999999999\n",
            Path::new("x"),
        )
        .unwrap_err();
        assert!(err.contains("line 3: seqLength=99999999999"), "{err}");
        let with_bom = SeqInfo::parse(
            "\u{feff}[Sequence]\nframeRate=30\nseqLength=3\n",
            Path::new("x"),
        );
        assert_eq!(with_bom.map(|s| s.length), Ok(3));
        assert_eq!(
            parse_rows("\u{feff}1,-1,10,20,30,40,0.9\n", 7)
                .unwrap()
                .len(),
            1
        );
        for (ini, line) in [
            (
                "[Sequence]\nframeRate=1e-300\nseqLength=3\n",
                "line 2: frameRate=1e-300",
            ),
            (
                "[Sequence]\nframeRate=30\nseqLength=3\nimWidth=0\n",
                "line 4: imWidth=0",
            ),
            (
                "[Sequence]\nframeRate=30\nseqLength=3\nimHeight=-5\n",
                "line 4: imHeight=-5",
            ),
        ] {
            let err = SeqInfo::parse(ini, Path::new("x")).unwrap_err();
            assert!(err.contains(line), "{err}");
        }
    }
}
