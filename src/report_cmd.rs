//! `posture report` and `posture history`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use posture::report;
use posture::session::Session;

/// Loads sessions with a progress bar on a terminal (hidden otherwise); warnings go to stderr.
/// A file that cannot be loaded at all is an error naming it.
fn load_all(paths: &[PathBuf]) -> anyhow::Result<(Vec<String>, Vec<Session>)> {
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
    let mut names = Vec::with_capacity(paths.len());
    let mut sessions = Vec::with_capacity(paths.len());
    for p in paths {
        bar.set_message(
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let s = Session::load(p)?;
        for w in &s.warnings {
            bar.suspend(|| eprintln!("posture: warning: {}: {w}", p.display()));
        }
        names.push(p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ));
        sessions.push(s);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((names, sessions))
}

/// `posture report`.
pub fn report(paths: &[PathBuf], out: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (names, sessions) = load_all(paths)?;
    let figures = report::figures(&names, &sessions);
    if json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &figures)?;
        writeln!(stdout)?;
        return Ok(ExitCode::SUCCESS);
    }
    let page = report::html(&figures, &sessions)
        .map_err(|e| anyhow::anyhow!("cannot draw the report's plots: {e}"))?;
    std::fs::write(out, page)
        .with_context(|| format!("cannot write the report to {}", out.display()))?;
    eprintln!(
        "posture: report of {} session(s) written to {}",
        sessions.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `posture history`: one line per session in `dir`, oldest first.
pub fn history(dir: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => posture::session::default_dir().context(
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
        match Session::load(&p) {
            Ok(s) => loadable.push((p, s)),
            Err(e) => eprintln!("posture: warning: skipped: {e}"),
        }
    }
    let names: Vec<String> = loadable
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let sessions: Vec<Session> = loadable.into_iter().map(|(_, s)| s).collect();
    let figures = report::figures(&names, &sessions);
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
