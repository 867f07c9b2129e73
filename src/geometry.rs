//! Plane geometry on keypoints. Pure functions; angles in degrees, image coordinates (y down).

use crate::pose::{Joint, Keypoint, Pose};

/// A point in image pixels.
pub type Point = (f32, f32);

/// The midpoint of two points.
pub fn midpoint(a: Point, b: Point) -> Point {
    ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
}

/// Angle of the line from `a` to `b` above the horizontal, in degrees in (-90, 90]: positive
/// when the line rises (in the image, y grows downward) as it goes right. `None` when the points
/// coincide.
pub fn angle_from_horizontal_deg(a: Point, b: Point) -> Option<f32> {
    let (dx, dy) = (b.0 - a.0, a.1 - b.1);
    if dx == 0.0 && dy == 0.0 {
        return None;
    }
    let mut deg = dy.atan2(dx).to_degrees();
    if deg > 90.0 {
        deg -= 180.0;
    } else if deg <= -90.0 {
        deg += 180.0;
    }
    Some(deg)
}

/// Angle of the line from `from` up to `to` away from the vertical, in degrees in [-180, 180]:
/// 0 when `to` is straight above `from`, positive when `to` is to the image's right.
/// `None` when the points coincide.
pub fn angle_from_vertical_deg(from: Point, to: Point) -> Option<f32> {
    let (dx, up) = (to.0 - from.0, from.1 - to.1);
    if dx == 0.0 && up == 0.0 {
        return None;
    }
    Some(dx.atan2(up).to_degrees())
}

fn point(k: Keypoint) -> Point {
    (k.x_px, k.y_px)
}

fn pair(pose: &Pose, a: Joint, b: Joint, threshold: f32) -> Option<(Point, Point)> {
    Some((
        point(pose.visible(a, threshold)?),
        point(pose.visible(b, threshold)?),
    ))
}

/// Tilt of the shoulder line (right shoulder → left shoulder) in the image, degrees; positive
/// when the image-right end is higher. `None` unless both shoulders are seen.
pub fn shoulder_line_deg(pose: &Pose, threshold: f32) -> Option<f32> {
    let (r, l) = pair(pose, Joint::RightShoulder, Joint::LeftShoulder, threshold)?;
    let (a, b) = if r.0 <= l.0 { (r, l) } else { (l, r) };
    angle_from_horizontal_deg(a, b)
}

/// Lean of the trunk (hip centre → shoulder centre) from vertical in the image, degrees; uses
/// one side when only one side's shoulder and hip are seen. `None` without a shoulder and hip.
pub fn trunk_from_vertical_deg(pose: &Pose, threshold: f32) -> Option<f32> {
    let both = pair(pose, Joint::LeftShoulder, Joint::RightShoulder, threshold)
        .zip(pair(pose, Joint::LeftHip, Joint::RightHip, threshold))
        .map(|((ls, rs), (lh, rh))| (midpoint(lh, rh), midpoint(ls, rs)));
    let (hip, shoulder) = both
        .or_else(|| pair(pose, Joint::LeftHip, Joint::LeftShoulder, threshold))
        .or_else(|| pair(pose, Joint::RightHip, Joint::RightShoulder, threshold))?;
    angle_from_vertical_deg(hip, shoulder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizontal_and_vertical_angles_of_known_lines() {
        assert_eq!(
            angle_from_horizontal_deg((0.0, 0.0), (10.0, 0.0)),
            Some(0.0)
        );
        assert!((angle_from_horizontal_deg((0.0, 10.0), (10.0, 0.0)).unwrap() - 45.0).abs() < 1e-4);
        assert!(
            (angle_from_horizontal_deg((10.0, 0.0), (0.0, 10.0)).unwrap() - 45.0).abs() < 1e-4,
            "direction-free"
        );
        assert_eq!(angle_from_horizontal_deg((1.0, 1.0), (1.0, 1.0)), None);
        assert_eq!(angle_from_vertical_deg((0.0, 10.0), (0.0, 0.0)), Some(0.0));
        assert!((angle_from_vertical_deg((0.0, 10.0), (10.0, 0.0)).unwrap() - 45.0).abs() < 1e-4);
        assert!((angle_from_vertical_deg((0.0, 10.0), (-10.0, 0.0)).unwrap() + 45.0).abs() < 1e-4);
    }
}
