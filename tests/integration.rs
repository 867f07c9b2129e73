//! Integration tests: the real model on real photos, golden references, and the CLI.

mod cli;
mod exercise;
mod faults;
mod pipeline;
mod pose;
mod science;
mod session;

use std::path::PathBuf;

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
