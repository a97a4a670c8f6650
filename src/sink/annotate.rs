//! Drawing of tracks on frames: a box and label per track in a colour of its ID, a short trail
//! of where it has been, its forecast path with the 90 % ellipse of each forecast; and the
//! counting lines and zones with their counts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use opencv::core::{Mat, Point, Rect, Scalar, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;

use crate::error::{Context, Result};
use crate::frame::{FrameMeta, Prediction, Track, TrackedFrame};
use crate::geom::Affine;
use crate::labels::Labels;
use crate::scene::SceneFrame;

/// Mahalanobis distance² within which a 2-D Gaussian holds 90 % of its mass (χ², 2 dof).
const ELLIPSE_90: f64 = 4.605;
const LINE_COLOR: Scalar = Scalar::new(0.0, 215.0, 255.0, 0.0);
const ZONE_COLOR: Scalar = Scalar::new(255.0, 200.0, 0.0, 0.0);

pub struct Annotator {
    labels: Arc<Labels>,
    trail_len: usize,
    /// Recent centres per track ID, with the sequence number that last extended each trail.
    trails: HashMap<u64, (u64, VecDeque<[f64; 2]>)>,
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
        self.draw_with_scene(&mut canvas, &f.frame.meta, &f.tracks, &f.scene)?;
        Ok(canvas)
    }

    /// Carries the trails drawn so far with a camera that moved by `map` since the last frame
    /// drawn (in the canvas's pixels), so a trail shows where the object went in the scene, not
    /// how the picture shook.
    pub fn follow_camera(&mut self, map: &Affine) {
        if map.is_identity() {
            return;
        }
        for (_, trail) in self.trails.values_mut() {
            for p in trail.iter_mut() {
                *p = map.apply(*p);
            }
        }
    }

    /// The lines and zones with their counts, then the tracks of the frame `meta` describes
    /// (every frame of the stream comes here in turn: trails follow the camera's motion).
    pub fn draw_with_scene(
        &mut self,
        image: &mut Mat,
        meta: &FrameMeta,
        tracks: &[Track],
        scene: &SceneFrame,
    ) -> Result<()> {
        self.follow_camera(&meta.camera);
        self.draw_scene(image, scene, 1.0)?;
        self.draw(image, meta.seq, tracks)
    }

    /// The lines and zones with their counts, on an image scaled by `scale` from the frame's.
    pub fn draw_scene(&self, image: &mut Mat, scene: &SceneFrame, scale: f64) -> Result<()> {
        let layout = &scene.layout;
        let point = |p: [f64; 2]| Point::new((p[0] * scale) as i32, (p[1] * scale) as i32);
        for ((name, zone), by_class) in layout.zones.iter().zip(&scene.occupancy) {
            let corners: Vector<Point> = zone.corners.iter().map(|p| point(*p)).collect();
            imgproc::polylines(image, &corners, true, ZONE_COLOR, 2, imgproc::LINE_AA, 0)
                .internal_err(|| "draw".into())?;
            let inside: u32 = by_class.values().sum();
            let at = corners.get(0).internal_err(|| "zone corner".into())?;
            self.draw_label(
                image,
                &format!("{name}: {inside}"),
                Rect::new(at.x, at.y, 0, 0),
                ZONE_COLOR,
            )?;
        }
        for ((name, line), counts) in layout.lines.iter().zip(&scene.line_counts) {
            let (pa, pb) = (point(line.a), point(line.b));
            imgproc::line(image, pa, pb, LINE_COLOR, 2, imgproc::LINE_AA, 0)
                .internal_err(|| "draw".into())?;
            // At the line's first point: track labels crowd its middle, where traffic crosses.
            let text = format!("{name}  in {}  out {}", counts[0], counts[1]);
            self.draw_label(image, &text, Rect::new(pa.x, pa.y, 0, 0), LINE_COLOR)?;
        }
        Ok(())
    }

    pub fn draw(&mut self, image: &mut Mat, seq: u64, tracks: &[Track]) -> Result<()> {
        for t in tracks {
            let (cx, cy) = t.bbox.center();
            let trail = &mut self.trails.entry(t.id).or_default();
            trail.0 = seq;
            trail.1.push_back([cx as f64, cy as f64]);
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
                let point = |p: &[f64; 2]| Point::new(p[0].round() as i32, p[1].round() as i32);
                for pair in trail.iter().map(point).collect::<Vec<_>>().windows(2) {
                    imgproc::line(image, pair[0], pair[1], color, 2, imgproc::LINE_AA, 0)
                        .internal_err(|| "draw".into())?;
                }
            }
            draw_forecast(image, t, color)?;
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

/// The forecast path from the box centre through each forecast centre, and the 90 % ellipse of
/// each forecast.
fn draw_forecast(image: &mut Mat, t: &Track, color: Scalar) -> Result<()> {
    let (cx, cy) = t.bbox.center();
    let mut from = Point::new(cx as i32, cy as i32);
    for p in &t.predicted {
        let (px, py) = p.bbox.center();
        let to = Point::new(px as i32, py as i32);
        imgproc::line(image, from, to, color, 1, imgproc::LINE_AA, 0)
            .internal_err(|| "draw".into())?;
        if let Some((axes, angle)) = ellipse_90(p) {
            imgproc::ellipse(
                image,
                to,
                axes,
                angle,
                0.0,
                360.0,
                color,
                1,
                imgproc::LINE_AA,
                0,
            )
            .internal_err(|| "draw".into())?;
        }
        from = to;
    }
    Ok(())
}

/// Half-axes and angle (degrees) of the ellipse holding 90 % of a forecast's centre.
fn ellipse_90(p: &Prediction) -> Option<(Size, f64)> {
    let (a, b, c) = (p.cov_xy[0] as f64, p.cov_xy[1] as f64, p.cov_xy[2] as f64);
    let mid = (a + c) / 2.0;
    let spread = ((a - c) / 2.0).hypot(b);
    let (major, minor) = (mid + spread, (mid - spread).max(0.0));
    if !(major.is_finite() && major > 0.0) {
        return None;
    }
    let half = |v: f64| ((ELLIPSE_90 * v).sqrt().min(1e5)) as i32;
    let angle = 0.5 * (2.0 * b).atan2(a - c);
    Some((Size::new(half(major), half(minor)), angle.to_degrees()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::BBox;
    use opencv::core::CV_8UC3;

    #[test]
    fn trails_follow_the_camera_so_a_still_person_leaves_no_trail() {
        // A person standing still in the scene while the picture shakes by ±20 px: told the
        // camera's motion, their trail stays on one spot (the picture's shake is not drawn).
        let labels = Arc::new(Labels::parse("person").unwrap());
        let mut annotator = Annotator::new(labels, 8);
        let mut image =
            Mat::new_rows_cols_with_default(240, 320, CV_8UC3, Scalar::all(0.0)).unwrap();
        let mut x = 150.0;
        for seq in 0..8u64 {
            let dx = [0.0, 20.0, -20.0][(seq % 3) as usize];
            x += dx as f32;
            annotator.follow_camera(&Affine([1.0, 0.0, dx, 0.0, 1.0, 0.0]));
            let person = Track {
                id: 1,
                class_id: 0,
                score: 0.9,
                bbox: BBox::from_cxcywh(x, 120.0, 20.0, 60.0),
                velocity: [0.0; 2],
                predicted: Vec::new(),
            };
            annotator.draw(&mut image, seq, &[person]).unwrap();
        }
        let (_, trail) = &annotator.trails[&1];
        assert_eq!(trail.len(), 8);
        assert!(
            trail.iter().all(|p| (p[0] - x as f64).abs() < 1e-3),
            "{trail:?}"
        );
    }
}
