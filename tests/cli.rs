//! The `posture` binary: outputs, exit codes and error lines.

use std::path::Path;
use std::process::{Command, Output};

use crate::fixture;

fn posture(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The session file `--record DIR` wrote (the only `.jsonl` in DIR).
fn session_file(dir: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(files.len(), 1, "one session file: {files:?}");
    files[0].clone()
}

/// One clear line on stderr, no panic.
fn assert_one_error_line(o: &Output, names: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(names), "names {names}: {err}");
}

#[test]
fn analyze_prints_one_versioned_json_record_per_image() {
    let o = posture(&[
        "analyze",
        fixture("skimage_astronaut.png").to_str().unwrap(),
        fixture("skimage_camera.png").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs = json_lines(&o);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r["format"], "posture.analyze");
        assert_eq!(r["version"], 1);
        assert_eq!(r["model"], "lightning");
        assert_eq!(
            (r["width_px"].as_u64(), r["height_px"].as_u64()),
            (Some(512), Some(512))
        );
        let kps = r["keypoints"].as_array().unwrap();
        assert_eq!(kps.len(), 17);
        assert_eq!(kps[5]["name"], "left_shoulder");
        for stage in ["read_image_ms", "letterbox_ms", "inference_ms", "decode_ms"] {
            assert!(r["timings"][stage].as_f64().unwrap() >= 0.0);
        }
    }
    assert!(
        recs[0]["image"]
            .as_str()
            .unwrap()
            .ends_with("skimage_astronaut.png")
    );
}

#[test]
fn analyze_goes_on_past_bad_images_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("matplotlib_grace_hopper.jpg"),
        dir.path().join("a_good.jpg"),
    )
    .unwrap();
    std::fs::write(dir.path().join("b_empty.png"), b"").unwrap();
    std::fs::write(
        dir.path().join("c_corrupt.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let o = posture(&[
        "analyze",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("b_empty.png") && err.contains("empty"),
        "{err}"
    );
    assert!(err.contains("c_corrupt.png"), "{err}");
    let text = std::fs::read_to_string(out).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["keypoints"].as_array().map(Vec::len), Some(17));
    assert!(recs[1]["error"].as_str().unwrap().contains("b_empty.png"));
    assert!(recs[2]["error"].is_string());
}

#[test]
fn an_unreadable_image_is_one_error_line_and_exit_2() {
    let o = posture(&["analyze", "/nonexistent/photo.png"]);
    assert_one_error_line(&o, "/nonexistent/photo.png");
}

#[test]
fn a_zero_byte_image_is_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("zero.jpg");
    std::fs::write(&p, b"").unwrap();
    let o = posture(&["analyze", p.to_str().unwrap()]);
    assert_one_error_line(&o, "zero.jpg");
}

#[test]
fn a_missing_model_is_one_error_line_and_exit_2() {
    let img = fixture("skimage_astronaut.png");
    let o = posture(&[
        "analyze",
        "--model",
        "/nowhere/movenet.onnx",
        img.to_str().unwrap(),
    ]);
    assert_one_error_line(&o, "/nowhere/movenet.onnx");
    assert!(o.stdout.is_empty());
}

#[test]
fn a_corrupt_model_is_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let img = fixture("skimage_astronaut.png");
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"definitely not a protobuf \x00\x01\x02\xff\xfe").unwrap();
    // The real model cut in half.
    let truncated = dir.path().join("truncated.onnx");
    let model = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/movenet_singlepose_lightning_v4.onnx"),
    )
    .unwrap();
    std::fs::write(&truncated, &model[..4_000_000]).unwrap();
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    for model in [&garbage, &truncated, &empty] {
        let o = posture(&[
            "analyze",
            "--model",
            model.to_str().unwrap(),
            img.to_str().unwrap(),
        ]);
        assert_one_error_line(&o, model.file_name().unwrap().to_str().unwrap());
    }
}

#[test]
fn overlay_draws_the_skeleton_on_a_copy_of_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("skimage_astronaut.png");
    let o = posture(&[
        "analyze",
        src.to_str().unwrap(),
        "--overlay",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec = &json_lines(&o)[0];
    let drawn = image::open(dir.path().join("skimage_astronaut.overlay.png"))
        .unwrap()
        .to_rgb8();
    let orig = image::open(&src).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), orig.dimensions());
    // At each confident keypoint the overlay shows the marker's colour, which the photo did not.
    let mut marked = 0;
    for k in rec["keypoints"].as_array().unwrap() {
        if k["score"].as_f64().unwrap() < 0.3 {
            continue;
        }
        let (x, y) = (
            k["x_px"].as_f64().unwrap() as u32,
            k["y_px"].as_f64().unwrap() as u32,
        );
        let px = drawn.get_pixel(x, y).0;
        let name = k["name"].as_str().unwrap();
        let want = if name.starts_with("left_") {
            posture::sink::draw::LEFT_COLOR
        } else if name.starts_with("right_") {
            posture::sink::draw::RIGHT_COLOR
        } else {
            posture::sink::draw::CENTER_COLOR
        };
        assert_eq!(px, want, "{name} at ({x}, {y})");
        marked += 1;
    }
    assert!(marked >= 5, "{marked} keypoints drawn");
    let changed = drawn
        .pixels()
        .zip(orig.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed > 1000 && changed < 512 * 512 / 4,
        "{changed} pixels changed"
    );
}

