//! Posture science: metrics against exact synthetic geometry, invariances, the judge on real
//! photos, calibration files.

use posture::pose::{Joint, Keypoint, Pose};
use posture::science::analysis::{Analyzer, DEFAULT_SETTINGS_TOML, Settings};
use posture::science::calibration::{Baseline, CalibrationError, Calibrator};
use posture::science::judge::{Band, CALIBRATE_TO_JUDGE, Judgement, Thresholds, judge};
use posture::science::metrics::{PostureMetrics, View, measure};
use proptest::prelude::*;

use crate::fixture;

#[derive(serde::Deserialize)]
struct Synth {
    view: String,
    keypoints_2d: Vec<[f32; 3]>,
    gt_angles: serde_json::Value,
}

/// A synthetic image's exact keypoints as a pose: visible 0.9, occluded 0.5, out of frame 0.
fn synth(name: &str) -> (Synth, Pose) {
    synth_scored(name, 0.5)
}

/// As [`synth`], with occluded keypoints scored `occluded`.
fn synth_scored(name: &str, occluded: f32) -> (Synth, Pose) {
    let s: Synth = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("synthetic/{name}"))).unwrap(),
    )
    .unwrap();
    let mut p = Pose::default();
    for (k, &[x, y, v]) in p.keypoints.iter_mut().zip(&s.keypoints_2d) {
        *k = Keypoint {
            x_px: x,
            y_px: y,
            score: [0.0, occluded, 0.9][v as usize],
        };
    }
    (s, p)
}

fn synthetic_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixture("synthetic"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    v.sort();
    v
}

