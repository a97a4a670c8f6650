//! The ground plane: a homography from image pixels to metres on the ground, fitted to four or
//! more point pairs the user measured (direct linear transform with Hartley's normalisation,
//! least squares when more than four are given). It turns pixel speeds into m/s and km/h.

use super::Point;

#[derive(Clone, Debug, PartialEq)]
pub struct Homography {
    /// Row-major 3×3, image → world.
    h: [f64; 9],
    /// The projective scale `w` at the centre of the calibration points. Ground in front of the
    /// camera has `w` of the same sign; it falls to 0 at the horizon, and points past it map
    /// to the ground *behind* the camera, which no pixel shows.
    w_ref: f64,
}

/// Where `w` has fallen to this share of `w_ref`, the ground is about this many times farther
/// than the calibrated area: taken as the horizon, since a pixel there spans metres.
const HORIZON_SHARE: f64 = 0.01;

impl Homography {
    /// Fits `image[i]` → `world[i]`. Errors say what is wrong with the points.
    pub fn fit(image: &[Point], world: &[Point]) -> Result<Self, String> {
        if image.len() != world.len() {
            return Err(format!(
                "image has {} points but world has {}: they are pairs",
                image.len(),
                world.len()
            ));
        }
        if image.len() < 4 {
            return Err(format!("needs at least 4 point pairs, got {}", image.len()));
        }
        if image.iter().chain(world).flatten().any(|v| !v.is_finite()) {
            return Err("points must be finite numbers".into());
        }
        for (name, points) in [("image", image), ("world", world)] {
            if let Some(which) = collinear_triple(points) {
                return Err(format!(
                    "{name} points {which} are on one line: pick points spread over the ground"
                ));
            }
        }
        let (ti, ni) = normalised(image);
        let (tw, nw) = normalised(world);
        let h = solve_dlt(&ni, &nw).ok_or("the point pairs do not determine a homography")?;
        // H = Tw⁻¹ · Ĥ · Ti
        let fitted = mul(&mul(&inverse_similarity(&tw), &h), &ti);
        if fitted.iter().any(|v| !v.is_finite()) {
            return Err("the point pairs do not determine a homography".into());
        }
        let n = image.len() as f64;
        let centre = [0, 1].map(|i| image.iter().map(|p| p[i]).sum::<f64>() / n);
        let w_ref = fitted[6] * centre[0] + fitted[7] * centre[1] + fitted[8];
        let fit = Self { h: fitted, w_ref };
        // Every point the user measured is ground in view: one past the horizon means the pairs
        // are mismatched (and the centre's `w` would not tell the ground from the sky).
        if let Some(k) = image.iter().position(|&p| fit.apply(p).is_none()) {
            return Err(format!(
                "image point {} is beyond the horizon the other points give: are the pairs in the same order?",
                k + 1
            ));
        }
        Ok(fit)
    }

    /// The world point of image point `p`; `None` at or beyond the horizon.
    pub fn apply(&self, p: Point) -> Option<Point> {
        let h = &self.h;
        let w = h[6] * p[0] + h[7] * p[1] + h[8];
        let share = w / self.w_ref;
        if share.is_nan() || share <= HORIZON_SHARE {
            return None;
        }
        Some([
            (h[0] * p[0] + h[1] * p[1] + h[2]) / w,
            (h[3] * p[0] + h[4] * p[1] + h[5]) / w,
        ])
    }

    /// Ground speed in m/s of a point at `p` moving at `v` px/s (over a short step, so the
    /// perspective's change along the way does not matter).
    pub fn speed_m_s(&self, p: Point, v: [f64; 2]) -> Option<f64> {
        const STEP_S: f64 = 0.1;
        let a = self.apply(p)?;
        let b = self.apply([p[0] + v[0] * STEP_S, p[1] + v[1] * STEP_S])?;
        let speed = super::norm(b[0] - a[0], b[1] - a[1]) / STEP_S;
        speed.is_finite().then_some(speed)
    }
}

/// The first three points (1-based, as "1, 2 and 4") that lie on one line, relative to the
/// points' spread.
fn collinear_triple(points: &[Point]) -> Option<String> {
    let spread = points
        .iter()
        .flat_map(|p| points.iter().map(move |q| (p[0] - q[0]).hypot(p[1] - q[1])))
        .fold(0.0, f64::max);
    let n = points.len();
    if n > 4 {
        // With more points only all of them on one line is hopeless; the solver judges the rest.
        let all = (2..n)
            .all(|k| twice_area(points[0], points[1], points[k]).abs() <= 1e-6 * spread * spread);
        return all.then(|| "all".to_string());
    }
    for i in 0..n {
        for j in i + 1..n {
            for k in j + 1..n {
                if twice_area(points[i], points[j], points[k]).abs() <= 1e-6 * spread * spread {
                    return Some(format!("{}, {} and {}", i + 1, j + 1, k + 1));
                }
            }
        }
    }
    None
}

