//! MOTChallenge sequence folders: `seqinfo.ini` plus numbered images in `img1/`.

use std::path::{Path, PathBuf};

use opencv::imgcodecs;
use opencv::prelude::*;

use super::{FrameSource, RawFrame, SourceInfo};
use crate::error::{Context, Error, Result};
use crate::motchallenge::SeqInfo;

pub struct ImageSequence {
    info: SourceInfo,
    /// (frame number from the file name, path), in frame order.
    images: Vec<(u64, PathBuf)>,
    next: usize,
    frame_rate: f64,
}

impl ImageSequence {
    pub fn open(dir: &Path) -> Result<Self> {
        let seq = SeqInfo::load(dir)?;
        let entries = std::fs::read_dir(&seq.image_dir).input_err(|| {
            format!(
                "sequence '{}': cannot list '{}'",
                dir.display(),
                seq.image_dir.display()
            )
        })?;
        let mut images: Vec<(u64, PathBuf)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|x| x.to_str())
                    == Some(seq.image_ext.trim_start_matches('.'))
            })
            .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
            .filter(|(n, _)| *n >= 1 && *n <= seq.length)
            .collect();
        images.sort();
        if images.is_empty() {
            return Err(Error::input(format!(
                "sequence '{}': no numbered '{}' images in '{}'",
                dir.display(),
                seq.image_ext,
                seq.image_dir.display()
            )));
        }
        let (width, height) = (seq.width, seq.height);
        let info = SourceInfo {
            name: dir.display().to_string(),
            width,
            height,
            fps: seq.frame_rate,
            frame_count: Some(images.len() as u64),
            live: false,
        };
        let mut source = Self {
            info,
            images,
            next: 0,
            frame_rate: seq.frame_rate,
        };
        // seqinfo sizes are optional and sometimes wrong: the first image is the truth.
        let first = source.read(0)?;
        source.info.width = first.cols();
        source.info.height = first.rows();
        Ok(source)
    }

    fn read(&self, i: usize) -> Result<opencv::core::Mat> {
        let path = &self.images[i].1;
        let image = imgcodecs::imread(path, imgcodecs::IMREAD_COLOR)
            .input_err(|| format!("image '{}'", path.display()))?;
        if image.empty() {
            return Err(Error::input(format!(
                "image '{}': cannot be decoded",
                path.display()
            )));
        }
        Ok(image)
    }
}

impl FrameSource for ImageSequence {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<RawFrame>> {
        if self.next >= self.images.len() {
            return Ok(None);
        }
        let image = self.read(self.next)?;
        let index = self.images[self.next].0 - 1;
        self.next += 1;
        Ok(Some(RawFrame {
            index,
            pts_ms: index as f64 * 1000.0 / self.frame_rate,
            image,
        }))
    }
}
