//! Turns a BGR frame into the detector's input tensor: letterbox resize, colour order, scaling,
//! HWC → CHW.

use ndarray::Array4;
use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::error::{Context, Error, Result};
use crate::geom::BBox;

/// What a model expects as input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputSpec {
    pub width: usize,
    pub height: usize,
    /// Feed RGB rather than OpenCV's native BGR.
    pub rgb: bool,
    /// Multiplier applied to 0–255 pixel values (1 for YOLOX, 1/255 for Ultralytics).
    pub scale: f32,
    /// Centre the image in the padded canvas (Ultralytics) instead of top-left (YOLOX).
    pub centered: bool,
    /// Value of the padding, in 0–255 pixel units.
    pub pad_value: u8,
}

/// How a letterboxed tensor maps back to the source image: `src = (tensor - offset) / scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub offset_x: f32,
    pub offset_y: f32,
}

impl Letterbox {
    /// The same mapping for an image that sat at (`x`, `y`) in a larger one (a tile of a frame):
    /// boxes map back into the larger image.
    pub fn within(self, x: usize, y: usize) -> Self {
        Self {
            offset_x: self.offset_x - x as f32 * self.scale,
            offset_y: self.offset_y - y as f32 * self.scale,
            ..self
        }
    }

    /// Maps a box from tensor coordinates back to the source image.
    pub fn to_source(&self, b: BBox) -> BBox {
        let x = |v: f32| (v - self.offset_x) / self.scale;
        let y = |v: f32| (v - self.offset_y) / self.scale;
        BBox::new(x(b.x1), y(b.y1), x(b.x2), y(b.y2))
    }
}

/// The resized size and scale for a source of `w`×`h`; rounding matches Python's `round`
/// (ties to even) so the reference script sees identical pixels.
pub fn letterbox_geometry(spec: &InputSpec, w: usize, h: usize) -> (usize, usize, f64) {
    let r = (spec.height as f64 / h as f64).min(spec.width as f64 / w as f64);
    let nw = ((w as f64 * r).round_ties_even() as usize).clamp(1, spec.width);
    let nh = ((h as f64 * r).round_ties_even() as usize).clamp(1, spec.height);
    (nw, nh, r)
}

/// Reuses its resize buffer between frames.
pub struct Preprocessor {
    spec: InputSpec,
    resized: Mat,
}

impl Preprocessor {
    pub fn new(spec: InputSpec) -> Self {
        Self {
            spec,
            resized: Mat::default(),
        }
    }

    pub fn run(&mut self, image: &Mat) -> Result<(Array4<f32>, Letterbox)> {
        let spec = self.spec;
        let (w, h) = (image.cols() as usize, image.rows() as usize);
        if image.channels() != 3 || w == 0 || h == 0 {
            return Err(Error::internal(format!(
                "expected a BGR image, got {w}x{h} with {} channels",
                image.channels()
            )));
        }
        let (nw, nh, r) = letterbox_geometry(&spec, w, h);
        let src: &Mat = if (nw, nh) == (w, h) {
            image
        } else {
            imgproc::resize(
                image,
                &mut self.resized,
                Size::new(nw as i32, nh as i32),
                0.0,
                0.0,
                imgproc::INTER_LINEAR,
            )
            .internal_err(|| "resize".into())?;
            &self.resized
        };
        let (ox, oy) = if spec.centered {
            ((spec.width - nw) / 2, (spec.height - nh) / 2)
        } else {
            (0, 0)
        };

        let plane = spec.width * spec.height;
        let mut data = vec![spec.pad_value as f32 * spec.scale; 3 * plane];
        // A tile that needs no resizing is a view into the frame, with gaps between its rows.
        let packed;
        let src = if src.is_continuous() {
            src
        } else {
            packed = src.try_clone().internal_err(|| "copy of a tile".into())?;
            &packed
        };
        let pixels = src
            .data_bytes()
            .internal_err(|| "resized image is not continuous".into())?;
        // Channel c of the output takes BGR channel c, or 2 - c for RGB.
        let from = if spec.rgb { [2, 1, 0] } else { [0, 1, 2] };
        for y in 0..nh {
            let row = &pixels[y * nw * 3..(y + 1) * nw * 3];
            let base = (y + oy) * spec.width + ox;
            for (c, &bgr) in from.iter().enumerate() {
                let out = &mut data[c * plane + base..c * plane + base + nw];
                for (dst, px) in out.iter_mut().zip(row.chunks_exact(3)) {
                    *dst = px[bgr] as f32 * spec.scale;
                }
            }
        }
        let tensor = Array4::from_shape_vec((1, 3, spec.height, spec.width), data)
            .internal_err(|| "tensor shape".into())?;
        Ok((
            tensor,
            Letterbox {
                scale: r as f32,
                offset_x: ox as f32,
                offset_y: oy as f32,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Scalar, CV_8UC3};

    const YOLOX: InputSpec = InputSpec {
        width: 8,
        height: 8,
        rgb: false,
        scale: 1.0,
        centered: false,
        pad_value: 114,
    };

    #[test]
    fn geometry_keeps_aspect_ratio() {
        let spec = InputSpec {
            width: 416,
            height: 416,
            ..YOLOX
        };
        assert_eq!(letterbox_geometry(&spec, 768, 576).0, 416);
        assert_eq!(letterbox_geometry(&spec, 768, 576).1, 312);
        assert_eq!(letterbox_geometry(&spec, 1920, 1080).1, 234);
    }

    #[test]
    fn letterboxes_top_left_with_padding_in_bgr_order() {
        // A 4x2 image of colour (b=10, g=20, r=30) fits 8x4 inside 8x8.
        let img =
            Mat::new_rows_cols_with_default(2, 4, CV_8UC3, Scalar::new(10.0, 20.0, 30.0, 0.0))
                .unwrap();
        let (t, lb) = Preprocessor::new(YOLOX).run(&img).unwrap();
        assert_eq!(
            lb,
            Letterbox {
                scale: 2.0,
                offset_x: 0.0,
                offset_y: 0.0
            }
        );
        assert_eq!(t[[0, 0, 0, 0]], 10.0);
        assert_eq!(t[[0, 2, 3, 7]], 30.0);
        assert_eq!(t[[0, 1, 4, 0]], 114.0, "rows below the image are padding");
    }

    #[test]
    fn centred_rgb_scaled_variant() {
        let spec = InputSpec {
            rgb: true,
            scale: 1.0 / 255.0,
            centered: true,
            ..YOLOX
        };
        let img =
            Mat::new_rows_cols_with_default(2, 4, CV_8UC3, Scalar::new(10.0, 20.0, 30.0, 0.0))
                .unwrap();
        let (t, lb) = Preprocessor::new(spec).run(&img).unwrap();
        assert_eq!(lb.offset_y, 2.0);
        assert_eq!(t[[0, 0, 0, 0]], 114.0 * spec.scale);
        assert_eq!(t[[0, 0, 2, 0]], 30.0 * spec.scale, "channel 0 is red");
    }
}
