//! `posture eval` on the committed development fixtures (`tests/fixtures/eval`: subjects 106
//! and 109 of `media/synthetic/users`, each with its neutral renders; two sit-tall videos), with
//! floors under today's figures. The figures are printed (`cargo test eval -- --nocapture`).
//!
//! The floors sit a little below (the error ceilings a little above) what the code achieves
//! now. When the judge or the metrics improve, raise them here: they are the named constants
//! below and nothing else.

use std::process::Command;

use serde_json::Value;

use crate::{ffmpeg_available, fixture};

// ---- Floors (raise these as the science improves) -------------------------------------------
// Issue 14's targets where this 8-images-a-view subset can show them. Front calibrated is the
// exception: one borderline image of subject 109 (truth neck 10°, trunk 10°: "good", with the head
// 0.24 shoulder widths down) and one the model loses make 6 of 8; on the whole development set it
// is 92% (docs/science.md, "Evaluation"). Figures in the comments: this subset, 2026-12-01.
/// Side view, all subjects: trunk flexion MAE at most this, degrees (today 1.3).
const MAX_SIDE_TRUNK_MAE_DEG: f64 = 3.0;
/// Side view, all subjects: CVA proxy MAE at most this, degrees (today 3.8).
const MAX_SIDE_CVA_MAE_DEG: f64 = 4.0;
/// Side view, uncalibrated: verdict agreement at least this, percent (today 88).
const MIN_SIDE_UNCALIBRATED_AGREE_PCT: f64 = 85.0;
/// Side view, calibrated: verdict agreement at least this, percent (today 100).
const MIN_SIDE_CALIBRATED_AGREE_PCT: f64 = 90.0;
/// Front view, calibrated: verdict agreement at least this, percent (today 75).
const MIN_FRONT_CALIBRATED_AGREE_PCT: f64 = 75.0;
/// Front view, uncalibrated: confident wrong verdicts at most this, percent (today 0).
const MAX_FRONT_UNCALIBRATED_CONFIDENT_WRONG_PCT: f64 = 10.0;
/// Calibrated, either view: confident wrong verdicts at most this many (today 1: the borderline
/// front image above).
const MAX_CALIBRATED_CONFIDENT_WRONG: u64 = 1;
/// Videos whose reps are counted exactly (today 2 of 2).
const MIN_VIDEOS_WITH_EXACT_REPS: usize = 2;
/// Videos whose calibration on 5–9 s is accepted (today 2 of 2).
const MIN_VIDEO_CALIBRATIONS_ACCEPTED: usize = 2;
/// Every still hold: 5th–95th percentile range of the CVA proxy and trunk flexion at most this,
/// degrees (today 1.3).
const MAX_HOLD_RANGE_DEG: f64 = 3.0;
// ----------------------------------------------------------------------------------------------

