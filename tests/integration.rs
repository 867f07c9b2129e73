//! Integration tests: the real model on real photos, golden references, and the CLI.

mod cli;
mod desk;
mod eval;
mod exercise;
mod faults;
mod layers;
mod pipeline;
mod pose;
mod run;
mod science;
mod session;

use std::path::PathBuf;

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Whether `ffmpeg` and `ffprobe` run on this machine: the tests that read video files call this
/// first and return early when it says no. ffmpeg is only needed at run time for `--video` and
/// `--record-video`, so `cargo test` passes without it; a skipped test says so in one loud line
/// on the terminal (written past the harness's output capture). With `POSTURE_REQUIRE_FFMPEG=1`
/// (CI sets it) a missing ffmpeg fails the test instead, so CI never skips them.
pub fn ffmpeg_available(test: &str) -> bool {
    use std::io::Write;
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        ["ffmpeg", "ffprobe"].iter().all(|tool| {
            std::process::Command::new(tool)
                .arg("-version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    });
    if found {
        return true;
    }
    assert!(
        std::env::var("POSTURE_REQUIRE_FFMPEG").as_deref() != Ok("1"),
        "{test}: ffmpeg/ffprobe not found and POSTURE_REQUIRE_FFMPEG=1: install ffmpeg"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: ffmpeg/ffprobe not found (install ffmpeg to run the video tests)"
    );
    false
}
