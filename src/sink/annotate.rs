//! Drawing of tracks on frames: a box and label per track in a colour of its ID, a short trail
//! of where it has been, and an arrow to where it is forecast to be.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use opencv::core::{Mat, Point, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;

use crate::detect::Labels;
use crate::error::{Context, Result};
use crate::frame::{Track, TrackedFrame};

pub struct Annotator {
    labels: Arc<Labels>,
    trail_len: usize,
    /// Recent centres per track ID, with the sequence number that last extended each trail.
    trails: HashMap<u64, (u64, VecDeque<Point>)>,
}

impl Annotator {
    pub fn new(labels: Arc<Labels>, trail_len: usize) -> Self {
        Self {
            labels,
            trail_len,
            trails: HashMap::new(),
        }
    }

    /// A copy of the frame's image with its tracks drawn (the frame itself is shared by every
    /// output and stays as captured).
    pub fn annotated_copy(&mut self, f: &TrackedFrame) -> Result<Mat> {
        let mut canvas = f
            .frame
            .image
            .try_clone()
            .internal_err(|| "copy frame".into())?;
        self.draw(&mut canvas, f.frame.meta.seq, &f.tracks)?;
        Ok(canvas)
    }

    pub fn draw(&mut self, image: &mut Mat, seq: u64, tracks: &[Track]) -> Result<()> {
        for t in tracks {
            let (cx, cy) = t.bbox.center();
            let trail = &mut self.trails.entry(t.id).or_default();
            trail.0 = seq;
            trail.1.push_back(Point::new(cx as i32, cy as i32));
            if trail.1.len() > self.trail_len {
                trail.1.pop_front();
            }
        }
        // Trails of tracks unseen for a while are forgotten, so memory stays bounded.
        let horizon = self.trail_len as u64 * 4;
        self.trails
            .retain(|_, (last, _)| seq.saturating_sub(*last) <= horizon);

        for t in tracks {
            let color = id_color(t.id);
            if let Some((_, trail)) = self.trails.get(&t.id) {
                for pair in trail.iter().collect::<Vec<_>>().windows(2) {
                    imgproc::line(image, *pair[0], *pair[1], color, 2, imgproc::LINE_AA, 0)
                        .internal_err(|| "draw".into())?;
                }
            }
            if let Some(p) = t.predicted.first() {
                let (cx, cy) = t.bbox.center();
                let (px, py) = p.bbox.center();
                imgproc::arrowed_line(
                    image,
                    Point::new(cx as i32, cy as i32),
                    Point::new(px as i32, py as i32),
                    color,
                    1,
                    imgproc::LINE_AA,
                    0,
                    0.2,
                )
                .internal_err(|| "draw".into())?;
            }
            let b = t.bbox;
            let rect = Rect::new(
                b.x1 as i32,
                b.y1 as i32,
                b.width() as i32,
                b.height() as i32,
            );
            imgproc::rectangle(image, rect, color, 2, imgproc::LINE_8, 0)
                .internal_err(|| "draw".into())?;
            self.draw_label(
                image,
                &format!("{} #{} {:.2}", self.labels.name(t.class_id), t.id, t.score),
                rect,
                color,
            )?;
        }
        Ok(())
    }

    fn draw_label(&self, image: &mut Mat, text: &str, rect: Rect, color: Scalar) -> Result<()> {
        let font = imgproc::FONT_HERSHEY_SIMPLEX;
        let mut baseline = 0;
        let size = imgproc::get_text_size(text, font, 0.45, 1, &mut baseline)
            .internal_err(|| "draw".into())?;
        let top = (rect.y - size.height - 6).max(0);
        let bg = Rect::new(rect.x, top, size.width + 4, size.height + 6);
        imgproc::rectangle(image, bg, color, imgproc::FILLED, imgproc::LINE_8, 0)
            .internal_err(|| "draw".into())?;
        let origin = Point::new(rect.x + 2, top + size.height + 2);
        imgproc::put_text(
            image,
            text,
            origin,
            font,
            0.45,
            Scalar::all(255.0),
            1,
            imgproc::LINE_AA,
            false,
        )
        .internal_err(|| "draw".into())
    }
}

/// A saturated colour per ID, spread around the hue circle by the golden ratio so neighbouring
/// IDs look different.
fn id_color(id: u64) -> Scalar {
    let hue = (id as f64 * 0.618_033_988_75).fract() * 6.0;
    let x = 1.0 - (hue % 2.0 - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    // Darkened a little so white label text stays readable.
    Scalar::new(b * 220.0, g * 220.0, r * 220.0, 0.0)
}
