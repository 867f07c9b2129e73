//! Posture science: metrics against exact synthetic geometry, invariances, the judge on real
//! photos, calibration files.

use posture::analysis::{Analyzer, DEFAULT_SETTINGS_TOML, Settings};
use posture::calibration::{Baseline, CalibrationError, Calibrator};
use posture::judge::{Band, Judgement, Thresholds, judge};
use posture::metrics::{PostureMetrics, View, measure};
use posture::pose::{Joint, Keypoint, Pose};
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
    let s: Synth = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("synthetic/{name}"))).unwrap(),
    )
    .unwrap();
    let mut p = Pose::default();
    for (k, &[x, y, v]) in p.keypoints.iter_mut().zip(&s.keypoints_2d) {
        *k = Keypoint {
            x_px: x,
            y_px: y,
            score: [0.0, 0.5, 0.9][v as usize],
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
    let mut checked = 0;
    for name in synthetic_names()
        .iter()
        .filter(|n| n.ends_with("_side.json"))
    {
        let (s, pose) = synth(name);
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
        Judgement::NoPerson => panic!("judged"),
    }
}

fn real_judgement(image: &str) -> Judgement {
    use posture::pose::{ModelSpec, OnnxEstimator, OnnxOptions, PoseEstimator};
    let mut est = OnnxEstimator::load(&ModelSpec::Lightning, &OnnxOptions::default()).unwrap();
    let img = posture::analyze::read_image(&fixture(image)).unwrap();
    let pose = est.estimate(img.view()).unwrap().pose;
    let mut a = Analyzer::new(0.3, Settings::default(), None);
    a.update(0.0, &pose).judgement
}

#[test]
fn upright_front_portraits_judge_good() {
    for image in ["skimage_astronaut.png", "matplotlib_grace_hopper.jpg"] {
        match real_judgement(image) {
            Judgement::Judged {
                band,
                score,
                reason,
                ..
            } => assert_eq!(band, Band::Good, "{image}: {score} {reason}"),
            Judgement::NoPerson => panic!("{image}: a person is seen"),
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
        Judgement::NoPerson => panic!("a person is seen"),
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
    assert!((b.mean("trunk_flexion_deg").unwrap() - 3.0).abs() < 0.1);
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
        if let Some(posture::alerts::AlertEvent::Alert { .. }) = r.alert {
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
