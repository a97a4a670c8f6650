//! MOTChallenge file formats: `seqinfo.ini` sequence descriptions.

use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

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
    fn names_the_missing_or_bad_field() {
        let err = SeqInfo::parse("[Sequence]\nseqLength=3\n", Path::new("x")).unwrap_err();
        assert!(err.contains("frameRate"), "{err}");
        let err =
            SeqInfo::parse("[Sequence]\nframeRate=abc\nseqLength=3\n", Path::new("x")).unwrap_err();
        assert!(err.contains("line 2") && err.contains("frameRate"), "{err}");
    }
}
