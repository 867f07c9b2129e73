//! Output files written safely: into a temporary file in the same folder, renamed over the
//! target only once complete. A full disk or a crash never leaves a truncated file in place of a
//! good one: the old file stays as it was, and the error names the file. A symbolic link is
//! followed (its target is replaced, the link stays); a path that is not a regular file — a device
//! such as `/dev/null`, a named pipe — is written to directly, never replaced.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writing an output file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}; the previous file, if any, is left as it was")]
pub struct OutputError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// An output file being written: a temporary file beside `path`, renamed to `path` by
/// [`AtomicFile::commit`]. Dropped without committing, it is removed and `path` is untouched.
/// Write errors name the file.
pub struct AtomicFile {
    path: PathBuf,
    // `path` with symbolic links followed: the file replaced.
    real: PathBuf,
    out: BufWriter<Target>,
}

/// Where the bytes go: a temporary file to rename, or a device or pipe written as it is.
enum Target {
    Temp(tempfile::NamedTempFile),
    Direct(std::fs::File),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Target::Temp(f) => f.write(buf),
            Target::Direct(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Target::Temp(f) => f.flush(),
            Target::Direct(f) => f.flush(),
        }
    }
}

/// The file a write to `path` should replace: `path` itself, or the file a symbolic link at
/// `path` points to (through any chain of links, even to a file not created yet).
fn resolve_links(path: &Path) -> PathBuf {
    let mut path = path.to_owned();
    // A bounded walk: a loop of links ends in an error when written, naming the path.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&path) {
                Ok(target) => path = folder_of(&path).join(target),
                Err(_) => break,
            },
            _ => break,
        }
    }
    path
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist).
    ///
    /// # Errors
    /// [`OutputError`] when the temporary file cannot be created.
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let fail = |source| OutputError {
            path: path.to_owned(),
            source,
        };
        let real = resolve_links(path);
        let special = std::fs::metadata(&real).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            // A device or a pipe: there is nothing to keep, and replacing it would be wrong.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&real)
                .map_err(fail)?;
            return Ok(Self {
                path: path.to_owned(),
                real,
                out: BufWriter::new(Target::Direct(f)),
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!(
                ".{}.",
                real.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ))
            .suffix(".tmp")
            .tempfile_in(folder_of(&real))
            .map_err(fail)?;
        Ok(Self {
            path: path.to_owned(),
            real,
            out: BufWriter::new(Target::Temp(tmp)),
        })
    }

    /// The file this will become.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", self.path.display()),
        )
    }

    /// Flushes, syncs and renames the temporary file over the target.
    ///
    /// # Errors
    /// [`OutputError`] naming the file; the target is then left as it was.
    pub fn commit(self) -> Result<(), OutputError> {
        let (path, real) = (self.path, self.real);
        let fail = |source: std::io::Error| OutputError {
            path: path.clone(),
            source,
        };
        let tmp = match self.out.into_inner().map_err(|e| fail(e.into_error()))? {
            Target::Direct(_) => return Ok(()),
            Target::Temp(tmp) => tmp,
        };
        tmp.as_file().sync_all().map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A temporary file is private (0600); an output keeps the old file's mode, or 0644.
            let mode = std::fs::metadata(&real).map_or(0o644, |m| m.permissions().mode());
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(fail)?;
        }
        tmp.persist(&real).map_err(|e| fail(e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().map_err(|e| self.named(e))
    }
}

/// Writes `bytes` to `path` safely (temporary file, then rename).
///
/// # Errors
/// [`OutputError`] naming the file; the old file is then left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let mut f = AtomicFile::create(path)?;
    f.out.write_all(bytes).map_err(|source| OutputError {
        path: path.to_owned(),
        source,
    })?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        std::fs::write(&p, "old").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half").unwrap();
            // dropped without commit
        }
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        write_atomically(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        let e = write_atomically(&dir.path().join("no/such/dir/x"), b"x").unwrap_err();
        assert!(e.to_string().contains("no/such/dir/x"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_and_a_device_or_pipe_is_written_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("real.csv", &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        // A device: /dev/null takes the bytes and stays a device.
        write_atomically(Path::new("/dev/null"), b"gone").unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        // /dev/full: the error names it, and it stays a device.
        if Path::new("/dev/full").exists() {
            let e = write_atomically(Path::new("/dev/full"), &[0; 100_000]).unwrap_err();
            assert!(e.to_string().contains("/dev/full"), "{e}");
            assert!(!std::fs::metadata("/dev/full").unwrap().is_file());
        }
        // A named pipe: the reader gets the bytes.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(fifo).unwrap())
            };
            write_atomically(&fifo, b"through the pipe").unwrap();
            assert_eq!(reader.join().unwrap(), b"through the pipe");
            assert!(!std::fs::metadata(&fifo).unwrap().is_file());
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 3, "no temporary file left: {left:?}");
    }
}
