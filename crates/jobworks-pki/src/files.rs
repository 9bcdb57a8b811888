//! Writing keys (mode 0600) and certificates (mode 0644) atomically, and reading keys back
//! only if nobody else can read them (as OpenSSH refuses a private key readable by others).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::PkiError;

/// Writes `bytes` to `path` with mode 0600: into a new temporary file beside it (created
/// with 0600, so the secret is never readable by others, not even briefly), synced, then
/// renamed over `path`. The parent directory must exist. Errors: [`PkiError::Io`] with the
/// path.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, bytes, 0o600)
}

/// Writes `bytes` to `path` with mode 0644, atomically as [`write_private`] does; for
/// certificates, which are public.
pub fn write_public(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, bytes, 0o644)
}

/// Reads a private key file written by [`write_private`]. Errors: [`PkiError::Io`] if it
/// cannot be read, [`PkiError::KeyPermissions`] if group or others have any access to it
/// (mode & 0o077 ≠ 0).
pub fn read_private(path: &Path) -> Result<String, PkiError> {
    let meta = fs::metadata(path).map_err(|e| PkiError::io("reading", path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PkiError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    fs::read_to_string(path).map_err(|e| PkiError::io("reading", path, e))
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist; an existing
/// directory keeps its mode.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), PkiError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| PkiError::io("creating directory", dir, e))
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let file_name = path
        .file_name()
        .ok_or_else(|| {
            PkiError::io(
                "writing",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // an existing temporary file keeps its old mode: set it explicitly
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(PkiError::io("writing", path, e));
    }
    Ok(())
}