fn twice_area(a: Point, b: Point, c: Point) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Moves the points' centroid to the origin and scales their mean distance to √2; returns the
/// similarity (row-major 3×3) and the moved points.
fn normalised(points: &[Point]) -> ([f64; 9], Vec<Point>) {
    let n = points.len() as f64;
    let cx = points.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = points.iter().map(|p| p[1]).sum::<f64>() / n;
    let mean = points
        .iter()
        .map(|p| (p[0] - cx).hypot(p[1] - cy))
        .sum::<f64>()
        / n;
    let s = std::f64::consts::SQRT_2 / mean.max(1e-12);
    let t = [s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0];
    let moved = points
        .iter()
        .map(|p| [s * (p[0] - cx), s * (p[1] - cy)])
        .collect();
    (t, moved)
}

fn inverse_similarity(t: &[f64; 9]) -> [f64; 9] {
    let s = t[0];
    [
        1.0 / s,
        0.0,
        -t[2] / s,
        0.0,
        1.0 / s,
        -t[5] / s,
        0.0,
        0.0,
        1.0,
    ]
}

fn mul(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    std::array::from_fn(|k| {
        let (r, c) = (k / 3, k % 3);
        (0..3).map(|i| a[3 * r + i] * b[3 * i + c]).sum()
    })
}

/// Least squares for the 8 unknowns of H with h33 = 1 (normal equations, Gaussian elimination
/// with partial pivoting); `None` when they are not determined.
fn solve_dlt(image: &[Point], world: &[Point]) -> Option<[f64; 9]> {
    let mut ata = [[0.0; 8]; 8];
    let mut atb = [0.0; 8];
    for (p, q) in image.iter().zip(world) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        let rows = [
            ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
            ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
        ];
        for (row, rhs) in rows {
            for i in 0..8 {
                atb[i] += row[i] * rhs;
                for j in 0..8 {
                    ata[i][j] += row[i] * row[j];
                }
            }
        }
    }
    let solution = gauss(ata, atb)?;
    let mut h = [1.0; 9];
    h[..8].copy_from_slice(&solution);
    Some(h)
}

fn gauss(mut a: [[f64; 8]; 8], mut b: [f64; 8]) -> Option<[f64; 8]> {
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= 1e-10 * scale {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..8 {
            let f = a[row][col] / pivot_row[col];
            for (v, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 8];
    for row in (0..8).rev() {
        let rest: f64 = (row + 1..8).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Point, b: Point) -> bool {
        (a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6
    }

    #[test]
    fn a_perspective_view_of_a_road_is_recovered() {
        // A 10 m wide, 40 m long stretch of road seen in perspective (narrower far away).
        let image = [
            [100.0, 400.0],
            [500.0, 400.0],
            [350.0, 100.0],
            [250.0, 100.0],
        ];
        let world = [[0.0, 0.0], [10.0, 0.0], [10.0, 40.0], [0.0, 40.0]];
        let h = Homography::fit(&image, &world).unwrap();
        for (p, q) in image.iter().zip(&world) {
            assert!(close(h.apply(*p).unwrap(), *q), "{p:?} → {q:?}");
        }
        // More points, from the same mapping, give the same fit.
        let mid = h.apply([300.0, 250.0]).unwrap();
        let mut image5 = image.to_vec();
        let mut world5 = world.to_vec();
        image5.push([300.0, 250.0]);
        world5.push(mid);
        let h5 = Homography::fit(&image5, &world5).unwrap();
        assert!(close(
            h5.apply([200.0, 300.0]).unwrap(),
            h.apply([200.0, 300.0]).unwrap()
        ));
        // The road's edges meet at y = 0, the horizon: above it is no ground, and just below
        // it a pixel spans the road's whole length.
        assert!(h.apply([300.0, 50.0]).is_some());
        assert_eq!(h.apply([300.0, 1.0]), None);
        assert_eq!(h.apply([300.0, -50.0]), None);
    }

    #[test]
    fn speed_is_measured_on_the_ground() {
        // A plain scale: 20 px per metre.
        let image = [[0.0, 0.0], [200.0, 0.0], [200.0, 200.0], [0.0, 200.0]];
        let world = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let h = Homography::fit(&image, &world).unwrap();
        // 200 px/s = 10 m/s.
        let v = h.speed_m_s([50.0, 50.0], [120.0, 160.0]).unwrap();
        assert!((v - 10.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn pairs_in_a_crossed_order_are_refused() {
        // A square in the picture against a dart on the ground (its third corner turned in): no
        // camera sees a ground like that, and the fit puts a corner beyond its own horizon.
        let square = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let dart = [[0.0, 0.0], [4.0, 0.0], [1.0, 1.0], [0.0, 4.0]];
        let e = Homography::fit(&square, &dart).unwrap_err();
        assert!(e.contains("beyond the horizon"), "{e}");
    }

    #[test]
    fn degenerate_points_are_refused_with_a_reason() {
        let line = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [5.0, 0.0]];
        let square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let e = Homography::fit(&line, &square).unwrap_err();
        assert!(e.contains("image points 1, 2 and 3 are on one line"), "{e}");
        assert!(Homography::fit(&square, &line)
            .unwrap_err()
            .contains("world points"));
        assert!(Homography::fit(&square[..3], &square[..3])
            .unwrap_err()
            .contains("at least 4"));
        assert!(Homography::fit(&square, &square[..3])
            .unwrap_err()
            .contains("pairs"));
        let all = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]];
        let five = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.2]];
        assert!(Homography::fit(&all, &five).unwrap_err().contains("all"));
    }
}
