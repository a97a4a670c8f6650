//! Frame sources: video files, MOTChallenge image sequences, cameras and network streams, behind
//! one trait. A source yields BGR frames with presentation timestamps until its stream ends.

mod image_seq;
mod video;

use std::path::Path;

use opencv::core::Mat;

use crate::error::{Error, Result};

pub use image_seq::ImageSequence;
pub use video::VideoSource;

/// What a source knows about its stream before the first frame.
#[derive(Clone, Debug)]
pub struct SourceInfo {
    /// How the source is named in messages (credentials redacted).
    pub name: String,
    pub width: i32,
    pub height: i32,
    pub fps: f64,
    /// Frames expected, for progress and truncation checks; `None` for live streams.
    pub frame_count: Option<u64>,
    /// Live sources cannot be paused: they drop frames rather than block.
    pub live: bool,
}

/// One decoded frame as a source yields it.
pub struct RawFrame {
    /// 0-based index; for image sequences, the file's frame number minus one.
    pub index: u64,
    pub pts_ms: f64,
    pub image: Mat,
}

pub trait FrameSource: Send {
    fn info(&self) -> &SourceInfo;
    /// The next frame, or `None` at the end of the stream.
    fn next_frame(&mut self) -> Result<Option<RawFrame>>;
    /// Called at the end of the stream: an error if it ended early (a truncated file).
    fn check_complete(&self) -> Result<()> {
        Ok(())
    }
}

/// Opens INPUT as the interface contract defines it: a camera index, a stream URL, a
/// MOTChallenge sequence folder, or a video file.
pub fn open(input: &str) -> Result<Box<dyn FrameSource>> {
    if !input.is_empty() && input.chars().all(|c| c.is_ascii_digit()) {
        let index = input
            .parse()
            .map_err(|_| Error::input(format!("camera index '{input}' is out of range")))?;
        return Ok(Box::new(VideoSource::open_camera(index)?));
    }
    if input.contains("://") {
        return Ok(Box::new(VideoSource::open_url(input)?));
    }
    let path = Path::new(input);
    if path.is_dir() {
        return Ok(Box::new(ImageSequence::open(path)?));
    }
    if !path.exists() {
        return Err(Error::input(format!(
            "input '{input}': no such file or directory"
        )));
    }
    Ok(Box::new(VideoSource::open_file(path)?))
}

/// `rtsp://user:secret@host/...` → `rtsp://user:***@host/...`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("rtsp://admin:pw@10.0.0.1:554/cam"),
            "rtsp://admin:***@10.0.0.1:554/cam"
        );
        assert_eq!(
            redact_url("rtsp://admin@host/cam"),
            "rtsp://admin:***@host/cam"
        );
        assert_eq!(redact_url("rtsp://host/cam?a=b@c"), "rtsp://host/cam?a=b@c");
        assert_eq!(redact_url("video.mp4"), "video.mp4");
    }
}
