//! `posture report` and `posture history`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use posture::report::{self, SessionDigest, SkippedFile};

/// The sessions that loaded (name, digest) and the files that did not.
struct Loaded {
    names: Vec<String>,
    sessions: Vec<SessionDigest>,
    skipped: Vec<SkippedFile>,
    errors: Vec<String>,
}

/// Reads sessions one at a time, each in one streaming pass, with a progress bar on a terminal
/// (hidden otherwise). Skipped lines are warned about (the warning names the file and the line);
/// a file that cannot be loaded at all is named and skipped.
fn load_all(paths: &[PathBuf]) -> Loaded {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(paths.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if paths.len() > 1 {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} sessions {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut loaded = Loaded {
        names: Vec::with_capacity(paths.len()),
        sessions: Vec::with_capacity(paths.len()),
        skipped: Vec::new(),
        errors: Vec::new(),
    };
    for p in paths {
        bar.set_message(
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        match SessionDigest::load(p) {
            Ok(s) => {
                for w in &s.warnings {
                    bar.suspend(|| eprintln!("posture: warning: {w}"));
                }
                loaded.names.push(p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ));
                loaded.sessions.push(s);
            }
            Err(e) => {
                loaded.errors.push(e.to_string());
                loaded.skipped.push(SkippedFile {
                    file: p.display().to_string(),
                    error: e.to_string(),
                });
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    loaded
}

/// `posture report`: exit 0 when every file loaded; 1 when some could not be loaded (they are
/// named on stderr and in the report, which covers the others); an error (exit 2) when none did.
pub fn report(paths: &[PathBuf], out: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let Loaded {
        names,
        sessions,
        skipped,
        errors,
    } = load_all(paths);
    if sessions.is_empty() {
        anyhow::bail!(
            "no session could be loaded, no report written: {}",
            errors.join("; ")
        );
    }
    for e in &errors {
        eprintln!("posture: warning: skipped: {e}");
    }
    let code = if skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    let left_out = skipped.len();
    let figures = report::figures(&names, &sessions, skipped);
    if json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &figures)?;
        writeln!(stdout)?;
        return Ok(code);
    }
    let page = report::html(&figures, &sessions)
        .map_err(|e| anyhow::anyhow!("cannot draw the report's plots: {e}"))?;
    posture::output::write_atomically(out, page.as_bytes())?;
    eprintln!(
        "posture: report of {} session(s) written to {}{}",
        sessions.len(),
        out.display(),
        if left_out > 0 {
            format!(" ({left_out} file(s) left out)")
        } else {
            String::new()
        }
    );
    Ok(code)
}

/// `posture history`: one line per session in `dir`, oldest first.
pub fn history(dir: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => posture::format::session::default_dir().context(
            "no data directory on this system: pass --dir with the folder of your recordings",
        )?,
    };
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    paths.sort();
    let mut loadable = Vec::new();
    for p in paths {
        // A file that is not a session (or of another version) is named and skipped.
        match SessionDigest::load(&p) {
            Ok(s) => loadable.push((p, s)),
            Err(e) => eprintln!("posture: warning: skipped: {e}"),
        }
    }
    let names: Vec<String> = loadable
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let sessions: Vec<SessionDigest> = loadable.into_iter().map(|(_, s)| s).collect();
    let figures = report::figures(&names, &sessions, Vec::new());
    let mut stdout = std::io::stdout().lock();
    if json {
        for f in &figures.sessions {
            serde_json::to_writer(&mut stdout, f)?;
            writeln!(stdout)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if figures.sessions.is_empty() {
        writeln!(
            stdout,
            "no recorded sessions in {} (record with --record)",
            dir.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        stdout,
        "{:<16} {:>12} {:>6} {:>6} {:>6} {:>6} {:>5}  {:<12} file",
        "started (UTC)", "duration", "good", "poor", "score", "alerts", "reps", "exercise"
    )?;
    for f in &figures.sessions {
        writeln!(
            stdout,
            "{:<16} {:>12} {:>6} {:>6} {:>6} {:>6} {:>5}  {:<12} {}",
            format!("{} {}", f.day, report::time_of(f.started_unix_secs)),
            report::duration(f.summary.duration_secs),
            report::opt(f.good_pct, 0, "%"),
            report::opt(f.poor_pct, 0, "%"),
            report::opt(f.mean_score, 0, ""),
            f.summary.alerts,
            f.summary.reps,
            f.exercise.as_deref().unwrap_or("-"),
            f.file
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
