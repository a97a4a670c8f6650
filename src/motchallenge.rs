//! MOTChallenge file formats: `seqinfo.ini` sequence descriptions and detection files.

use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::frame::Detection;
use crate::geom::BBox;

/// Detections per frame (index 0 is frame 1), from a MOTChallenge `det.txt`:
/// `frame,id,x,y,w,h,score[,...]`. Errors name the line.
pub fn parse_detections(text: &str) -> std::result::Result<Vec<Vec<Detection>>, String> {
    let mut frames: Vec<Vec<Detection>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 7 {
            return Err(format!(
                "line {}: expected at least 7 comma-separated values, found {}",
                n + 1,
                fields.len()
            ));
        }
        let mut v = [0f64; 7];
        for (slot, text) in v.iter_mut().zip(&fields) {
            *slot = text
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or(format!("line {}: '{text}' is not a finite number", n + 1))?;
        }
        let [frame, _, x, y, w, h, score] = v;
        if frame < 1.0 || frame.fract() != 0.0 {
            return Err(format!(
                "line {}: frame {frame} is not a positive integer",
                n + 1
            ));
        }
        if w <= 0.0 || h <= 0.0 {
            return Err(format!("line {}: box size {w}x{h} is not positive", n + 1));
        }
        let index = frame as usize - 1;
        if frames.len() <= index {
            frames.resize_with(index + 1, Vec::new);
        }
        let bbox = BBox::from_tlwh(x as f32, y as f32, w as f32, h as f32);
        frames[index].push(Detection {
            bbox,
            score: score as f32,
            class_id: 0,
        });
    }
    Ok(frames)
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

    fn parse(text: &str, dir: &Path) -> std::result::Result<Self, String> {
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
        let frame_rate: f64 = number(get("frameRate")?, "frameRate")?;
        if !(frame_rate.is_finite() && frame_rate > 0.0) {
            return Err(format!("frameRate={frame_rate} must be positive"));
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
            length: number(get("seqLength")?, "seqLength")?,
            width: fields
                .get("imWidth")
                .map(|e| number(e, "imWidth"))
                .transpose()?
                .unwrap_or(0),
            height: fields
                .get("imHeight")
                .map(|e| number(e, "imHeight"))
                .transpose()?
                .unwrap_or(0),
            image_ext: fields.get("imExt").map_or(".jpg".into(), |e| e.1.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dets = parse_detections("1,-1,10,20,30,40,0.9\n3,-1,1,2,3,4,0.5,-1,-1,-1\n").unwrap();
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
            ("1,-1,10,20,-30,40,0.9\n", "not positive"),
            ("0,-1,10,20,30,40,0.9\n", "positive integer"),
        ] {
            let err = parse_detections(text).unwrap_err();
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
    }
}
