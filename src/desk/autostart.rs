//! XDG autostart: `posture desk --install-autostart` writes
//! `~/.config/autostart/posture-desk.desktop` so the desk starts with the session;
//! `--uninstall-autostart` removes it.

use std::path::{Path, PathBuf};

/// The entry's file name.
pub const FILE_NAME: &str = "posture-desk.desktop";

/// `$XDG_CONFIG_HOME/autostart/posture-desk.desktop` (usually `~/.config/autostart/...`).
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("autostart").join(FILE_NAME))
}

/// The `.desktop` entry that runs `exe desk` (plus `args`) at login.
pub fn entry(exe: &Path, args: &[String]) -> String {
    // Exec quoting (Desktop Entry spec): arguments with spaces or quotes are double-quoted, with
    // `"`, `` ` ``, `$` and `\` escaped.
    let quote = |s: &str| {
        if s.chars()
            .any(|c| c.is_whitespace() || "\"'`$\\;&|<>()".contains(c))
        {
            let mut q = String::from("\"");
            for c in s.chars() {
                if "\"`$\\".contains(c) {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        } else {
            s.to_owned()
        }
    };
    let mut exec = vec![quote(&exe.to_string_lossy()), "desk".to_owned()];
    exec.extend(args.iter().map(|a| quote(a)));
    format!(
        "[Desktop Entry]\nType=Application\nName=posture desk\nComment=Watches your posture in the background and notifies you when a slouch lasts\nExec={}\nTerminal=false\nX-GNOME-Autostart-enabled=true\nX-GNOME-Autostart-Delay=10\n",
        exec.join(" ")
    )
}

/// Writes the entry at `path`.
///
/// # Errors
/// When the folder or file cannot be written.
pub fn install(path: &Path, exe: &Path, args: &[String]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::output::write_atomically(path, entry(exe, args).as_bytes())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Removes the entry at `path`; whether there was one.
///
/// # Errors
/// When it exists but cannot be removed.
pub fn uninstall(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_runs_the_desk_with_its_arguments_quoted_and_installs_and_uninstalls() {
        let e = entry(
            Path::new("/opt/my apps/posture"),
            &["--profile".into(), "laptop".into()],
        );
        assert!(
            e.contains("\nExec=\"/opt/my apps/posture\" desk --profile laptop\n"),
            "{e}"
        );
        assert!(e.starts_with("[Desktop Entry]\nType=Application\n"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("autostart").join(FILE_NAME);
        install(&path, Path::new("/usr/bin/posture"), &[]).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("Exec=/usr/bin/posture desk\n")
        );
        assert!(uninstall(&path).unwrap());
        assert!(!uninstall(&path).unwrap());
    }
}
