//! Issue 16: bad input and faults that used to slip through, one regression test (or more) per
//! item, named after it. Each asserts the exit code, the one line on stderr, and that nothing
//! written before was lost.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::fixture;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_posture")
}

fn posture(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 2 and exactly one `posture: error:` line on stderr containing every one of `names`.
fn one_error_line(o: &Output, names: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("posture: error: "), "{err}");
    for n in names {
        assert!(err.contains(n), "names {n}: {err}");
    }
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- 1. exercise definitions ----

const GOOD_DEF: &str = "name = \"mine\"
description = \"d\"
reps = 2

[[phases]]
name = \"hold\"
prompt = \"Hold\"
hold_secs = 3.0
counted = true
conditions = [{ metric = \"score\", min = 70.0 }]
";

fn run_def(dir: &Path, text: &str) -> Output {
    let f = dir.join("mine.toml");
    std::fs::write(&f, text).unwrap();
    let image = fixture("skimage_astronaut.png");
    posture(&["exercise", s(&f), "--images", s(&image), "--headless"])
}

#[test]
fn fault_01_exercise_unknown_metric_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_def(
        dir.path(),
        &GOOD_DEF.replace("metric = \"score\"", "metric = \"neck_flx_deg\""),
    );
    let err = one_error_line(
        &o,
        &[
            "mine.toml",
            "line 10",
            "metric",
            "neck_flx_deg",
            "neck_flexion_deg",
        ],
    );
    assert!(
        err.contains("knee_angle_deg"),
        "lists the known metrics: {err}"
    );
    assert!(stdout(&o).is_empty(), "nothing ran");
}

#[test]
fn fault_01_exercise_bad_values_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, field) in [
        (
            GOOD_DEF.replace("hold_secs = 3.0\n", ""),
            "line",
            "hold_secs",
        ),
        (
            GOOD_DEF.replace("hold_secs = 3.0", "hold_secs = -5"),
            "line 8",
            "hold_secs",
        ),
        (
            GOOD_DEF.replace("hold_secs = 3.0", "hold_secs = nan"),
            "line 8",
            "hold_secs",
        ),
        (
            GOOD_DEF.replace("hold_secs = 3.0", "hold_secs = inf"),
            "line 8",
            "hold_secs",
        ),
        (
            GOOD_DEF.replace("min = 70.0", "min = 80.0, max = 20.0"),
            "line 10",
            "max",
        ),
        (GOOD_DEF.replace("reps = 2", "reps = 0"), "line 3", "reps"),
        (
            GOOD_DEF.replace("hold_secs = 3.0", "hold_secs = 0.0"),
            "line 5",
            "hold_secs",
        ),
    ] {
        let o = run_def(dir.path(), &text);
        one_error_line(&o, &["mine.toml", line, field]);
    }
    // The good one runs (the one image is shorter than a hold: exit 1, with the reason).
    let o = run_def(dir.path(), GOOD_DEF);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn fault_01_hold_secs_flag_refused_as_a_usage_error() {
    for bad in ["nan", "inf", "0", "-3", "ten", "90000"] {
        let flag = format!("--hold-secs={bad}");
        let o = posture(&["exercise", "sit-tall", &flag, "--images", "x"]);
        one_error_line(&o, &["--hold-secs", bad, "greater than 0"]);
    }
    let o = posture(&["exercise", "sit-tall", "--reps", "0", "--images", "x"]);
    one_error_line(&o, &["--reps", "0"]);
}

#[test]
fn fault_01_a_hold_longer_than_the_source_says_why_no_rep_counted() {
    let image = fixture("sequences/neutral_s102_side.png");
    let o = posture(&[
        "exercise",
        "sit-tall",
        "--images",
        s(&image),
        "--hold-secs",
        "50",
        "--headless",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("0 reps done of 5 asked"), "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.contains("shorter than one hold (50.0 s)"),
        "the last line says why: {err}"
    );
    assert!(
        stdout(&o).contains("Sit tall and hold it"),
        "the prompt was shown"
    );
}

// ---- 2. SIGTERM and SIGHUP end a run like Ctrl-C ----

fn signal_ends_the_run_and_finalises_the_recording(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(bin())
        .args([
            "demo",
            "--loops",
            "1000",
            "--headless",
            "--record",
            s(dir.path()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = recording_with_frames(dir.path());
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a clean end on SIG{signal}: {err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("posture: stopped after")),
        "the closing posture line: {err}"
    );
    assert!(err.contains("session saved to"), "{err}");
    let (text, last) = summary_written(&file);
    let frames = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"frame\""))
        .count() as u64;
    assert_eq!(last["frames"].as_u64(), Some(frames), "every frame kept");
}

/// The session file a run recording into `dir` writes, once it holds some frames (waits up to a
/// minute).
fn recording_with_frames(dir: &Path) -> std::path::PathBuf {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no frames recorded"
        );
        std::thread::sleep(Duration::from_millis(200));
        let found = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"));
        if let Some(f) = found
            && std::fs::read_to_string(&f).unwrap().lines().count() > 5
        {
            return f;
        }
    }
}

