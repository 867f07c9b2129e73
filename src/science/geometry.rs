//! Plane geometry on keypoints. Pure functions; image coordinates (y down).

/// A point in image pixels.
pub type Point = (f32, f32);

/// The midpoint of two points.
pub fn midpoint(a: Point, b: Point) -> Point {
    ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
}

/// The angle of the vector `(x, y)` in degrees: `atan2(y, x)`.
pub fn deg(y: f32, x: f32) -> f32 {
    y.atan2(x).to_degrees()
}

/// The distance between two points.
pub fn dist(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// The angle at `b` between the rays to `a` and to `c`, degrees (0..180; 180 = in line);
/// `None` when `a` or `c` coincides with `b`.
pub fn angle_at(a: Point, b: Point, c: Point) -> Option<f32> {
    let (u, v) = ((a.0 - b.0, a.1 - b.1), (c.0 - b.0, c.1 - b.1));
    let (nu, nv) = (dist(a, b), dist(c, b));
    (nu > 0.0 && nv > 0.0).then(|| {
        ((u.0 * v.0 + u.1 * v.1) / (nu * nv))
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_midpoint_lies_halfway() {
        assert_eq!(midpoint((0.0, 10.0), (4.0, -2.0)), (2.0, 4.0));
    }

    #[test]
    fn angles_at_a_joint_are_exact_and_undefined_when_a_ray_is_empty() {
        let at = |a, c| angle_at(a, (0.0, 0.0), c).unwrap();
        assert!((at((1.0, 0.0), (0.0, 1.0)) - 90.0).abs() < 1e-4);
        assert!((at((1.0, 0.0), (-2.0, 0.0)) - 180.0).abs() < 1e-4);
        assert!(at((1.0, 1.0), (3.0, 3.0)).abs() < 1e-2);
        assert_eq!(angle_at((0.0, 0.0), (0.0, 0.0), (1.0, 0.0)), None);
        assert!((dist((0.0, 0.0), (3.0, 4.0)) - 5.0).abs() < 1e-6);
        assert!((deg(1.0, 1.0) - 45.0).abs() < 1e-4);
    }
}
