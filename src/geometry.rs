//! Plane geometry on keypoints. Pure functions; image coordinates (y down).

/// A point in image pixels.
pub type Point = (f32, f32);

/// The midpoint of two points.
pub fn midpoint(a: Point, b: Point) -> Point {
    ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_midpoint_lies_halfway() {
        assert_eq!(midpoint((0.0, 10.0), (4.0, -2.0)), (2.0, 4.0));
    }
}