#[test]
fn bench_prints_percentiles_per_stage() {
    let o = posture(&["bench", "--frames", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    assert_eq!(r["model"], "lightning");
    assert_eq!(r["frames"], 3);
    for stage in ["letterbox", "inference", "decode", "total", "render"] {
        let s = &r[stage];
        let (p50, p95, p99) = (
            s["p50_ms"].as_f64().unwrap(),
            s["p95_ms"].as_f64().unwrap(),
            s["p99_ms"].as_f64().unwrap(),
        );
        assert!(0.0 <= p50 && p50 <= p95 && p95 <= p99, "{stage}: {s}");
    }
    assert!(
        r["inference"]["p50_ms"].as_f64().unwrap() > 0.1,
        "the network really ran"
    );
    let table = posture(&["bench", "--frames", "2"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("p50 ms") && text.contains("inference"),
        "{text}"
    );
}

#[test]
fn the_model_flag_accepts_thunder_and_a_path() {
    let img = fixture("skimage_astronaut.png");
    let o = posture(&["analyze", "--model", "thunder", img.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_lines(&o)[0]["model"], "thunder");
    let model_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/movenet_singlepose_lightning_v4.onnx");
    let o = posture(&[
        "analyze",
        "--model",
        model_path.to_str().unwrap(),
        "--threads",
        "2",
        img.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    assert_eq!(r["model_sha256"], posture::pose::model::LIGHTNING_SHA256);
}

#[test]
fn monitor_without_a_camera_exits_2_with_one_line_suggesting_video_or_demo() {
    let o = posture(&["monitor", "--headless", "--camera", "7"]);
    assert_one_error_line(&o, "camera");
    let err = stderr(&o);
    assert!(
        err.contains("--video") && err.contains("posture demo"),
        "{err}"
    );
}

/// `posture demo --json | head -1` (the live loop writing JSON lines into a pipe closed early) ends
/// quietly with exit 0, as `analyze | head` does: a closed pipe is not an error.
#[test]
fn live_json_into_a_pipe_closed_early_exits_0_with_nothing_on_stderr() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["demo", "--headless", "--json", "--loops", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().expect("piped");
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("one line");
    // The reader is gone now (as `head -1` exits): the next writes fail with a broken pipe.
    assert!(first.contains("\"kind\":\"frame\""), "{first}");
    let o = child.wait_with_output().expect("it ends");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "nothing on stderr");
}

#[test]
fn demo_runs_headless_to_the_end_of_the_clip_with_status_lines() {
    let o = posture(&["demo", "--headless", "--loops", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let status: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("fps") && l.contains("latency"))
        .collect();
    assert!(!status.is_empty(), "per-second status lines: {out}");
    let err = stderr(&o);
    assert!(
        err.contains("end of stream") && err.contains("200 frames captured"),
        "{err}"
    );
}

/// A machine without ffmpeg (here: an empty PATH): `--video` is one line saying what to install,
/// exit 2, for every command that reads video.
#[test]
fn video_without_ffmpeg_is_one_line_saying_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let video = fixture("pose2sim_cam01_small_faststart.mp4");
    for cmd in [
        &["monitor", "--headless"][..],
        &["calibrate"][..],
        &["exercise", "sit-tall", "--headless"][..],
    ] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.extend(["--video", video.to_str().unwrap()]);
        let o = Command::new(env!("CARGO_BIN_EXE_posture"))
            .args(&args)
            .env("PATH", empty.path())
            .output()
            .expect("the binary runs");
        assert_one_error_line(&o, "pose2sim_cam01_small_faststart.mp4");
        assert!(
            stderr(&o).contains("install ffmpeg"),
            "{cmd:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn monitor_analyses_every_frame_of_a_video_offline_as_json_lines() {
    if !crate::ffmpeg_available("monitor_analyses_every_frame_of_a_video_offline_as_json_lines") {
        return;
    }
    let video = fixture("pose2sim_cam01_small_faststart.mp4");
    let o = posture(&[
        "monitor",
        "--video",
        video.to_str().unwrap(),
        "--headless",
        "--json",
        "--as-fast-as-possible",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs = json_lines(&o);
    assert_eq!(recs.len(), 100, "one line per frame, none dropped");
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["format"], "posture.live");
        assert_eq!(r["kind"], "frame");
        assert_eq!(r["seq"], i as u64);
        assert_eq!(r["dropped_frames"], 0);
        assert_eq!(r["keypoints"].as_array().map(Vec::len), Some(17));
    }
    assert!(
        (recs[60]["t_secs"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "media time at 60 fps"
    );
    // A standing man, full body: hips below shoulders in most frames.
    let upright = recs
        .iter()
        .filter(|r| r["keypoints"][11]["y_px"].as_f64() > r["keypoints"][5]["y_px"].as_f64())
        .count();
    assert!(upright > 90, "{upright} frames with hips below shoulders");
}

#[test]
fn a_truncated_video_is_one_error_line_naming_the_file_and_frame() {
    if !crate::ffmpeg_available("a_truncated_video_is_one_error_line_naming_the_file_and_frame") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("pose2sim_cam01_small_faststart.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = posture(&[
        "monitor",
        "--video",
        cut.to_str().unwrap(),
        "--headless",
        "--json",
        "--as-fast-as-possible",
    ]);
    assert_one_error_line(&o, "cut.mp4");
    let err = stderr(&o);
    assert!(err.contains("at frame"), "{err}");
    // What was analysed before the bad frame was printed, not lost.
    assert!(!json_lines(&o).is_empty());
}

#[test]
fn calibrate_saves_a_baseline_of_an_upright_person_and_monitor_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    for i in 0..12 {
        std::fs::copy(
            fixture("skimage_astronaut.png"),
            frames.join(format!("f{i:02}.png")),
        )
        .unwrap();
    }
    let out = dir.path().join("cal.json");
    let o = posture(&[
        "calibrate",
        "--images",
        frames.to_str().unwrap(),
        "--images-fps",
        "10",
        "--duration-secs",
        "1",
        "--calibration",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let b =
        posture::science::calibration::Baseline::load(&out).expect("a valid baseline was saved");
    assert_eq!(b.view, posture::science::metrics::View::Front);
    assert!(b.frames >= 10, "{} frames", b.frames);
    assert!(
        b.mean(posture::science::metrics::Metric::ShoulderTiltDeg)
            .is_some()
    );
    // The same frames judged against it: the verdicts carry scores, and no "no calibration" note.
    let o = posture(&[
        "monitor",
        "--images",
        frames.to_str().unwrap(),
        "--headless",
        "--json",
        "--as-fast-as-possible",
        "--calibration",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs = json_lines(&o);
    assert_eq!(recs.len(), 12);
    assert_eq!(
        recs[11]["posture"]["band"], "good",
        "{}",
        recs[11]["posture"]
    );
    assert_eq!(recs[11]["posture"]["view"], "front");
}

#[test]
fn calibrating_with_nobody_in_view_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..8 {
        image::RgbImage::from_pixel(320, 240, image::Rgb([90, 110, 130]))
            .save(dir.path().join(format!("empty{i}.png")))
            .unwrap();
    }
    let out = dir.path().join("cal.json");
    let o = posture(&[
        "calibrate",
        "--images",
        dir.path().to_str().unwrap(),
        "--duration-secs",
        "2",
        "--calibration",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("nobody was seen"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing saved");
}

#[test]
fn a_garbage_calibration_file_is_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.json");
    std::fs::write(&bad, "]]] not json").unwrap();
    let images = fixture("skimage_astronaut.png");
    let o = posture(&[
        "monitor",
        "--images",
        images.to_str().unwrap(),
        "--headless",
        "--calibration",
        bad.to_str().unwrap(),
    ]);
    assert_one_error_line(&o, "garbage.json");
    let old = dir.path().join("old.json");
    std::fs::write(&old, r#"{"schema_version": 99}"#).unwrap();
    let o = posture(&[
        "monitor",
        "--images",
        images.to_str().unwrap(),
        "--headless",
        "--calibration",
        old.to_str().unwrap(),
    ]);
    assert_one_error_line(&o, "schema version 99");
}

/// The sit-tall definition end to end through the real pose model on the synthetic "sit tall for
/// ten" video (subject 102, side view, 5 fps): attempts 1 and 3 are valid, attempt 2 is broken by a
/// slouch 3 s into the hold. Four seconds of the first hold are the calibration, as a user would
/// calibrate sitting tall before exercising.
#[test]
fn sit_tall_counts_the_valid_reps_of_the_synthetic_sequence_through_the_real_model() {
    if !crate::ffmpeg_available(
        "sit_tall_counts_the_valid_reps_of_the_synthetic_sequence_through_the_real_model",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cal = dir.path().join("cal.json");
    let video = fixture("sequences/dev_seq_side.mp4");
    let clip = dir.path().join("first_hold.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-ss", "5", "-t", "4", "-i"])
        .arg(&video)
        .arg(&clip)
        .status()
        .unwrap();
    assert!(made.success());
    let o = posture(&[
        "calibrate",
        "--video",
        clip.to_str().unwrap(),
        "--duration-secs",
        "4",
        "--calibration",
        cal.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = posture(&[
        "exercise",
        "sit-tall",
        "--reps",
        "3",
        "--video",
        video.to_str().unwrap(),
        "--as-fast-as-possible",
        "--headless",
        "--calibration",
        cal.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "2 of 3 reps is not all: {out}\n{err}"
    );
    assert!(err.contains("2 reps done of 3 asked"), "{err}");
    assert_eq!(
        out.matches("rep 1 of 3 done").count() + out.matches("rep 2 of 3 done").count(),
        2,
        "{out}"
    );
    // The broken attempt is reported with its reason and the count at which it broke: the
    // slouch starts 3 s into the hold and eases in over 1 s.
    let rejected: Vec<&str> = out.lines().filter(|l| l.contains("not counted")).collect();
    assert!(
        !rejected.is_empty()
            && rejected[0].contains("posture dropped")
            && (rejected[0].ends_with("at 3") || rejected[0].ends_with("at 4")),
        "{rejected:?}"
    );
    // The count is shown as the hold goes on.
    assert!(out.lines().any(|l| l.trim() == "10"), "{out}");
    assert!(err.contains("rep 1: held 10.0 s, score mean"), "{err}");
}

#[test]
fn a_malformed_exercise_file_is_one_error_line_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "name = \"bad\"\ndescription = \"x\"\n[[phases]]\nname = \"hold\"\nprompt = \"p\"\ncounted = \"yes\"\nconditions = []\n").unwrap();
    let o = posture(&[
        "exercise",
        f.to_str().unwrap(),
        "--images",
        fixture("skimage_astronaut.png").to_str().unwrap(),
        "--headless",
    ]);
    assert_one_error_line(&o, "bad.toml");
    let err = stderr(&o);
    assert!(err.contains("line 6") && err.contains("counted"), "{err}");
}

#[test]
fn a_recorded_run_replays_to_the_same_judgements_frame_for_frame_and_exports_to_csv() {
    if !crate::ffmpeg_available(
        "a_recorded_run_replays_to_the_same_judgements_frame_for_frame_and_exports_to_csv",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let video = fixture("pose2sim_cam01_small_faststart.mp4");
    let o = posture(&[
        "monitor",
        "--video",
        video.to_str().unwrap(),
        "--headless",
        "--json",
        "--as-fast-as-possible",
        "--record",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let live: Vec<serde_json::Value> = json_lines(&o)
        .into_iter()
        .filter(|r| r["kind"] == "frame")
        .collect();
    let file = session_file(dir.path());
    let session = posture::format::session::Session::load(&file).unwrap();
    assert!(session.warnings.is_empty() && !session.summary.recomputed);
    assert_eq!(session.frames.len(), 100);
    assert_eq!(session.summary.frames, 100);
    assert_eq!(
        session.header.model_sha256,
        posture::pose::model::LIGHTNING_PREPARED_SHA256
    );
    // Compared as typed records (f32 values), not as JSON numbers.
    let record = |v: &serde_json::Value| {
        serde_json::from_value::<posture::format::live::PostureRecord>(v.clone()).unwrap()
    };
    for (rec, l) in session.frames.iter().zip(&live) {
        assert_eq!(
            rec.posture,
            record(&l["posture"]),
            "recorded = live at seq {}",
            rec.seq
        );
    }
    // Replay: same judgements, frame for frame, and twice the same output.
    let replay = posture(&["replay", file.to_str().unwrap()]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    let lines = json_lines(&replay);
    let frames: Vec<&serde_json::Value> = lines.iter().filter(|r| r["kind"] == "frame").collect();
    assert_eq!(frames.len(), 100);
    for (rec, r) in session.frames.iter().zip(&frames) {
        assert_eq!(
            rec.posture,
            record(&r["posture"]),
            "replay = recording at seq {}",
            rec.seq
        );
    }
    assert_eq!(
        posture(&["replay", file.to_str().unwrap()]).stdout,
        replay.stdout,
        "deterministic"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["summary"]["frames"], 100);
    // CSV export: a header and one row per frame.
    let csv = posture(&["export", file.to_str().unwrap(), "--csv"]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    let text = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(text.lines().count(), 101);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("t_secs,seq,person,view,stance,score,band,reason,cva_proxy_deg")
    );
}

#[test]
fn an_unwritable_record_folder_warns_once_and_the_run_goes_on() {
    if !crate::ffmpeg_available("an_unwritable_record_folder_warns_once_and_the_run_goes_on") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"a file where the folder should be").unwrap();
    let video = fixture("pose2sim_cam01_small_faststart.mp4");
    let o = posture(&[
        "monitor",
        "--video",
        video.to_str().unwrap(),
        "--headless",
        "--json",
        "--as-fast-as-possible",
        "--record",
        blocker.join("sessions").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(err.contains("going on without recording"), "{err}");
    assert_eq!(
        json_lines(&o)
            .iter()
            .filter(|r| r["kind"] == "frame")
            .count(),
        100
    );
}

/// A recording process killed with SIGKILL: the file loads, the summary is recomputed, and what
/// was lost is at most about the last second (the writer flushes every second).
#[cfg(unix)]
#[test]
fn a_recording_killed_with_sigkill_still_loads_and_loses_at_most_a_second() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args([
            "demo",
            "--headless",
            "--json",
            "--loops",
            "100",
            "--record",
            dir.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The live JSON lines tell how far the run had got (stdout is line-buffered).
    let stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(0.0f64));
    let seen_w = std::sync::Arc::clone(&seen);
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["kind"] == "frame"
            {
                *seen_w.lock().unwrap() = v["t_secs"].as_f64().unwrap_or(0.0);
            }
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    let reached = *seen.lock().unwrap();
    child.kill().unwrap(); // SIGKILL on Unix: no chance to flush or write a summary.
    child.wait().unwrap();
    reader.join().unwrap();
    assert!(reached > 1.0, "the run got going: {reached}");
    let file = session_file(dir.path());
    let s = posture::format::session::Session::load(&file).unwrap();
    assert!(s.summary.recomputed, "no summary was written");
    assert!(
        s.warnings.len() <= 1,
        "at most the cut last line: {:?}",
        s.warnings
    );
    let last = s.frames.last().map(|f| f.t_secs).unwrap_or(0.0);
    // One second of flush interval, plus the writer's 0.25 s wake-up.
    assert!(
        last >= reached - 1.3,
        "recorded up to {last} s of {reached} s"
    );
}

#[test]
fn cameras_says_plainly_when_there_are_none() {
    // These machines have no camera (no V4L2 devices); a machine with one is not a failure here.
    let o = posture(&["cameras"]);
    let out = String::from_utf8_lossy(&o.stdout);
    if o.status.code() == Some(1) {
        assert!(out.contains("no cameras found"), "{out}");
    } else {
        assert!(
            o.status.success() && out.contains("camera "),
            "{out}{}",
            stderr(&o)
        );
    }
}

#[test]
fn bench_profiles_tract_ops_and_measures_the_pipeline() {
    let o = posture(&["bench", "--frames", "2", "--profile-ops", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    let ops = r["ops"].as_array().expect("per-op profile");
    assert!(
        ops.iter().any(|op| op["op"]
            .as_str()
            .is_some_and(|n| n.contains("Conv") || n.contains("MatMul"))),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .all(|op| op["ms_per_run"].as_f64().unwrap() >= 0.0
                && op["nodes"].as_u64().unwrap() >= 1
                && op.get("node").is_none())
    );
    // By node: one entry per node, each named once, more entries than kinds of op.
    let o = posture(&[
        "bench",
        "--frames",
        "2",
        "--profile-ops",
        "--by-node",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let nodes = json_lines(&o)[0]["ops"]
        .as_array()
        .expect("per-node profile")
        .clone();
    assert!(
        nodes.len() > ops.len(),
        "{} nodes, {} ops",
        nodes.len(),
        ops.len()
    );
    assert!(
        nodes
            .iter()
            .all(|n| n["nodes"].as_u64() == Some(1)
                && n["node"].as_str().is_some_and(|s| !s.is_empty())),
        "{nodes:?}"
    );
    let names: std::collections::HashSet<&str> =
        nodes.iter().filter_map(|n| n["node"].as_str()).collect();
    assert_eq!(names.len(), nodes.len(), "each node once");
    // --idle-ms goes with --profile-ops (tests/pose.rs checks that the profile idles).
    let o = posture(&[
        "bench",
        "--frames",
        "3",
        "--idle-ms",
        "20",
        "--profile-ops",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    assert_eq!(r["idle_ms"].as_f64(), Some(20.0), "{r}");
    assert!(
        r["inference_after_idle"]["p50_ms"].as_f64().is_some(),
        "{r}"
    );
    assert!(
        r["ops"].as_array().is_some_and(|ops| !ops.is_empty()),
        "{r}"
    );
    let o = posture(&["bench", "--by-node"]);
    assert_eq!(o.status.code(), Some(2), "--by-node without --profile-ops");
    let o = posture(&["bench", "--pipeline", "--profile-ops"]);
    assert_eq!(o.status.code(), Some(2), "--profile-ops with --pipeline");
    let o = posture(&["bench", "--pipeline", "--duration-secs", "1.5", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    assert!(r["processed"].as_u64().unwrap() >= 3, "{r}");
    let (p50, p95) = (
        r["latency"]["p50_ms"].as_f64().unwrap(),
        r["latency"]["p95_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p95, "{r}");
    // Latency includes the inference itself.
    assert!(
        p50 >= r["inference"]["p50_ms"].as_f64().unwrap() * 0.9,
        "{r}"
    );
    // The soak figures: windows of a third of the run, memory and open files measured.
    assert!(
        (r["window_secs"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{r}"
    );
    assert!(
        r["latency_first_window"]["p95_ms"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    assert!(
        r["latency_last_window"]["p95_ms"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    assert!(r["rss_mb_end"].as_f64().unwrap() > 1.0, "{r}");
    assert!(r["open_fds_end"].as_f64().unwrap() >= 3.0, "{r}");
    assert!(r["rss_mb_first_window"].as_f64().unwrap() > 1.0, "{r}");
    // The warm reference of the same run, and the pipeline's inference against it.
    let warm = r["warm_inference_p50_ms"].as_f64().unwrap();
    assert!(warm > 0.0, "{r}");
    let ratio = r["inference_vs_warm"].as_f64().unwrap();
    assert!(
        (ratio - r["inference"]["p50_ms"].as_f64().unwrap() / warm).abs() < 1e-9,
        "{r}"
    );
}

#[test]
fn replay_of_a_file_that_is_not_a_recording_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.jsonl");
    std::fs::write(&f, "{\"hello\": 1}\n").unwrap();
    let o = posture(&["replay", f.to_str().unwrap()]);
    assert_one_error_line(&o, "notes.jsonl");
    let o = posture(&["export", f.to_str().unwrap(), "--csv"]);
    assert_one_error_line(&o, "not a posture session");
}

#[test]
fn the_fast_engine_runs_posture_own_depthwise_op_and_compares_with_tract_plain() {
    // The default engine runs the prepared graph: with every layer on posture's ops (`--layers
    // posture`; by default each runs on whichever op is faster here), posture's depthwise op
    // shows in the profile, tract's does not; --engine tract-plain is the other way round.
    // The fast-fused engine runs its inverted-residual blocks as posture's fused op, which
    // fast does not.
    for (engine, ours, theirs) in [
        ("fast", "PostureDepthwiseConv2d", "DepthWiseConv"),
        ("fast", "PostureDepthwiseConv2d", "PostureInvertedResidual"),
        ("fast-fused", "PostureInvertedResidual", "DepthWiseConv"),
        ("tract-plain", "DepthWiseConv", "PostureDepthwiseConv2d"),
    ] {
        let o = posture(&[
            "bench",
            "--frames",
            "1",
            "--profile-ops",
            "--json",
            "--layers",
            "posture",
            "--engine",
            engine,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let r = &json_lines(&o)[0];
        assert_eq!(r["engine"], engine);
        let names: Vec<&str> = r["ops"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|op| op["op"].as_str())
            .collect();
        assert!(names.contains(&ours), "{engine}: {names:?}");
        assert!(!names.contains(&theirs), "{engine}: {names:?}");
    }
    let o = posture(&["bench", "--frames", "2", "--compare-engines", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    let engines: Vec<&str> = r["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["engine"].as_str().unwrap())
        .collect();
    assert_eq!(engines, ["fast", "fast-fused", "tract-plain"]);
    assert!(r["engines"][0]["total"]["p50_ms"].as_f64().unwrap() > 0.0);
}

/// The report's figures for a real recording (sit-tall on the side-view sequence, recorded with
/// `posture exercise sit-tall --video ... --record`) equal the golden figures saved next to it;
/// the hand-checked arithmetic behind them is tested in `report::tests`.
#[test]
fn report_figures_of_a_fixture_session_match_the_golden_file() {
    let session = fixture("sessions/sit_tall_side.jsonl");
    let o = posture(&["report", session.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = &json_lines(&o)[0];
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("sessions/sit_tall_side.report.json")).unwrap(),
    )
    .unwrap();
    fn same(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value::*;
        match (a, b) {
            (Number(x), Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{at}: {x} vs {y}");
            }
            (Object(x), Object(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{at}"
                );
                for (k, v) in x {
                    same(v, &y[k], &format!("{at}.{k}"));
                }
            }
            (Array(x), Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    same(v, w, &format!("{at}[{i}]"));
                }
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }
    same(got, &golden, "report");
    // The headline figures, spelled out.
    let s = &got["sessions"][0];
    assert_eq!(s["frames"], 250);
    assert_eq!(s["exercise"], "sit-tall");
    assert_eq!(s["reps"], 2);
    assert_eq!(s["rejected"], 2);
    assert_eq!(s["rep_details"].as_array().unwrap().len(), 2);
    let parts = ["good_secs", "fair_secs", "poor_secs", "unjudged_secs"]
        .iter()
        .map(|k| s[k].as_f64().unwrap())
        .sum::<f64>();
    assert!((parts - s["duration_secs"].as_f64().unwrap()).abs() < 1e-9);
}

#[test]
fn report_writes_one_html_file_and_history_lists_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("session-a.jsonl");
    std::fs::copy(fixture("sessions/sit_tall_side.jsonl"), &a).unwrap();
    // The same recording cut mid-line as by a crash, a day later: summary recomputed.
    let text = std::fs::read_to_string(&a).unwrap();
    let mut cut = text[..text.len() / 2].replace(
        "\"started_unix_secs\":1795790049",
        "\"started_unix_secs\":1795876449",
    );
    cut.push_str("{\"kind\":\"frame\",\"t_se");
    let b = dir.path().join("session-b.jsonl");
    std::fs::write(&b, cut).unwrap();
    let out = dir.path().join("report.html");
    let o = posture(&[
        "report",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("line"),
        "the cut line is named: {}",
        stderr(&o)
    );
    let page = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        page.matches("<svg").count(),
        5,
        "trend + 2 x (score, angles)"
    );
    assert!(page.contains("Daily trend") && page.contains("2026-11-28"));
    assert!(page.contains("summary recomputed"));
    let o = posture(&["history", "--dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 3, "header + 2 sessions: {text}");
    assert!(rows[1].contains("session-a.jsonl") && rows[1].contains("sit-tall"));
    assert!(rows[2].contains("2026-11-28"));
    let o = posture(&[
        "history",
        "--dir",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("no recorded sessions"));
    // Something that is not a session: one line naming it, exit 2.
    let bad = dir.path().join("notes.jsonl");
    std::fs::write(&bad, "hello\n").unwrap();
    assert_one_error_line(&posture(&["report", bad.to_str().unwrap()]), "notes.jsonl");
}

/// A disk that fills up mid-run, simulated with a file-size limit (`ulimit -f`: the kernel then
/// refuses writes past the limit, as a full disk does): one warning, the run goes on to the end,
/// and what was written loads, its summary recomputed.
#[test]
fn a_disk_filling_up_mid_run_warns_once_and_keeps_what_was_written() {
    if !crate::ffmpeg_available("a_disk_filling_up_mid_run_warns_once_and_keeps_what_was_written") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let video = fixture("pose2sim_cam01_small_faststart.mp4");
    // 64 blocks of 512 bytes (POSIX sh) = 32 KiB: the header and some frames fit, not 100
    // frames. SIGXFSZ is ignored (as the kernel's default would kill the process instead).
    let script = format!(
        "ulimit -f 64 && trap '' XFSZ && exec '{}' monitor --video '{}' --headless --json --as-fast-as-possible --record '{}'",
        env!("CARGO_BIN_EXE_posture"),
        video.display(),
        dir.path().display()
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "the run goes on: {err}");
    let frames = json_lines(&o)
        .iter()
        .filter(|r| r["kind"] == "frame")
        .count();
    assert_eq!(frames, 100, "every frame analysed");
    assert_eq!(err.matches("warning").count(), 1, "one warning: {err}");
    assert!(err.contains("recording"), "{err}");
    let file = session_file(dir.path());
    assert!(std::fs::metadata(&file).unwrap().len() <= 64 * 512);
    let s = posture::format::session::Session::load(&file).expect("what was written loads");
    assert!(s.summary.recomputed);
    assert!(
        (5..100).contains(&s.frames.len()),
        "{} frames kept",
        s.frames.len()
    );
    for (i, f) in s.frames.iter().enumerate() {
        assert_eq!(
            f.seq, i as u64,
            "the frames kept are the first ones, in order"
        );
    }
}

/// Video is stored only when asked: --record alone writes no image data; --record-video adds an
/// H.264 video of every frame beside the session file.
#[test]
fn video_is_recorded_only_with_record_video() {
    if !crate::ffmpeg_available("video_is_recorded_only_with_record_video") {
        return;
    }
    let video = fixture("pose2sim_cam01_small_faststart.mp4");
    for with_video in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "monitor",
            "--video",
            video.to_str().unwrap(),
            "--headless",
            "--as-fast-as-possible",
            "--record",
            dir.path().to_str().unwrap(),
        ];
        if with_video {
            args.push("--record-video");
        }
        let o = posture(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let mp4: Vec<_> = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .collect();
        assert_eq!(files.len(), 1 + usize::from(with_video), "{files:?}");
        if with_video {
            let probe = Command::new("ffprobe")
                .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
                .args([
                    "-show_entries",
                    "stream=codec_name,width,height,nb_read_frames",
                ])
                .args(["-of", "csv=p=0"])
                .arg(mp4[0])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&probe.stdout).trim(),
                "h264,270,480,100"
            );
        } else {
            assert!(mp4.is_empty());
        }
    }
    let o = posture(&[
        "monitor",
        "--video",
        video.to_str().unwrap(),
        "--record-video",
    ]);
    assert_eq!(o.status.code(), Some(2), "--record-video needs --record");
}

/// `--crop auto` runs the tracking crop over a folder of frames (the same render three times:
/// whole, then cropped); the keypoints stay in frame pixels. An unknown mode is refused.
#[test]
fn monitor_with_crop_auto_reports_keypoints_in_frame_pixels() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        std::fs::copy(
            fixture("sequences/neutral_s102_side.png"),
            dir.path().join(format!("f{i}.png")),
        )
        .unwrap();
    }
    let o = posture(&[
        "monitor",
        "--images",
        dir.path().to_str().unwrap(),
        "--crop",
        "auto",
        "--json",
        "--as-fast-as-possible",
        "--headless",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let frames: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] == "frame")
        .collect();
    assert_eq!(frames.len(), 3);
    let nose = |f: &serde_json::Value| {
        let k = &f["keypoints"][0];
        (k["x_px"].as_f64().unwrap(), k["y_px"].as_f64().unwrap())
    };
    let (a, b) = (nose(&frames[0]), nose(&frames[2]));
    assert!(
        (a.0 - b.0).hypot(a.1 - b.1) < 12.0,
        "whole {a:?}, cropped {b:?}"
    );
    let o = posture(&["monitor", "--crop", "sometimes", "--headless"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn bench_desk_skips_frames_before_decoding_and_alerts_on_time() {
    // The shortest run: sitting well for 10 s, a slouch of the onset delay + 10 s, 5 s of recovery.
    let o = posture(&["bench", "--desk", "--duration-secs", "35", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    let delivered = r["frames_delivered"].as_u64().unwrap();
    let analysed = r["frames_analysed"].as_u64().unwrap();
    let skipped = r["frames_skipped_before_decoding"].as_u64().unwrap();
    // The camera runs at 30 fps; the desk analyses 1–10 of them a second.
    assert!(delivered > 500, "{r}");
    assert!(analysed >= 35 && analysed < delivered / 2, "{r}");
    assert!(skipped > delivered / 2, "{r}");
    assert_eq!(r["alert_on_time"], true, "{r}");
    let late = r["slouch_to_alert_secs"].as_f64().unwrap() - r["onset_secs"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&late), "{r}");
    assert!(
        r["cleared_at_secs"].as_f64().is_some(),
        "recovery clears the alert: {r}"
    );
    let cpu = r["cpu_percent_of_one_core"].as_f64().unwrap();
    assert!(cpu > 0.0 && cpu.is_finite(), "{r}");
    // Too short for the script: one line, exit 2.
    let o = posture(&["bench", "--desk", "--duration-secs", "20"]);
    assert_one_error_line(&o, "--duration-secs of at least 35");
}

#[test]
fn bench_idle_ms_splits_the_frames_after_idle_from_those_back_to_back() {
    let o = posture(&["bench", "--frames", "4", "--idle-ms", "20", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    assert_eq!(r["idle_ms"], 20.0);
    for k in ["inference_after_idle", "inference_back_to_back"] {
        assert!(r[k]["p50_ms"].as_f64().unwrap() > 0.0, "{k}: {r}");
    }
    // The table shows both rows.
    let o = posture(&["bench", "--frames", "2", "--idle-ms", "1"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("after idle") && table.contains("back to back"),
        "{table}"
    );
    // Without idling, no split.
    let o = posture(&["bench", "--frames", "2", "--json"]);
    let r = &json_lines(&o)[0];
    assert!(r.get("inference_after_idle").is_none(), "{r}");
    assert_one_error_line(&posture(&["bench", "--idle-ms", "-3"]), "--idle-ms");
}

/// `POSTURE_KERNELS` and `bench --kernels` force a kernel family; one this CPU lacks (NEON on
/// x86-64, AVX2 on aarch64) is one error line and exit 2, an unknown name too.
#[test]
fn a_forced_kernel_family_runs_or_is_refused_in_one_line() {
    let img = fixture("skimage_astronaut.png");
    let img = img.to_str().unwrap();
    let missing = if cfg!(target_arch = "aarch64") {
        "avx2"
    } else {
        "neon"
    };
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["analyze", img])
        .env("POSTURE_KERNELS", missing)
        .output()
        .unwrap();
    assert_one_error_line(&o, &format!("cannot run posture's {missing} kernels"));
    let o = posture(&["bench", "--frames", "1", "--kernels", missing]);
    assert_one_error_line(&o, "POSTURE_KERNELS");
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["analyze", img])
        .env("POSTURE_KERNELS", "sse9")
        .output()
        .unwrap();
    assert_one_error_line(&o, "unknown kernel family `sse9`");
    // The portable loops run everywhere: every layer on posture's ops with them.
    let o = posture(&[
        "bench",
        "--frames",
        "1",
        "--kernels",
        "portable",
        "--layers",
        "posture",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &json_lines(&o)[0];
    assert_eq!(r["kernels"]["family"], "portable");
    assert_eq!(r["kernels"]["posture_layers"], 74, "{r}");
    assert_eq!(r["kernels"]["tract_layers"], 0, "{r}");
}
