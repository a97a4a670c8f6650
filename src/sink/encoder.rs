//! The annotated video's encoder: FFmpeg directly (`src/sink/encoder.c`), H.264 (libx264, else
//! another H.264 encoder, else MPEG-4 Part 2 with a warning) in the container the file name asks
//! for, MPEG-4 Part 2 for AVI, with FFmpeg's own reason when a write fails.

use std::ffi::{c_char, c_double, c_int, c_uchar, CString};
use std::path::Path;

use opencv::core::{Mat, CV_8UC3};
use opencv::prelude::*;

#[repr(C)]
struct RawEncoder {
    _private: [u8; 0],
}

extern "C" {
    fn vigil_encoder_open(
        path: *const c_char,
        width: c_int,
        height: c_int,
        fps: c_double,
        xvid_tag: c_int,
        err: *mut c_int,
        used: *mut c_char,
        used_len: c_int,
    ) -> *mut RawEncoder;
    fn vigil_encoder_write_bgr(e: *mut RawEncoder, bgr: *const c_uchar, step: c_int) -> c_int;
    fn vigil_encoder_close(e: *mut RawEncoder) -> c_int;
    fn vigil_encoder_error_text(code: c_int, text: *mut c_char, len: c_int);
}

/// FFmpeg's words for an error code.
fn error_text(code: c_int) -> String {
    let mut text = [0 as c_char; 128];
    // SAFETY: `text` is a writable buffer of the length given; av_strerror NUL-terminates it.
    unsafe { vigil_encoder_error_text(code, text.as_mut_ptr(), text.len() as c_int) };
    // SAFETY: NUL-terminated above, within the buffer.
    unsafe { std::ffi::CStr::from_ptr(text.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

pub struct Encoder {
    raw: *mut RawEncoder,
    width: i32,
    height: i32,
}

// SAFETY: the encoder is owned by this value alone and used from one thread at a time.
unsafe impl Send for Encoder {}

impl Encoder {
    /// A new file at `path` for `width`×`height` BGR pictures at `fps`; `xvid_tag` marks the
    /// stream XVID (AVI players expect it). The error is FFmpeg's reason.
    pub fn open(
        path: &Path,
        (width, height): (i32, i32),
        fps: f64,
        xvid_tag: bool,
    ) -> Result<Self, String> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| "the path holds a NUL byte".to_string())?;
        let mut err = 0;
        let mut used = [0 as c_char; 64];
        // SAFETY: a valid NUL-terminated path, out-pointers and a writable buffer of the length
        // given; the result is null or ours.
        let raw = unsafe {
            vigil_encoder_open(
                c_path.as_ptr(),
                width,
                height,
                fps,
                c_int::from(xvid_tag),
                &mut err,
                used.as_mut_ptr(),
                used.len() as c_int,
            )
        };
        if raw.is_null() {
            return Err(error_text(err));
        }
        // SAFETY: snprintf NUL-terminated it within the buffer.
        let used = unsafe { std::ffi::CStr::from_ptr(used.as_ptr()) }.to_string_lossy();
        if !xvid_tag && used != "libx264" {
            tracing::warn!(
                "{}: FFmpeg has no libx264; writing with {used}{}",
                path.display(),
                if used == "mpeg4" {
                    " (MPEG-4 Part 2: browsers will not play it)"
                } else {
                    ""
                }
            );
        }
        Ok(Self { raw, width, height })
    }

    /// Encodes one picture of the opened size.
    pub fn write(&mut self, image: &Mat) -> Result<(), String> {
        if self.raw.is_null() {
            return Err("the video is already closed".into());
        }
        let fits =
            image.typ() == CV_8UC3 && image.cols() == self.width && image.rows() == self.height;
        if !fits {
            return Err(format!(
                "a {}x{} picture of type {} for a {}x{} BGR video",
                image.cols(),
                image.rows(),
                image.typ(),
                self.width,
                self.height
            ));
        }
        let step = image.mat_step().first().copied().unwrap_or(0) as c_int;
        // SAFETY: `image` is a live BGR buffer of the encoder's size, rows `step` bytes apart,
        // read only during the call.
        let r = unsafe { vigil_encoder_write_bgr(self.raw, image.data(), step) };
        if r < 0 {
            return Err(error_text(r));
        }
        Ok(())
    }

    /// Flushes and finishes the file; later calls do nothing.
    pub fn close(&mut self) -> Result<(), String> {
        let raw = std::mem::replace(&mut self.raw, std::ptr::null_mut());
        // SAFETY: `raw` is live (or null, which closes nothing) and closed exactly once.
        let r = unsafe { vigil_encoder_close(raw) };
        if r < 0 {
            return Err(error_text(r));
        }
        Ok(())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