/// The text of a finished session file and its last line, which must be the summary.
fn summary_written(file: &Path) -> (String, serde_json::Value) {
    let text = std::fs::read_to_string(file).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "summary", "the summary is written");
    (text, last)
}

#[test]
fn fault_02_sigterm_finalises_the_recording() {
    signal_ends_the_run_and_finalises_the_recording("TERM");
}

#[test]
fn fault_02_sighup_finalises_the_recording() {
    signal_ends_the_run_and_finalises_the_recording("HUP");
}

// ---- 3. outputs written to a temporary file and renamed ----

/// Runs `posture args` with a file-size limit of `blocks` x 512 bytes (a full disk, as the
/// kernel refuses writes past it), SIGXFSZ ignored.
fn with_size_limit(blocks: u32, args: &[&str]) -> Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "ulimit -f {blocks} && trap '' XFSZ && exec '{}' {}",
        bin(),
        quoted.join(" ")
    );
    Command::new("sh").args(["-c", &script]).output().unwrap()
}

#[test]
fn fault_03_a_failed_report_write_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let session = fixture("sessions/sit_tall_side.jsonl");
    let out = dir.path().join("report.html");
    let o = posture(&["report", s(&session), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let good = std::fs::read(&out).unwrap();
    assert!(good.len() > 20_000);
    // 8 KiB: far less than a report.
    let o = with_size_limit(16, &["report", s(&session), "--out", s(&out)]);
    one_error_line(&o, &["report.html"]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        good,
        "the old report is intact"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left behind");
}

#[test]
fn fault_03_a_failed_export_keeps_the_old_csv_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let session = fixture("sessions/sit_tall_side.jsonl");
    let out = dir.path().join("frames.csv");
    std::fs::write(&out, "the old export\n").unwrap();
    let o = with_size_limit(16, &["export", s(&session), "--csv", "--out", s(&out)]);
    one_error_line(&o, &["frames.csv"]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the old export\n",
        "not a 0-byte file"
    );
    let o = posture(&["export", s(&session), "--csv", "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 251);
}

/// `--out` through a symbolic link updates the file it points to (the link stays), and `--out`
/// to a device is written to, never replaced by a regular file.
#[cfg(unix)]
#[test]
fn fault_03_out_through_a_symlink_or_to_a_device_writes_through() {
    let dir = tempfile::tempdir().unwrap();
    let session = fixture("sessions/sit_tall_side.jsonl");
    let real = dir.path().join("real.csv");
    std::fs::write(&real, "the old export\n").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    let o = posture(&["export", s(&session), "--out", s(&link)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap().lines().count(), 251);
    let o = posture(&["report", s(&session), "--out", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !std::fs::metadata("/dev/null").unwrap().is_file(),
        "still a device"
    );
}

/// A usage error names what is wrong, in one line: the missing argument too, not only "the
/// following required arguments were not provided:".
#[test]
fn fault_08_a_missing_argument_is_named_in_the_one_line() {
    let o = posture(&["replay"]);
    one_error_line(&o, &["required arguments were not provided", "<SESSION>"]);
}

#[test]
fn fault_03_analyze_out_is_replaced_only_when_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keypoints.jsonl");
    std::fs::write(&out, "old\n").unwrap();
    // No room at all: the records cannot be written, the old file stays.
    let o = with_size_limit(
        0,
        &[
            "analyze",
            s(&fixture("skimage_astronaut.png")),
            "--out",
            s(&out),
        ],
    );
    one_error_line(&o, &["keypoints.jsonl"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    let o = posture(&[
        "analyze",
        s(&fixture("skimage_astronaut.png")),
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("posture.analyze")
    );
}

// ---- 4. a report of the files that load, naming the others ----

#[test]
fn fault_04_report_names_the_files_it_skips_and_reports_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    std::fs::copy(fixture("sessions/sit_tall_side.jsonl"), &a).unwrap();
    let v2 = dir.path().join("v2.jsonl");
    std::fs::write(
        &v2,
        "{\"kind\":\"header\",\"format\":\"posture.session\",\"version\":2}\n",
    )
    .unwrap();
    let c = dir.path().join("c.jsonl");
    std::fs::write(&c, "hello\n").unwrap();
    let o = posture(&["report", s(&a), s(&v2), s(&c), "--json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "1: something was skipped; {err}");
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.lines()
            .all(|l| l.starts_with("posture: warning: skipped:"))
    );
    assert!(err.contains("v2.jsonl") && err.contains("c.jsonl"), "{err}");
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(r["sessions"][0]["frames"], 250);
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2);
    assert!(skipped[0]["file"].as_str().unwrap().ends_with("v2.jsonl"));
    assert!(skipped[0]["error"].as_str().unwrap().contains("version 2"));
    // The HTML report says so too.
    let out = dir.path().join("report.html");
    let o = posture(&["report", s(&a), s(&v2), s(&c), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(
        page.contains("Files left out") && page.contains("v2.jsonl") && page.contains("c.jsonl")
    );
    assert_eq!(
        page.matches("<svg").count(),
        2,
        "the loaded session's plots"
    );
    // Nothing loads: one error line naming them, exit 2, the old report intact.
    let o = posture(&["report", s(&v2), s(&c), "--out", s(&out)]);
    one_error_line(&o, &["v2.jsonl", "c.jsonl", "no report written"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), page);
}

// ---- 5. a truncated JPEG is a failure ----

#[test]
fn fault_05_truncated_jpeg_fails_analyze_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(fixture("matplotlib_grace_hopper.jpg")).unwrap();
    assert!(posture::source::image_file::jpeg_reaches_end(&whole));
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &whole[..2000]).unwrap();
    assert!(!posture::source::image_file::jpeg_reaches_end(
        &whole[..2000]
    ));
    // With data appended after the image (motion photos), the image is still whole.
    let mut appended = whole.clone();
    appended.extend_from_slice(b"\0\0ftypmp42 trailing data");
    assert!(posture::source::image_file::jpeg_reaches_end(&appended));
    let good = fixture("skimage_astronaut.png");
    let o = posture(&["analyze", s(&good), s(&cut)]);
    one_error_line(&o, &["cut.jpg", "truncated"]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["keypoints"].as_array().unwrap().len(),
        17,
        "the good one"
    );
    assert!(lines[1]["error"].as_str().unwrap().contains("truncated"));
}

// ---- 6. a model whose output does not depend on its input ----

/// A valid ONNX model with MoveNet's input and output whose output is a constant.
fn constant_model(path: &Path) {
    use prost::Message;
    use tract_onnx::pb;
    let value_info = |name: &str, elem: i32, dims: &[i64]| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (float, int32) = (1, 6);
    let keypoints = pb::TensorProto {
        name: "keypoints".into(),
        dims: vec![1, 1, 17, 3],
        data_type: float,
        float_data: (0..51)
            .map(|i| if i % 3 == 2 { 0.9 } else { 0.5 })
            .collect(),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "constant".into(),
            node: vec![pb::NodeProto {
                input: vec!["keypoints".into()],
                output: vec!["output_0".into()],
                name: "id".into(),
                op_type: "Identity".into(),
                ..Default::default()
            }],
            initializer: vec![keypoints],
            input: vec![value_info("input", int32, &[1, 192, 192, 3])],
            output: vec![value_info("output_0", float, &[1, 1, 17, 3])],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).unwrap();
}

#[test]
fn fault_06_model_whose_output_ignores_the_input_runs_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("constant.onnx");
    constant_model(&model);
    let image = fixture("skimage_astronaut.png");
    let o = posture(&[
        "analyze",
        s(&image),
        s(&image),
        s(&image),
        "--model",
        s(&model),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "every frame, not only the first");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(
            v["keypoints"][0]["score"].as_f64().map(|x| x as f32),
            Some(0.9)
        );
    }
}

// ---- 7. values nobody checked ----

#[test]
fn fault_07_absurd_calibration_refused_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let session = fixture("sessions/sit_tall_side.jsonl");
    for (mean, std) in [("3e38", "0.5"), ("12.0", "-1.0")] {
        let cal = dir.path().join("cal.json");
        std::fs::write(
            &cal,
            format!(
                "{{\"schema_version\":1,\"camera\":\"camera-0\",\"created_unix_secs\":0,\"view\":\"side\",\"frames\":50,\"metrics\":{{\"neck_flexion_deg\":{{\"mean\":{mean},\"std\":{std},\"frames\":50}}}}}}"
            ),
        )
        .unwrap();
        let o = posture(&["replay", s(&session), "--calibration", s(&cal)]);
        one_error_line(&o, &["cal.json", "metrics.neck_flexion_deg"]);
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn fault_07_timestamps_going_backwards_do_not_inflate_replay() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("sessions/sit_tall_side.jsonl")).unwrap();
    // One frame's clock jumps 1000 s ahead, and the next goes back.
    let mut out = String::new();
    let mut n = 0;
    for line in text.lines() {
        if line.contains("\"kind\":\"frame\"") {
            n += 1;
            if n == 100 {
                let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                let t = v["t_secs"].as_f64().unwrap();
                v["t_secs"] = (t + 1000.0).into();
                out.push_str(&v.to_string());
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    let f = dir.path().join("jumpy.jsonl");
    std::fs::write(&f, out).unwrap();
    let o = posture(&["replay", s(&f)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.lines().count(), 1, "warned once: {err}");
    assert!(
        err.contains("jumpy.jsonl") && err.contains("backwards"),
        "{err}"
    );
    let last: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    let sum = &last["summary"];
    assert_eq!(sum["frames"], 250, "every frame replayed");
    let duration = sum["duration_secs"].as_f64().unwrap();
    assert!(duration < 50.0, "not 1000 s: {duration}");
    let parts: f64 = ["good_secs", "fair_secs", "poor_secs", "unjudged_secs"]
        .iter()
        .map(|k| sum[k].as_f64().unwrap())
        .sum();
    assert!((parts - duration).abs() < 1e-6, "{parts} vs {duration}");
}

#[test]
fn fault_07_calibrate_and_threshold_flags_refused_outside_their_range() {
    for bad in ["nan", "0", "-2", "inf"] {
        let flag = format!("--duration-secs={bad}");
        let o = posture(&["calibrate", &flag, "--images", "x"]);
        one_error_line(&o, &["--duration-secs", "greater than 0"]);
    }
    for cmd in [
        vec!["analyze", "x.png"],
        vec!["monitor", "--images", "x"],
        vec!["calibrate", "--images", "x"],
        vec!["replay", "x.jsonl"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--score-threshold", "5"]);
        let o = posture(&args);
        one_error_line(&o, &["--score-threshold", "from 0 to 1"]);
    }
    let o = posture(&["monitor", "--images", "x", "--reconnect-secs", "inf"]);
    one_error_line(&o, &["--reconnect-secs"]);
}

#[test]
fn fault_07_a_source_shorter_than_the_calibration_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cal = dir.path().join("cal.json");
    let o = posture(&[
        "calibrate",
        "--images",
        s(&fixture("sequences/neutral_s102_side.png")),
        "--duration-secs",
        "5",
        "--calibration",
        s(&cal),
    ]);
    let err = stderr(&o);
    assert!(err.contains("hold still for 5 s"), "{err}");
    assert!(
        err.contains("lasted only 0.1 s of the 5 s asked"),
        "says the source was shorter: {err}"
    );
    assert!(!err.contains("NaN"), "{err}");
}

// ---- 8. messages ----

#[test]
fn fault_08_thresholds_file_errors_say_thresholds_file_once() {
    let o = posture(&[
        "replay",
        s(&fixture("sessions/sit_tall_side.jsonl")),
        "--thresholds",
        "/nonexistent.toml",
    ]);
    let err = one_error_line(&o, &["thresholds file /nonexistent.toml"]);
    assert!(!err.contains("calibration"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");
}

#[test]
fn fault_08_os_errors_are_printed_once() {
    let o = posture(&["analyze", "x.png", "--model", "/nonexistent.onnx"]);
    let err = one_error_line(&o, &["/nonexistent.onnx"]);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    let o = posture(&["exercise", "/nonexistent.toml", "--images", "x"]);
    let err = one_error_line(&o, &["/nonexistent.toml"]);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    let o = posture(&["replay", "/nonexistent.jsonl"]);
    let err = one_error_line(&o, &["/nonexistent.jsonl"]);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

#[test]
fn fault_08_schema_version_of_the_wrong_kind_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let session = fixture("sessions/sit_tall_side.jsonl");
    for (v, says) in [
        ("-1", "schema_version is -1"),
        ("\"1\"", "schema_version is \"1\""),
    ] {
        let cal = dir.path().join("cal.json");
        std::fs::write(&cal, format!("{{\"schema_version\":{v}}}")).unwrap();
        let o = posture(&["replay", s(&session), "--calibration", s(&cal)]);
        let err = one_error_line(&o, &["cal.json", says]);
        assert!(!err.contains("no schema_version"), "{err}");
    }
}

#[test]
fn fault_08_report_warnings_name_the_path_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("sessions/sit_tall_side.jsonl")).unwrap();
    let cut = dir.path().join("cut.jsonl");
    std::fs::write(&cut, format!("{}{{\"kind\":\"fr", &text[..text.len() / 2])).unwrap();
    let o = posture(&["report", s(&cut), "--json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("cut.jsonl").count(), 1, "path once: {err}");
}

#[test]
fn fault_08_no_session_saved_after_recording_failed() {
    let dir = tempfile::tempdir().unwrap();
    let o = with_size_limit(
        8,
        &[
            "demo",
            "--loops",
            "1",
            "--headless",
            "--record",
            s(dir.path()),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "the run goes on: {err}");
    assert!(
        err.contains("recording to") && err.contains("failed"),
        "{err}"
    );
    assert!(!err.contains("session saved"), "{err}");
    assert!(
        err.contains("posture: end of stream"),
        "the run's own line: {err}"
    );
}

#[test]
fn fault_08_no_camera_suggests_the_commands_own_video_flag() {
    let o = posture(&["calibrate"]);
    one_error_line(&o, &["posture calibrate --video FILE"]);
    let o = posture(&["exercise", "sit-tall"]);
    one_error_line(&o, &["posture exercise sit-tall --video FILE"]);
    let o = posture(&["monitor"]);
    one_error_line(&o, &["posture monitor --video FILE", "posture demo"]);
}

#[test]
fn fault_08_video_paths_reach_ffmpeg_as_file_urls() {
    use posture::source::video::ffmpeg_file_url;
    assert_eq!(ffmpeg_file_url(Path::new("-dash.mp4")), "file:-dash.mp4");
    assert_eq!(ffmpeg_file_url(Path::new("a:b.mp4")), "file:a:b.mp4");
}

#[test]
fn fault_08_the_hud_font_has_a_degree_sign() {
    use posture::sink::render::glyph;
    assert_ne!(glyph('°'), glyph('?'));
    assert_ne!(glyph('°'), [0; 8]);
    assert_eq!(glyph('€'), glyph('?'), "outside Latin-1");
}

// ---- 9. report memory ----

/// Writes a session of `frames` frames at 30 fps: 10 s good (score 80, trunk 2°), 5 s poor
/// (20, 30°), 3 s fair (50, 10°), 2 s nobody, repeated; one alert per cycle. Without a summary
/// line when `summary` is false.
fn long_session(path: &Path, frames: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "{{\"kind\":\"header\",\"format\":\"posture.session\",\"version\":1,\"program_version\":\"0\",\"model\":\"lightning\",\"model_sha256\":\"x\",\"calibration\":null,\"source\":\"generated\",\"started_unix_secs\":1795789882,\"exercise\":null}}"
    )
    .unwrap();
    let kp: Vec<String> = (0..17).map(|_| "[1.5,2.5,0.5]".to_owned()).collect();
    let kp = kp.join(",");
    for i in 0..frames {
        let t = i as f64 / 30.0;
        let phase = (i / 30) % 20;
        let (score, band, trunk) = match phase {
            0..=9 => ("80.0", "\"good\"", "2.0"),
            10..=14 => ("20.0", "\"poor\"", "30.0"),
            15..=17 => ("50.0", "\"fair\"", "10.0"),
            _ => ("null", "null", ""),
        };
        let metrics = if trunk.is_empty() {
            "{}".to_owned()
        } else {
            format!("{{\"trunk_flexion_deg\":{{\"value\":{trunk},\"confidence\":0.9}}}}")
        };
        writeln!(
            out,
            "{{\"kind\":\"frame\",\"t_secs\":{t},\"seq\":{i},\"keypoints\":[{kp}],\"posture\":{{\"person\":{},\"away\":false,\"view\":null,\"stance\":null,\"score\":{score},\"band\":{band},\"reason\":null,\"metrics\":{metrics}}}}}",
            score != "null"
        )
        .unwrap();
        if i % 600 == 320 {
            writeln!(
                out,
                "{{\"kind\":\"event\",\"t_secs\":{t},\"event\":{{\"event\":\"alert\",\"level\":1,\"reason\":\"trunk\",\"bad_for_secs\":10.0}}}}"
            )
            .unwrap();
        }
    }
}

#[test]
fn fault_09_report_of_a_long_session_streams_and_matches_a_direct_computation() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("long.jsonl");
    let frames = 36_000; // 20 minutes at 30 fps: 60 cycles of 20 s
    long_session(&f, frames);
    let o = posture(&["report", s(&f), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let got = &r["sessions"][0];
    // Directly: each frame's band lasts 1/30 s until the next one; the last frame adds nothing.
    let (mut good, mut fair, mut poor, mut none) = (0u64, 0u64, 0u64, 0u64);
    let (mut score_sum, mut scored) = (0.0, 0u64);
    for i in 0..frames - 1 {
        match (i / 30) % 20 {
            0..=9 => good += 1,
            10..=14 => poor += 1,
            15..=17 => fair += 1,
            _ => none += 1,
        }
    }
    for i in 0..frames {
        match (i / 30) % 20 {
            0..=9 => (score_sum, scored) = (score_sum + 80.0, scored + 1),
            10..=14 => (score_sum, scored) = (score_sum + 20.0, scored + 1),
            15..=17 => (score_sum, scored) = (score_sum + 50.0, scored + 1),
            _ => {}
        }
    }
    let close = |k: &str, want: f64| {
        let v = got[k].as_f64().unwrap();
        assert!(
            (v - want).abs() < 1e-6 * want.max(1.0),
            "{k}: {v} vs {want}"
        );
    };
    assert_eq!(got["frames"].as_u64(), Some(frames));
    close("good_secs", good as f64 / 30.0);
    close("fair_secs", fair as f64 / 30.0);
    close("poor_secs", poor as f64 / 30.0);
    close("unjudged_secs", none as f64 / 30.0);
    close("duration_secs", (frames - 1) as f64 / 30.0);
    close("longest_poor_secs", 5.0);
    close("mean_score", score_sum / scored as f64);
    assert_eq!(got["alerts"].as_u64(), Some(frames / 600));
    assert_eq!(got["recomputed"], true, "no summary line: recomputed");
    // Trunk: 10 parts at 2°, 5 at 30°, 3 at 10°: the median is 2°.
    assert_eq!(got["median_deg"]["trunk_flexion_deg"].as_f64(), Some(2.0));
    // The plots are thinned for drawing: a bounded number of dots.
    let out = dir.path().join("r.html");
    let o = posture(&["report", s(&f), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&out).unwrap();
    let dots = page.matches("<circle").count();
    assert!(
        dots > 100 && dots <= posture::report::MAX_POINTS,
        "{dots} dots"
    );
}

/// Peak resident memory (VmHWM, KiB) of a child, polled until it exits.
fn peak_rss_kib(mut child: std::process::Child) -> (std::process::ExitStatus, u64) {
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `cargo test --no-default-features --features window -- --ignored fault_09_report_peak_rss
/// --nocapture`: writes a session of `POSTURE_RSS_FRAMES` frames (default 864000, 8 hours at
/// 30 fps, about 1 GB), reports it (HTML), and prints the peak RSS; fails above 100 MB.
#[test]
#[ignore = "writes about 1 GB; run by hand (see README, Tests)"]
fn fault_09_report_peak_rss() {
    let frames = std::env::var("POSTURE_RSS_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(864_000);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("long.jsonl");
    long_session(&f, frames);
    let size = std::fs::metadata(&f).unwrap().len();
    let out = dir.path().join("r.html");
    let child = Command::new(bin())
        .args(["report", s(&f), "--out", s(&out)])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let (status, peak) = peak_rss_kib(child);
    assert!(status.success());
    println!(
        "report of {frames} frames ({:.0} MB): peak RSS {:.1} MB, {:.1} s",
        size as f64 / 1e6,
        peak as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");
}

/// A lost X display (the X server ends) ends the run cleanly with the recording finalised. Needs
/// Xvfb (as `scripts/window_check.sh`); skipped, with a note, where there is none.
#[test]
fn fault_02_a_lost_display_ends_the_run_and_finalises_the_recording() {
    if Command::new("Xvfb").arg("-help").output().is_err() {
        eprintln!("fault_02 display test skipped: no Xvfb on this machine");
        return;
    }
    let display = format!(":{}", 90 + std::process::id() % 100);
    let mut xvfb = Command::new("Xvfb")
        .args([&display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(bin())
        .args(["demo", "--loops", "1000", "--record", s(dir.path())])
        .env("DISPLAY", &display)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = recording_with_frames(dir.path());
    xvfb.kill().unwrap();
    xvfb.wait().unwrap();
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "a clean end: {err}");
    assert!(err.contains("posture: display lost after"), "{err}");
    summary_written(&file);
}

/// Issue 13: values that make no sense were clamped (`--images-fps 0` became 0.001,
/// `--reconnect-secs -5` became 0); they are usage errors naming the flag and its range.
#[test]
fn images_fps_0_and_reconnect_secs_minus_1_are_refused_not_clamped() {
    let o = posture(&["monitor", "--images", "x", "--images-fps", "0"]);
    one_error_line(&o, &["--images-fps", "greater than 0"]);
    let o = posture(&["monitor", "--images", "x", "--reconnect-secs", "-1"]);
    one_error_line(&o, &["--reconnect-secs", "0"]);
}
