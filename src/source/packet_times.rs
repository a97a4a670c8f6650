//! The container's own presentation times, read a few packets ahead of OpenCV's decoder.
//!
//! OpenCV 4.6 reports a time for each decoded frame, except for the frames its decoder still
//! holds when the file ends (B-frames): those report 0. The demuxer (src/source/packet_times.c)
//! knows every packet's time; frames leave the decoder in time order, so the next frame's time
//! is the earliest packet time not yet used.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ffi::{c_char, c_double, c_int, CString};
use std::path::Path;

#[repr(C)]
struct RawReader {
    _private: [u8; 0],
}

extern "C" {
    fn vigil_packet_times_open(path: *const c_char) -> *mut RawReader;
    fn vigil_packet_times_next(reader: *mut RawReader, ms: *mut c_double) -> c_int;
    fn vigil_packet_times_frame_count(reader: *const RawReader) -> i64;
    fn vigil_packet_times_duration_ms(reader: *const RawReader) -> c_double;
    fn vigil_packet_times_close(reader: *mut RawReader);
}

/// How far the reader stays ahead of the decoder: more than any decoder's reordering delay
/// (H.264 allows 16 frames).
const LOOK_AHEAD: usize = 32;

/// Packet times in microseconds, so they order exactly.
type Micros = i64;

pub struct PacketTimes {
    reader: *mut RawReader,
    /// Times read but not yet given to a frame, earliest first.
    ahead: BinaryHeap<Reverse<Micros>>,
    at_end: bool,
    /// The container's declared frame count (exact when the container declares one).
    pub frame_count: Option<u64>,
    pub duration_ms: Option<f64>,
}

// SAFETY: the reader is owned by this value alone and FFmpeg's demuxer context may be used from
// any one thread at a time; `PacketTimes` is moved between threads, never shared.
unsafe impl Send for PacketTimes {}

impl PacketTimes {
    /// `None` when FFmpeg cannot demux the file (the decoder's own times are used then).
    pub fn open(path: &Path) -> Option<Self> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: a valid NUL-terminated path; the result is null or a reader we own.
        let reader = unsafe { vigil_packet_times_open(c_path.as_ptr()) };
        if reader.is_null() {
            return None;
        }
        // SAFETY: `reader` is a live reader.
        let (count, duration) = unsafe {
            (
                vigil_packet_times_frame_count(reader),
                vigil_packet_times_duration_ms(reader),
            )
        };
        Some(Self {
            reader,
            ahead: BinaryHeap::new(),
            at_end: false,
            frame_count: (count > 0).then_some(count as u64),
            duration_ms: (duration.is_finite() && duration > 0.0).then_some(duration),
        })
    }

    fn fill(&mut self) {
        while !self.at_end && self.ahead.len() < LOOK_AHEAD {
            let mut ms = f64::NAN;
            // SAFETY: `self.reader` is live until drop; `ms` is a valid out-pointer.
            let r = unsafe { vigil_packet_times_next(self.reader, &mut ms) };
            if r != 1 {
                self.at_end = true; // a read error ends the look-ahead, not the decoding
            } else if ms.is_finite() {
                self.ahead.push(Reverse((ms * 1000.0).round() as Micros));
            }
        }
    }

    /// The time of the next decoded frame. `decoder_ms` is the time the decoder reported for it,
    /// if that one is valid: it wins, and packet times up to it are used up (packets that made
    /// no frame, such as a damaged one, drop out here). Without it, the earliest unused packet
    /// time after `after_ms`.
    pub fn next_frame_ms(&mut self, decoder_ms: Option<f64>, after_ms: f64) -> Option<f64> {
        self.fill();
        if let Some(ms) = decoder_ms {
            let upto = (ms * 1000.0).round() as Micros;
            while self.ahead.peek().is_some_and(|Reverse(t)| *t <= upto) {
                self.ahead.pop();
            }
            return Some(ms);
        }
        while let Some(Reverse(t)) = self.ahead.pop() {
            let ms = t as f64 / 1000.0;
            if ms > after_ms {
                return Some(ms);
            }
        }
        None
    }
}

impl Drop for PacketTimes {
    fn drop(&mut self) {
        // SAFETY: the reader is live and dropped exactly once.
        unsafe { vigil_packet_times_close(self.reader) };
    }
}