#[test]
fn side_view_angles_equal_the_synthetic_ground_truth_within_a_tenth_of_a_degree() {
    // The truth is the near side's. With the far side's ear, shoulder and hip not placed, the
    // score-weighted pairs are the near side's points; the near side is the person's left when
    // they face image-left (a wrong facing rule fails the neck check, which uses the near side).
    let mut checked = 0;
    for name in synthetic_names()
        .iter()
        .filter(|n| n.ends_with("_side.json"))
    {
        let (s, mut pose) = synth(name);
        let far = if posture::science::metrics::facing(&pose) == Some(-1.0) {
            [Joint::RightEar, Joint::RightShoulder, Joint::RightHip]
        } else {
            [Joint::LeftEar, Joint::LeftShoulder, Joint::LeftHip]
        };
        for j in far {
            pose.keypoints[j as usize].score = 0.0;
        }
        let m = measure(&pose, 0.3);
        let gt = &s.gt_angles["image"];
        let cva = gt["cva_proxy_near_side_deg"].as_f64().unwrap() as f32;
        let trunk = gt["trunk_flexion_near_side_deg"].as_f64().unwrap() as f32;
        let got_cva = m.cva_proxy_deg.expect("cva measured").value;
        let got_trunk = m.trunk_flexion_deg.expect("trunk measured").value;
        assert!(
            (got_cva - cva).abs() < 0.1,
            "{name}: cva {got_cva} vs {cva}"
        );
        assert!(
            (got_trunk - trunk).abs() < 0.1,
            "{name}: trunk {got_trunk} vs {trunk}"
        );
        assert!((m.neck_flexion_deg.unwrap().value - (90.0 - cva)).abs() < 0.1);
        assert_eq!(m.view, Some(View::Side), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 23);
}

#[test]
fn the_far_side_pulls_the_side_angles_by_its_score_and_the_near_side_keeps_the_neck() {
    // With the far side placed at half the near side's score, the CVA proxy and trunk are the
    // score-weighted pair's, which differ from the near side's; the neck stays the near side's.
    let mut moved = 0;
    for name in synthetic_names()
        .iter()
        .filter(|n| n.ends_with("_side.json"))
    {
        let (s, near_only) = synth_scored(name, 0.0);
        let (_, both) = synth_scored(name, 0.45);
        if near_only.keypoints == both.keypoints {
            continue;
        }
        let (a, b) = (measure(&near_only, 0.3), measure(&both, 0.3));
        let gt = s.gt_angles["image"]["cva_proxy_near_side_deg"]
            .as_f64()
            .unwrap() as f32;
        assert!(
            (b.neck_flexion_deg.unwrap().value - (90.0 - gt)).abs() < 0.1,
            "{name}"
        );
        let (ca, cb) = (
            a.cva_proxy_deg.unwrap().value,
            b.cva_proxy_deg.unwrap().value,
        );
        if (ca - cb).abs() > 0.1 {
            moved += 1;
        }
        // A weighted average of two points lies between them: the angle stays near.
        assert!((ca - cb).abs() < 25.0, "{name}: {ca} vs {cb}");
    }
    assert!(moved > 10, "the far side moved only {moved} of 23");
}

#[test]
fn the_facing_comes_from_the_nose_and_eyes_against_the_ears_whatever_their_scores() {
    use posture::science::metrics::facing;
    let put = |p: &mut Pose, j: Joint, x: f32, score: f32| {
        p.keypoints[j as usize] = Keypoint {
            x_px: x,
            y_px: 100.0,
            score,
        }
    };
    let mut p = Pose::default();
    put(&mut p, Joint::LeftEar, 200.0, 0.8);
    put(&mut p, Joint::RightEar, 190.0, 0.05);
    put(&mut p, Joint::Nose, 170.0, 0.9);
    put(&mut p, Joint::LeftEye, 180.0, 0.02);
    assert_eq!(facing(&p), Some(-1.0));
    // No nose or eye placed: unknown, and no side angle is measured.
    let mut q = p;
    q.keypoints[Joint::Nose as usize].score = 0.0;
    q.keypoints[Joint::LeftEye as usize].score = 0.0;
    assert_eq!(facing(&q), None);
    // Facing the other way flips it.
    put(&mut p, Joint::Nose, 230.0, 0.9);
    put(&mut p, Joint::LeftEye, 220.0, 0.02);
    assert_eq!(facing(&p), Some(1.0));
}

#[test]
fn the_model_trunk_offset_is_added_to_the_trunk_and_nothing_else() {
    use posture::science::metrics::measure_with;
    let pose = side_pose(10.0, 20.0, -1.0, (300.0, 400.0), 1.0);
    let (a, b) = (measure(&pose, 0.3), measure_with(&pose, 0.3, 3.6));
    assert!(
        (b.trunk_flexion_deg.unwrap().value - a.trunk_flexion_deg.unwrap().value - 3.6).abs()
            < 1e-4
    );
    assert_eq!(a.cva_proxy_deg, b.cva_proxy_deg);
    assert_eq!(a.neck_flexion_deg, b.neck_flexion_deg);
    let s = Settings::default();
    assert_eq!(s.trunk_offset_deg("lightning"), 3.6);
    assert_eq!(s.trunk_offset_deg("thunder"), 4.2);
    assert_eq!(s.trunk_offset_deg("/some/model.onnx"), 0.0);
}

#[test]
fn front_view_measures_equal_the_synthetic_ground_truth() {
    let mut checked = 0;
    for name in synthetic_names()
        .iter()
        .filter(|n| n.ends_with("_front.json"))
    {
        let (s, pose) = synth(name);
        let m = measure(&pose, 0.3);
        let gt = &s.gt_angles["image"];
        let tilt = gt["shoulder_tilt_deg"].as_f64().unwrap() as f32;
        let drop = gt["nose_above_shoulder_line_over_shoulder_width"]
            .as_f64()
            .unwrap() as f32;
        let got = m.shoulder_tilt_deg.expect("tilt measured").value;
        assert!((got - tilt).abs() < 0.1, "{name}: tilt {got} vs {tilt}");
        let got_drop = m.head_drop_ratio.expect("head drop measured").value;
        assert!(
            (got_drop - drop).abs() < 0.01,
            "{name}: head drop {got_drop} vs {drop}"
        );
        assert_eq!(m.view, Some(View::Front), "{name}");
        assert_eq!(s.view, "front");
        checked += 1;
    }
    assert_eq!(checked, 23);
}

/// A side-view pose of exact geometry: trunk `trunk_deg` forward of vertical, the ear–shoulder
/// line `neck_deg` forward of vertical, facing `facing` (±1 in x), moved by `t` and scaled by `k`.
fn side_pose(trunk_deg: f32, neck_deg: f32, facing: f32, t: (f32, f32), k: f32) -> Pose {
    let (tr, nr) = (trunk_deg.to_radians(), neck_deg.to_radians());
    let hip = (0.0, 0.0);
    let sh = (hip.0 + 100.0 * tr.sin() * facing, hip.1 - 100.0 * tr.cos());
    let ear = (sh.0 + 40.0 * nr.sin() * facing, sh.1 - 40.0 * nr.cos());
    let nose = (ear.0 + 18.0 * facing, ear.1 + 6.0);
    let mut p = Pose::default();
    let mut put = |j: Joint, (x, y): (f32, f32)| {
        p.keypoints[j as usize] = Keypoint {
            x_px: x * k + t.0,
            y_px: y * k + t.1,
            score: 0.9,
        }
    };
    put(Joint::LeftHip, hip);
    put(Joint::LeftShoulder, sh);
    put(Joint::LeftEar, ear);
    put(Joint::Nose, nose);
    p
}

proptest! {
    #[test]
    fn side_angles_equal_the_constructed_ones_whatever_the_position_scale_and_facing(
        trunk in -30.0f32..80.0, neck in -40.0f32..80.0, facing in prop::sample::select(vec![-1.0f32, 1.0]),
        tx in -500.0f32..500.0, ty in -500.0f32..500.0, k in 0.2f32..8.0,
    ) {
        let m = measure(&side_pose(trunk, neck, facing, (tx, ty), k), 0.3);
        prop_assert!((m.trunk_flexion_deg.unwrap().value - trunk).abs() < 0.1, "trunk {:?}", m.trunk_flexion_deg);
        prop_assert!((m.neck_flexion_deg.unwrap().value - neck).abs() < 0.1, "neck {:?}", m.neck_flexion_deg);
        prop_assert!((m.cva_proxy_deg.unwrap().value - (90.0 - neck)).abs() < 0.1);
        prop_assert_eq!(m.view, Some(View::Side));
    }

    #[test]
    fn the_cva_proxy_falls_as_the_head_moves_forward_and_the_trunk_angle_rises_as_it_leans(
        trunk in -20.0f32..70.0, neck in -30.0f32..70.0, step in 0.5f32..10.0,
    ) {
        let a = measure(&side_pose(trunk, neck, 1.0, (0.0, 0.0), 1.0), 0.3);
        let b = measure(&side_pose(trunk, neck + step, 1.0, (0.0, 0.0), 1.0), 0.3);
        prop_assert!(b.cva_proxy_deg.unwrap().value < a.cva_proxy_deg.unwrap().value);
        prop_assert!(b.head_forward_ratio.unwrap().value > a.head_forward_ratio.unwrap().value);
        let c = measure(&side_pose(trunk + step, neck, 1.0, (0.0, 0.0), 1.0), 0.3);
        prop_assert!(c.trunk_flexion_deg.unwrap().value > a.trunk_flexion_deg.unwrap().value);
    }

    #[test]
    fn front_tilts_are_exact_and_mirror_symmetric(tilt in -30.0f32..30.0, tx in -300.0f32..300.0, k in 0.3f32..5.0) {
        let r = tilt.to_radians();
        let (dx, dy) = (100.0 * r.cos(), 100.0 * r.sin());
        // Facing the camera: the person's left shoulder is on the image's right.
        let mut p = Pose::default();
        let mut put = |j: Joint, x: f32, y: f32| p.keypoints[j as usize] = Keypoint { x_px: x * k + tx, y_px: y * k + 300.0, score: 0.9 };
        put(Joint::RightShoulder, -dx, dy);
        put(Joint::LeftShoulder, dx, -dy);
        put(Joint::Nose, 0.0, -60.0);
        put(Joint::RightEar, -30.0, -80.0);
        put(Joint::LeftEar, 30.0, -80.0);
        let m = measure(&p, 0.3);
        prop_assert!((m.shoulder_tilt_deg.unwrap().value - tilt).abs() < 0.1, "{:?}", m.shoulder_tilt_deg);
        // The mirror image (x -> -x) is a person whose other shoulder is higher.
        let mut mirror = p;
        for kp in mirror.keypoints.iter_mut() {
            kp.x_px = -kp.x_px;
        }
        mirror.keypoints.swap(Joint::LeftShoulder as usize, Joint::RightShoulder as usize);
        mirror.keypoints.swap(Joint::LeftEar as usize, Joint::RightEar as usize);
        let mm = measure(&mirror, 0.3);
        prop_assert!((mm.shoulder_tilt_deg.unwrap().value + tilt).abs() < 0.1);
        prop_assert!((mm.head_drop_ratio.unwrap().value - m.head_drop_ratio.unwrap().value).abs() < 1e-4);
    }
}

#[test]
fn missing_keypoints_give_none_never_nan() {
    let m = measure(&Pose::default(), 0.3);
    assert_eq!(m, PostureMetrics::default());
    // Only shoulders: tilts, no side angles.
    let mut p = Pose::default();
    p.keypoints[Joint::LeftShoulder as usize] = Keypoint {
        x_px: 200.0,
        y_px: 100.0,
        score: 0.9,
    };
    p.keypoints[Joint::RightShoulder as usize] = Keypoint {
        x_px: 100.0,
        y_px: 100.0,
        score: 0.9,
    };
    let m = measure(&p, 0.3);
    assert_eq!(m.shoulder_tilt_deg.map(|x| x.value), Some(0.0));
    assert!(m.cva_proxy_deg.is_none() && m.trunk_flexion_deg.is_none());
    let json = serde_json::to_string(&m).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
}

#[test]
fn the_view_is_detected_on_every_synthetic_image() {
    for name in synthetic_names() {
        let (s, pose) = synth(&name);
        let want = if s.view == "side" {
            View::Side
        } else {
            View::Front
        };
        assert_eq!(measure(&pose, 0.3).view, Some(want), "{name}");
    }
}

#[test]
fn the_judge_scores_slouches_below_upright_posture_on_synthetic_side_views() {
    let t = Thresholds::default();
    let score = |name: &str| {
        let (_, pose) = synth(name);
        judge(&measure(&pose, 0.3), Some(View::Side), None, &t)
            .score()
            .unwrap()
    };
    let upright = score("neutral_s101_side.json");
    // dev09: trunk 26.8°; dev18: trunk 21.5°, neck 35.8°.
    assert!(upright >= 70.0, "upright {upright}");
    assert!(score("dev09_side.json") < upright);
    assert!(
        score("dev18_side.json") < 70.0,
        "slouched {}",
        score("dev18_side.json")
    );
}

#[test]
fn against_a_baseline_the_front_view_sees_the_head_drop_and_come_forward() {
    // Subject 101's neutral front image is the baseline; dev15 (subject 101 + 15 % 3 = 101) slumps.
    let (_, neutral) = synth("neutral_s101_front.json");
    let mut cal = Calibrator::new();
    for _ in 0..10 {
        cal.add(&measure(&neutral, 0.3));
    }
    let baseline = cal.finish("test", 0).unwrap();
    let t = Thresholds::default();
    let good = judge(
        &measure(&neutral, 0.3),
        Some(View::Front),
        Some(&baseline),
        &t,
    );
    assert!(good.score().unwrap() >= 70.0, "{good:?}");
    let (_, slump) = synth("dev15_front.json");
    let bad = judge(
        &measure(&slump, 0.3),
        Some(View::Front),
        Some(&baseline),
        &t,
    );
    match bad {
        Judgement::Judged { score, reason, .. } => {
            assert!(score < 70.0, "{score}: {reason}");
            assert!(
                reason.contains("head") && reason.contains("baseline"),
                "{reason}"
            );
        }
        other => panic!("judged: {other:?}"),
    }
}

fn real_judgement(image: &str) -> Judgement {
    use posture::pose::{ModelSpec, OnnxEstimator, OnnxOptions, PoseEstimator};
    let mut est = OnnxEstimator::load(&ModelSpec::Lightning, &OnnxOptions::default()).unwrap();
    let img = posture::source::image_file::read_image(&fixture(image)).unwrap();
    let pose = est.estimate(img.view()).unwrap().pose;
    let mut a = Analyzer::new(0.3, Settings::default(), None);
    a.update(0.0, &pose).judgement
}

#[test]
fn upright_front_portraits_are_not_judged_without_a_baseline() {
    // A front view without a baseline is never called good: it asks for a calibration.
    for image in ["skimage_astronaut.png", "matplotlib_grace_hopper.jpg"] {
        match real_judgement(image) {
            Judgement::NotJudged { reason } => assert_eq!(reason, CALIBRATE_TO_JUDGE, "{image}"),
            other => panic!("{image}: {other:?}"),
        }
    }
}

#[test]
fn the_man_leaning_over_the_tripod_judges_poor_because_of_his_neck_or_trunk() {
    match real_judgement("skimage_camera.png") {
        Judgement::Judged {
            band,
            score,
            reason,
            components,
        } => {
            assert_eq!(band, Band::Poor, "{score}: {reason} {components:?}");
            assert!(
                reason.contains("neck") || reason.contains("trunk"),
                "{reason}"
            );
        }
        other => panic!("a person is judged: {other:?}"),
    }
}

#[test]
fn the_shipped_thresholds_file_is_the_built_in_default() {
    let s = Settings::parse(
        DEFAULT_SETTINGS_TOML,
        std::path::Path::new("calibration/thresholds.toml"),
    )
    .unwrap();
    assert_eq!(s, Settings::default());
}

#[test]
fn a_bad_thresholds_file_names_the_file_line_and_field() {
    let e = Settings::parse(
        "schema_version = 1\n[judge]\ntrunk_flexion_deg = { good_max = \"x\" }\n",
        std::path::Path::new("mine.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("mine.toml") && e.contains("line 3") && e.contains("trunk_flexion_deg"),
        "{e}"
    );
}

#[test]
fn garbage_and_unknown_version_calibration_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let e = Baseline::load(&garbage).unwrap_err();
    assert!(matches!(e, CalibrationError::Malformed { .. }));
    assert!(
        e.to_string().contains("garbage.json") && e.to_string().contains("posture calibrate"),
        "{e}"
    );
    let future = dir.path().join("future.json");
    std::fs::write(&future, r#"{"schema_version": 7, "camera": "camera-0"}"#).unwrap();
    let e = Baseline::load(&future).unwrap_err();
    assert!(
        matches!(e, CalibrationError::UnknownVersion { found: 7, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("future.json") && e.to_string().contains('7'));
}

#[test]
fn calibration_with_nobody_in_view_or_with_movement_is_refused_and_a_good_one_round_trips() {
    let mut empty = Calibrator::new();
    for _ in 0..50 {
        empty.add(&PostureMetrics::default());
    }
    let e = empty.finish("camera-0", 0).unwrap_err().to_string();
    assert!(e.contains("nobody was seen"), "{e}");

    let mut moving = Calibrator::new();
    for i in 0..50 {
        moving.add(&measure(
            &side_pose(
                if i % 2 == 0 { 0.0 } else { 25.0 },
                10.0,
                1.0,
                (0.0, 0.0),
                1.0,
            ),
            0.3,
        ));
    }
    let e = moving.finish("camera-0", 0).unwrap_err().to_string();
    assert!(
        e.contains("trunk_flexion_deg") && e.contains("hold still"),
        "{e}"
    );

    let mut good = Calibrator::new();
    for _ in 0..50 {
        good.add(&measure(&side_pose(3.0, 12.0, 1.0, (0.0, 0.0), 1.0), 0.3));
    }
    let b = good.finish("camera-0", 1_800_000_000).unwrap();
    assert_eq!(b.view, View::Side);
    assert!(
        (b.mean(posture::science::metrics::Metric::TrunkFlexionDeg)
            .unwrap()
            - 3.0)
            .abs()
            < 0.1
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/camera-0.json");
    b.save(&path).unwrap();
    assert_eq!(Baseline::load(&path).unwrap(), b);
}

#[test]
fn the_analyzer_alerts_only_after_the_onset_and_pauses_when_nobody_is_there() {
    let mut a = Analyzer::new(0.3, Settings::default(), None);
    let slouch = side_pose(45.0, 80.0, 1.0, (300.0, 400.0), 1.0);
    let mut first_alert = None;
    for i in 0..150 {
        let t = f64::from(i) * 0.1;
        let r = a.update(t, &slouch);
        assert_eq!(r.view, Some(View::Side));
        if let Some(posture::event::Event::Alert { .. }) = r.alert {
            first_alert.get_or_insert(t);
        }
    }
    let t = first_alert.expect("an alert");
    assert!((10.0..10.5).contains(&t), "alert at {t}");
    // Nobody for 4 s: away, scoring paused.
    let mut away = false;
    for i in 150..190 {
        let r = a.update(f64::from(i) * 0.1, &Pose::default());
        assert_eq!(r.judgement, Judgement::NoPerson);
        away |= r.away;
    }
    assert!(away);
}

/// A front-view pose: shoulders 200 px apart at y = `shoulder_y`, the nose `nose_above` px above
/// them, eyes and ears beside the nose, hips 250 px below.
fn front_pose(shoulder_y: f32, nose_above: f32) -> Pose {
    let mut p = Pose::default();
    let mut put = |j: Joint, x: f32, y: f32| {
        p.keypoints[j as usize] = Keypoint {
            x_px: x,
            y_px: y,
            score: 0.9,
        }
    };
    let ny = shoulder_y - nose_above;
    put(Joint::LeftShoulder, 420.0, shoulder_y);
    put(Joint::RightShoulder, 220.0, shoulder_y);
    put(Joint::Nose, 320.0, ny);
    put(Joint::LeftEye, 335.0, ny - 12.0);
    put(Joint::RightEye, 305.0, ny - 12.0);
    put(Joint::LeftEar, 355.0, ny - 5.0);
    put(Joint::RightEar, 285.0, ny - 5.0);
    put(Joint::LeftHip, 390.0, shoulder_y + 250.0);
    put(Joint::RightHip, 250.0, shoulder_y + 250.0);
    p
}

#[test]
fn calibration_takes_the_median_of_the_view_and_forgives_a_few_outliers_but_not_movement() {
    use posture::science::metrics::Metric;
    // 20 still frames with one 20° glitch (5%): accepted, the median ignores the glitch.
    let mut cal = Calibrator::with_model("lightning");
    for i in 0..20 {
        let trunk = if i == 7 { 25.0 } else { 3.0 };
        cal.add(&measure(
            &side_pose(trunk, 12.0, 1.0, (300.0, 400.0), 1.0),
            0.3,
        ));
    }
    let b = cal.finish("camera-0", 0).unwrap();
    assert_eq!(b.view, View::Side);
    assert_eq!(b.model.as_deref(), Some("lightning"));
    assert!((b.value(Metric::TrunkFlexionDeg).unwrap() - 3.0).abs() < 0.01);
    assert!(b.metrics[&Metric::TrunkFlexionDeg].mad < 0.01);
    // Only the side view's metrics: no front metric enters a side baseline.
    assert!(
        b.metrics.keys().all(|m| m.view() == View::Side),
        "{:?}",
        b.metrics.keys()
    );
    // Three such frames of 20 (15%) are movement, named.
    let mut moving = Calibrator::new();
    for i in 0..20 {
        let trunk = if i % 7 == 0 { 25.0 } else { 3.0 };
        moving.add(&measure(
            &side_pose(trunk, 12.0, 1.0, (300.0, 400.0), 1.0),
            0.3,
        ));
    }
    let e = moving.finish("camera-0", 0).unwrap_err().to_string();
    assert!(
        e.contains("movement") && e.contains("trunk_flexion_deg") && e.contains("15%"),
        "{e}"
    );
    // A person in half the frames is absence, named.
    let mut half = Calibrator::new();
    for i in 0..20 {
        if i % 2 == 0 {
            half.add(&measure(&front_pose(300.0, 100.0), 0.3));
        } else {
            half.add(&PostureMetrics::default());
        }
    }
    let e = half.finish("camera-0", 0).unwrap_err().to_string();
    assert!(e.contains("absence") && e.contains("50%"), "{e}");
}

#[test]
fn a_calibration_file_written_with_means_still_reads() {
    use posture::science::metrics::Metric;
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::write(
        &old,
        r#"{"schema_version":1,"camera":"camera-0","created_unix_secs":1,"view":"side","frames":20,
            "metrics":{"trunk_flexion_deg":{"mean":2.5,"std":0.3,"frames":20}}}"#,
    )
    .unwrap();
    let b = Baseline::load(&old).unwrap();
    assert_eq!(b.value(Metric::TrunkFlexionDeg), Some(2.5));
    assert_eq!(b.model, None);
}

#[test]
fn the_front_view_without_a_baseline_is_poor_only_with_the_head_at_the_shoulders_and_never_good() {
    let t = Thresholds::default();
    let upright = judge(
        &measure(&front_pose(300.0, 100.0), 0.3),
        Some(View::Front),
        None,
        &t,
    );
    assert_eq!(
        upright,
        Judgement::NotJudged {
            reason: CALIBRATE_TO_JUDGE.into()
        }
    );
    // Nose 10 px (0.05 shoulder widths) above the shoulder line: poor.
    let slumped = judge(
        &measure(&front_pose(300.0, 10.0), 0.3),
        Some(View::Front),
        None,
        &t,
    );
    assert_eq!(slumped.band(), Some(Band::Poor), "{slumped:?}");
    // With a baseline of the upright pose the same slump is poor and the upright one good.
    let mut cal = Calibrator::new();
    cal.add(&measure(&front_pose(300.0, 100.0), 0.3));
    let b = cal.finish("c", 0).unwrap();
    let j = |p: &Pose| judge(&measure(p, 0.3), Some(View::Front), Some(&b), &t).band();
    assert_eq!(j(&front_pose(300.0, 100.0)), Some(Band::Good));
    assert_eq!(j(&front_pose(300.0, 60.0)), Some(Band::Poor));
}

#[test]
fn the_analysis_carries_only_the_metrics_of_its_view_and_warns_once_on_a_calibration_of_another_view()
 {
    let mut cal = Calibrator::new();
    cal.add(&measure(
        &side_pose(3.0, 12.0, 1.0, (300.0, 400.0), 1.0),
        0.3,
    ));
    let side_baseline = cal.finish("c", 0).unwrap();
    let mut a = Analyzer::new(0.3, Settings::default(), Some(side_baseline));
    let mut warnings = Vec::new();
    for i in 0..10 {
        let r = a.update(f64::from(i) * 0.1, &front_pose(300.0, 100.0));
        assert_eq!(r.view, Some(View::Front));
        for (m, v) in r.metrics.all() {
            assert!(
                v.is_none() || m.view() == View::Front,
                "{m} in a front view"
            );
        }
        assert!(r.metrics.shoulder_tilt_deg.is_some());
        // The side baseline does not apply: the front view is not judged.
        assert_eq!(r.judgement.band(), None);
        warnings.extend(r.warning);
    }
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("front view") && warnings[0].contains("calibrat"),
        "{warnings:?}"
    );
    let mut s = Analyzer::new(0.3, Settings::default(), None);
    let r = s.update(0.0, &side_pose(3.0, 12.0, 1.0, (300.0, 400.0), 1.0));
    assert!(r.metrics.trunk_flexion_deg.is_some());
    assert!(r.metrics.shoulder_tilt_deg.is_none() && r.metrics.head_drop_ratio.is_none());
    assert!(r.warning.is_none());
}

/// Runs `poses` (one per 0.2 s, 480-px frames) then nobody for `lost_secs`; returns the
/// judgements while nobody is seen.
fn lost_after(poses: &[Pose], lost_secs: f64) -> Vec<(f64, Judgement, bool)> {
    let mut a = Analyzer::new(0.3, Settings::default(), None);
    let mut t = 0.0;
    for p in poses {
        a.update_in_frame(t, p, Some(480.0));
        t += 0.2;
    }
    let end = t + lost_secs;
    let mut out = Vec::new();
    while t < end {
        let r = a.update_in_frame(t, &Pose::default(), Some(480.0));
        out.push((t, r.judgement, r.away));
        t += 0.2;
    }
    out
}

#[test]
fn a_person_lost_while_leaning_forward_and_down_is_poor_for_a_while_and_one_who_leaves_is_away() {
    use posture::science::analysis::{LEAN_OUT_MAX_SECS, LEANING_OUT_OF_VIEW};
    // Still upright for 2 s, then the head and shoulders go down 40 px every 0.2 s (0.4 frame
    // heights a second) until lost.
    let mut lean: Vec<Pose> = (0..10).map(|_| front_pose(300.0, 100.0)).collect();
    lean.extend((1..=5).map(|i| front_pose(300.0 + 40.0 * i as f32, 100.0 - 12.0 * i as f32)));
    let lost = lost_after(&lean, 15.0);
    let (t0, _, _) = lost[0];
    for (t, j, away) in &lost {
        if t - t0 <= LEAN_OUT_MAX_SECS {
            assert_eq!(j.reason(), Some(LEANING_OUT_OF_VIEW), "at {t}");
            assert_eq!(j.band(), Some(Band::Poor));
            assert!(!away, "not away at {t}");
        }
    }
    // Bounded: later it is nobody seen, and away.
    let (_, last, away) = lost.last().unwrap();
    assert_eq!(*last, Judgement::NoPerson);
    assert!(away);
    // A person walking out sideways, head level, is nobody seen and then away.
    let mut walk: Vec<Pose> = (0..10).map(|_| front_pose(300.0, 100.0)).collect();
    walk.extend((1..=5).map(|i| {
        let mut p = front_pose(300.0, 100.0);
        for k in p.keypoints.iter_mut() {
            k.x_px += 60.0 * i as f32;
        }
        p
    }));
    let lost = lost_after(&walk, 4.0);
    assert!(lost.iter().all(|(_, j, _)| *j == Judgement::NoPerson));
    assert!(lost.last().unwrap().2, "away after 3 s");
    // Standing up (the head rising) and leaving is not leaning out either, even near the bottom.
    let mut rise: Vec<Pose> = (0..10).map(|_| front_pose(440.0, 40.0)).collect();
    rise.extend((1..=5).map(|i| front_pose(440.0 - 40.0 * i as f32, 40.0)));
    assert!(
        lost_after(&rise, 1.0)
            .iter()
            .all(|(_, j, _)| *j == Judgement::NoPerson)
    );
}
