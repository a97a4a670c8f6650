//! Video files, decoded by FFmpeg directly (`src/source/decoder.c`): a decoder whose memory does
//! not grow with the machine's cores, pictures converted straight into the frame vigil keeps,
//! and the container's own presentation time for every frame.

use std::ffi::{c_char, c_double, c_int, c_uchar, CString};
use std::path::Path;

use opencv::core::{Mat, CV_8UC3};
use opencv::prelude::*;

use super::{nominal_fps, FrameClock, FrameSource, RawFrame, SourceInfo};
use crate::error::{Context, Error, Result};

#[repr(C)]
struct RawDecoder {
    _private: [u8; 0],
}

extern "C" {
    fn vigil_decoder_open(
        path: *const c_char,
        threads: c_int,
        frame_thread_pixels: i64,
        why: *mut c_int,
    ) -> *mut RawDecoder;
    fn vigil_decoder_info(
        d: *const RawDecoder,
        width: *mut c_int,
        height: *mut c_int,
        fps: *mut c_double,
        frame_count: *mut i64,
        duration_ms: *mut c_double,
        rotation: *mut c_int,
    );
    fn vigil_decoder_next(
        d: *mut RawDecoder,
        width: *mut c_int,
        height: *mut c_int,
        pts_ms: *mut c_double,
        lost: *mut c_int,
    ) -> c_int;
    fn vigil_decoder_copy_bgr(d: *mut RawDecoder, dst: *mut c_uchar, step: c_int) -> c_int;
    fn vigil_decoder_close(d: *mut RawDecoder);
}

/// Decoder threads: two keep a frame's decoding off the critical path without the memory of
/// one picture set per core.
const DECODER_THREADS: usize = 2;
/// Up to 1080p the threads decode two frames at once (one more picture held, 6 MB); above,
/// they share the slices of one frame, so a 4K decoder holds no extra pictures.
const FRAME_THREAD_PIXELS: i64 = 1920 * 1080;
/// Damaged stretches logged one by one; after these, only the total at the end.
const LOGGED_DAMAGE: u64 = 3;

pub struct FileSource {
    decoder: *mut RawDecoder,
    info: SourceInfo,
    duration_ms: Option<f64>,
    clock: FrameClock,
    /// Frames lost to damaged data (the decoder refused their packets).
    damaged: u64,
    /// The turn that shows the pictures upright, from the file's metadata.
    upright: Upright,
}

/// A clockwise turn by a multiple of 90°, as a video's display matrix asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upright {
    AsIs,
    Clockwise90,
    HalfTurn,
    Counterclockwise90,
}

impl Upright {
    /// Any other angle (a skewed matrix) is shown as decoded, as OpenCV does.
    fn from_degrees(degrees: c_int) -> Self {
        match degrees {
            90 => Upright::Clockwise90,
            180 => Upright::HalfTurn,
            270 => Upright::Counterclockwise90,
            _ => Upright::AsIs,
        }
    }

    fn swaps_sides(self) -> bool {
        matches!(self, Upright::Clockwise90 | Upright::Counterclockwise90)
    }

    /// The picture turned upright.
    fn apply(self, image: Mat) -> Result<Mat> {
        let code = match self {
            Upright::AsIs => return Ok(image),
            Upright::Clockwise90 => opencv::core::ROTATE_90_CLOCKWISE,
            Upright::HalfTurn => opencv::core::ROTATE_180,
            Upright::Counterclockwise90 => opencv::core::ROTATE_90_COUNTERCLOCKWISE,
        };
        let mut turned = Mat::default();
        opencv::core::rotate(&image, &mut turned, code)
            .internal_err(|| "turning a picture upright".into())?;
        Ok(turned)
    }
}

// SAFETY: the decoder is owned by this value alone, and FFmpeg's contexts may be used from any
// one thread at a time; a `FileSource` is moved between threads, never shared.
unsafe impl Send for FileSource {}