fn eval_json(args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .arg("eval")
        .args(args)
        .arg("--json")
        .output()
        .expect("the binary runs");
    assert!(
        o.status.success(),
        "posture eval failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

fn verdict<'a>(r: &'a Value, view: &str, calibrated: bool) -> &'a Value {
    r["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["view"] == view && v["calibrated"] == calibrated)
        .map(|v| &v["tally"]["all"])
        .unwrap()
}

fn angle_mae(r: &Value, view: &str, metric: &str) -> f64 {
    r["angles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["view"] == view && a["metric"] == metric)
        .and_then(|a| a["error"]["all"]["mae_deg"].as_f64())
        .unwrap()
}

#[test]
fn eval_on_the_fixtures_meets_the_floors() {
    let dir = fixture("eval");
    let mut args = vec![
        dir.to_str().unwrap().to_owned(),
        "--holdout".into(),
        "109".into(),
    ];
    let videos = ffmpeg_available("eval_on_the_fixtures_meets_the_floors");
    if videos {
        for v in ["dev_seq_side", "dev_seq_side_all_valid"] {
            let p = fixture(&format!("sequences/{v}.mp4"));
            args.push(p.to_str().unwrap().to_owned());
        }
    } else {
        args.push("--no-videos".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = eval_json(&args);
    assert_eq!(
        (r["format"].as_str(), r["version"].as_u64()),
        (Some("posture.eval"), Some(1))
    );
    assert_eq!(
        (r["side_images"].as_u64(), r["front_images"].as_u64()),
        (Some(8), Some(8))
    );

    let trunk = angle_mae(&r, "side", "trunk_flexion_deg");
    let cva = angle_mae(&r, "side", "cva_proxy_deg");
    println!(
        "side MAE: trunk {trunk:.2}° (≤ {MAX_SIDE_TRUNK_MAE_DEG}), CVA proxy {cva:.2}° (≤ {MAX_SIDE_CVA_MAE_DEG})"
    );
    let pct = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let side_u = verdict(&r, "side", false);
    let side_c = verdict(&r, "side", true);
    let front_u = verdict(&r, "front", false);
    let front_c = verdict(&r, "front", true);
    for (name, v) in [
        ("side uncalibrated", side_u),
        ("side calibrated", side_c),
        ("front uncalibrated", front_u),
        ("front calibrated", front_c),
    ] {
        println!(
            "{name}: agree {:.0}% ({}/{}), confident wrong {} ({:.0}%), abstained {}, no person {}",
            pct(v, "agree_pct"),
            v["agree"],
            v["labelled"],
            v["confident_wrong"],
            pct(v, "confident_wrong_pct"),
            v["abstained"],
            v["no_person"]
        );
    }
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    check(
        trunk <= MAX_SIDE_TRUNK_MAE_DEG,
        format!("side trunk MAE {trunk:.2}"),
    );
    check(
        cva <= MAX_SIDE_CVA_MAE_DEG,
        format!("side CVA MAE {cva:.2}"),
    );
    check(
        pct(side_u, "agree_pct") >= MIN_SIDE_UNCALIBRATED_AGREE_PCT,
        "side uncalibrated agreement".into(),
    );
    check(
        pct(side_c, "agree_pct") >= MIN_SIDE_CALIBRATED_AGREE_PCT,
        "side calibrated agreement".into(),
    );
    check(
        pct(front_c, "agree_pct") >= MIN_FRONT_CALIBRATED_AGREE_PCT,
        "front calibrated agreement".into(),
    );
    check(
        pct(front_u, "confident_wrong_pct") <= MAX_FRONT_UNCALIBRATED_CONFIDENT_WRONG_PCT,
        "front uncalibrated confident wrong".into(),
    );
    for v in [side_c, front_c] {
        check(
            v["confident_wrong"].as_u64().unwrap() <= MAX_CALIBRATED_CONFIDENT_WRONG,
            "calibrated confident wrong".into(),
        );
    }

    if videos {
        let vids = r["videos"].as_array().unwrap();
        assert_eq!(vids.len(), 2);
        let mut exact = 0;
        let mut accepted = 0;
        for v in vids {
            let worst = &v["worst_p5_p95_range_deg"];
            println!(
                "{}: reps {}/{}, calibration {}, worst hold range CVA {:.1}° trunk {:.1}°",
                v["video"],
                v["counted_reps"],
                v["expected_valid_reps"],
                if v["calibration"]["accepted"] == true {
                    "accepted".to_owned()
                } else {
                    format!("refused ({})", v["calibration"]["refused"])
                },
                worst["cva_proxy_deg"].as_f64().unwrap(),
                worst["trunk_flexion_deg"].as_f64().unwrap()
            );
            exact += usize::from(v["counted_reps"] == v["expected_valid_reps"]);
            accepted += usize::from(v["calibration"]["accepted"] == true);
            assert!(
                !v["holds"].as_array().unwrap().is_empty(),
                "side videos have still holds"
            );
            for m in ["cva_proxy_deg", "trunk_flexion_deg"] {
                let w = worst[m].as_f64().unwrap();
                check(
                    w <= MAX_HOLD_RANGE_DEG,
                    format!("{} hold range of {m} {w:.1}", v["video"]),
                );
            }
        }
        check(
            exact >= MIN_VIDEOS_WITH_EXACT_REPS,
            format!("{exact} videos with exact reps"),
        );
        check(
            accepted >= MIN_VIDEO_CALIBRATIONS_ACCEPTED,
            format!("{accepted} video calibrations accepted"),
        );
    }
    assert!(failures.is_empty(), "below the floors: {failures:?}");
}

#[test]
fn eval_writes_the_features_csv_and_refuses_a_folder_without_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("features.csv");
    let one = fixture("eval/dev2_s109_p6_side.png");
    let neutral = fixture("eval/dev2_s109_neutral_side.png");
    let r = eval_json(&[
        one.to_str().unwrap(),
        neutral.to_str().unwrap(),
        "--no-videos",
        "--features-out",
        csv.to_str().unwrap(),
    ]);
    let image = &r["images"][0];
    assert_eq!(image["label"], "poor");
    assert!(
        image["calibrated"].is_object(),
        "calibrated on the neutral render"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), row.len());
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(
        (col("view"), col("label"), col("subject")),
        ("side", "poor", "109")
    );
    assert!(col("delta_cva_proxy_deg").parse::<f64>().is_ok());

    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["eval", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no images with truth"), "{err}");
}

#[test]
fn analyze_judges_each_image_alone() {
    let image = fixture("eval/dev2_s109_p6_side.png");
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["analyze", image.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let rec: Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &rec["posture"];
    assert_eq!(p["person"], true);
    assert_eq!(p["view"], "side");
    assert!(p["score"].as_f64().is_some() && p["band"].is_string() && p["reason"].is_string());
    assert!(
        p["metrics"]["trunk_flexion_deg"]["value"]
            .as_f64()
            .is_some()
    );
    // The same image through the product's one-frame path gives the same verdict.
    let m = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args([
            "monitor",
            "--images",
            image.to_str().unwrap(),
            "--json",
            "--as-fast-as-possible",
        ])
        .output()
        .unwrap();
    let frame = String::from_utf8_lossy(&m.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["kind"] == "frame")
        .unwrap();
    assert_eq!(frame["posture"]["score"], p["score"]);
    assert_eq!(frame["posture"]["band"], p["band"]);
}
