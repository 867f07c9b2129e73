//! Output files written safely: into a temporary file in the same folder, renamed over the
//! target only once complete. A full disk or a crash never leaves a truncated file in place of a
//! good one: the old file stays as it was, and the error names the file.

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
    out: BufWriter<tempfile::NamedTempFile>,
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
        let tmp = tempfile::Builder::new()
            .prefix(&format!(
                ".{}.",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ))
            .suffix(".tmp")
            .tempfile_in(folder_of(path))
            .map_err(|source| OutputError {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(tmp),
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
        let path = self.path;
        let fail = |source: std::io::Error| OutputError {
            path: path.clone(),
            source,
        };
        let tmp = self.out.into_inner().map_err(|e| fail(e.into_error()))?;
        tmp.as_file().sync_all().map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A temporary file is private (0600); an output keeps the old file's mode, or 0644.
            let mode = std::fs::metadata(&path).map_or(0o644, |m| m.permissions().mode());
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(fail)?;
        }
        tmp.persist(&path).map_err(|e| fail(e.error))?;
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
}