impl FileSource {
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::input(format!("input '{name}': the path holds a NUL byte")))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut why = 0;
        // SAFETY: a valid NUL-terminated path and out-pointer; the result is null or ours.
        let decoder = unsafe {
            vigil_decoder_open(
                c_path.as_ptr(),
                threads.min(DECODER_THREADS) as c_int,
                FRAME_THREAD_PIXELS,
                &mut why,
            )
        };
        if decoder.is_null() {
            let what = match why {
                2 => "no decoder for its video stream in this FFmpeg",
                _ => "not a video FFmpeg can decode",
            };
            return Err(Error::input(format!("input '{name}': {what}")));
        }
        let (mut width, mut height, mut fps, mut count, mut duration) = (0, 0, 0.0, 0i64, 0.0);
        let mut rotation = 0;
        // SAFETY: `decoder` is live; the out-pointers are valid.
        unsafe {
            vigil_decoder_info(
                decoder,
                &mut width,
                &mut height,
                &mut fps,
                &mut count,
                &mut duration,
                &mut rotation,
            )
        };
        let upright = Upright::from_degrees(rotation);
        if upright.swaps_sides() {
            (width, height) = (height, width);
        }
        let fps = nominal_fps(fps);
        let source = Self {
            decoder,
            info: SourceInfo {
                name: name.clone(),
                width,
                height,
                fps,
                frame_count: (count > 0).then_some(count as u64),
                live: false,
            },
            duration_ms: (duration.is_finite() && duration > 0.0).then_some(duration),
            clock: FrameClock::new(fps),
            damaged: 0,
            upright,
        };
        if width <= 0 || height <= 0 {
            // `source` is dropped here, closing the decoder.
            return Err(Error::input(format!(
                "input '{name}': not a video FFmpeg can decode"
            )));
        }
        Ok(source)
    }

    /// Counts frames lost to damaged data; they keep their numbers, so the frames after them
    /// keep the container's. The first stretches are logged, the rest only in the total.
    fn skip_damaged(&mut self, frames: u64) {
        if self.damaged < LOGGED_DAMAGE {
            tracing::warn!(
                input = %self.info.name,
                frame = self.clock.next_index + 1,
                "damaged data: {frames} frame(s) could not be decoded and were skipped"
            );
        }
        self.damaged += frames;
        self.clock.skip(frames);
    }

    /// Whether the decoder got to the end of the file: as many frames as the container declares
    /// or, where it declares no count (Matroska, WebM), frames up to its duration. Both with a
    /// small slack, for containers whose figures are estimates.
    fn reached_end(&self) -> bool {
        match (self.info.frame_count, self.duration_ms) {
            (Some(expected), _) => self.clock.next_index + 2 + expected / 100 >= expected,
            // The last frame starts within a few frame intervals of the end.
            (None, Some(d)) => {
                self.clock.last_pts_ms + 3.0 * 1000.0 / self.info.fps + 0.01 * d >= d
            }
            (None, None) => true,
        }
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        // SAFETY: the decoder is live and closed exactly once.
        unsafe { vigil_decoder_close(self.decoder) };
    }
}

impl FrameSource for FileSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<RawFrame>> {
        let (mut width, mut height, mut pts_ms, mut lost) = (0, 0, f64::NAN, 0);
        // SAFETY: the decoder is live; the out-pointers are valid.
        let got = unsafe {
            vigil_decoder_next(
                self.decoder,
                &mut width,
                &mut height,
                &mut pts_ms,
                &mut lost,
            )
        };
        if lost > 0 {
            self.skip_damaged(lost as u64);
        }
        if got != 1 {
            return Ok(None);
        }
        // SAFETY: the picture's bytes are uninitialised until the conversion below writes
        // every one of them (or the picture is dropped unread on failure).
        let mut image = unsafe { Mat::new_rows_cols(height, width, CV_8UC3) }
            .internal_err(|| format!("input '{}': a {width}x{height} picture", self.info.name))?;
        // A freshly made Mat is one continuous block: rows of 3 bytes a pixel.
        debug_assert!(image.is_continuous());
        let step = width * 3;
        // SAFETY: `image` is a continuous `height`×`width` BGR buffer of rows of `step` bytes,
        // the size of the frame the decoder holds.
        let converted =
            unsafe { vigil_decoder_copy_bgr(self.decoder, image.data_mut(), step) } == 0;
        if !converted {
            return Err(Error::input(format!(
                "input '{}': frame {} could not be converted to BGR",
                self.info.name,
                self.clock.next_index + 1
            )));
        }
        let image = self.upright.apply(image)?;
        Ok(Some(self.clock.stamp(image, pts_ms)))
    }

    fn check_complete(&self) -> Result<()> {
        if self.damaged > 0 {
            tracing::warn!(
                input = %self.info.name,
                "{} frame(s) could not be decoded (damaged data) and were skipped",
                self.damaged
            );
        }
        if self.reached_end() {
            return Ok(());
        }
        let expected = self
            .info
            .frame_count
            .map_or(String::new(), |n| format!(" of {n}"));
        Err(Error::input(format!(
            "input '{}': stream ended after {}{expected} frames (truncated or corrupt file); outputs hold the frames read",
            self.info.name, self.clock.next_index
        )))
    }
}
