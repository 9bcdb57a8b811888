//! Directory manifests: one entry per file (relative path, mode, manifest) and one per
//! directory (so empty ones and their modes arrive too). Symbolic links and special files are
//! refused, never followed.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TransferError, io_err};
use crate::manifest::{ChunkRef, Manifest};
use crate::receive::assemble;
use crate::store::ChunkStore;

/// A file of a directory manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the root, `/`-separated, e.g. `bin/tool` (see [`check_relative_path`]).
    pub path: String,
    /// The file's manifest (its `mode` is the file's).
    pub manifest: Manifest,
}

/// A directory of a directory manifest (the root itself is not listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// Unix permission bits, e.g. `0o755`.
    pub mode: u32,
}

/// What a directory tree is: its subdirectories and files, each in path order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirManifest {
    /// Subdirectories, parents before children.
    pub dirs: Vec<DirEntry>,
    /// Regular files.
    pub files: Vec<FileEntry>,
}

impl DirManifest {
    /// Walks the directory `root` (not following links) and builds the manifest of every file,
    /// storing their chunks in `store` when given. Blocking.
    ///
    /// Errors: [`TransferError::Symlink`] for a link anywhere (also `root` itself),
    /// [`TransferError::SpecialFile`] for a FIFO, socket or device, [`TransferError::InvalidManifest`]
    /// for a name that is not UTF-8, [`TransferError::Io`] naming the path that failed.
    pub fn from_dir(root: &Path, store: Option<&ChunkStore>) -> Result<DirManifest> {
        let meta = fs::symlink_metadata(root).map_err(io_err("stat", root))?;
        if meta.file_type().is_symlink() {
            return Err(TransferError::Symlink { path: root.into() });
        }
        if !meta.is_dir() {
            return Err(TransferError::SpecialFile { path: root.into() });
        }
        let mut out = DirManifest::default();
        walk(root, "", store, &mut out)?;
        Ok(out)
    }

    /// Every chunk of every file, in order (duplicates included; [`missing`](crate::missing)
    /// lists each digest once).
    pub fn all_chunks(&self) -> Vec<ChunkRef> {
        self.files
            .iter()
            .flat_map(|f| f.manifest.chunks.iter().copied())
            .collect()
    }

    /// Checks every path with [`check_relative_path`], that no path appears twice, and every
    /// file manifest with [`Manifest::validate`]. Run it on a manifest received from elsewhere.
    ///
    /// Errors: [`TransferError::InvalidManifest`] naming the entry.
    pub fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        let paths = self
            .dirs
            .iter()
            .map(|d| (&d.path, d.mode))
            .chain(self.files.iter().map(|f| (&f.path, f.manifest.mode)));
        for (path, mode) in paths {
            let bad = |reason: String| TransferError::InvalidManifest {
                path: Some(path.clone()),
                reason,
            };
            check_relative_path(path).map_err(|r| bad(r.to_string()))?;
            if mode & !0o7777 != 0 {
                return Err(bad(format!("mode {mode:o} has bits beyond 7777")));
            }
            if !seen.insert(path.as_str()) {
                return Err(bad("listed twice".into()));
            }
        }
        for f in &self.files {
            f.manifest
                .validate()
                .map_err(|e| TransferError::InvalidManifest {
                    path: Some(f.path.clone()),
                    reason: match e {
                        TransferError::InvalidManifest { reason, .. } => reason,
                        other => other.to_string(),
                    },
                })?;
        }
        Ok(())
    }
}

/// Why `path` cannot name an entry under a destination root, or `Ok` if it can: it must be
/// non-empty, relative, `/`-separated, with no empty, `.` or `..` component and no NUL, so
/// no entry can land outside the root.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.contains('\0') {
        return Err("NUL in path");
    }
    for part in path.split('/') {
        match part {
            "" => return Err("empty path component (`//` or trailing `/`)"),
            "." | ".." => return Err("`.` or `..` component"),
            _ => {}
        }
    }
    Ok(())
}

fn walk(dir: &Path, rel: &str, store: Option<&ChunkStore>, out: &mut DirManifest) -> Result<()> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list directory", dir))? {
        let entry = entry.map_err(io_err("list directory", dir))?;
        entries.push(entry.path());
    }
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            TransferError::InvalidManifest {
                path: None,
                reason: format!("{}: name is not UTF-8", path.display()),
            }
        })?;
        let child = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(TransferError::Symlink { path });
        } else if kind.is_dir() {
            out.dirs.push(DirEntry {
                path: child.clone(),
                mode: meta.permissions().mode() & 0o7777,
            });
            walk(&path, &child, store, out)?;
        } else if kind.is_file() {
            let manifest = match store {
                Some(store) => store.add_file(&path)?,
                None => Manifest::from_path(&path)?,
            };
            out.files.push(FileEntry {
                path: child,
                manifest,
            });
        } else {
            return Err(TransferError::SpecialFile { path });
        }
    }
    Ok(())
}

/// Writes the tree `manifest` describes under `dest` (created if needed) from the chunks in
/// `store`: directories first, each file with [`assemble`] (atomic per file, with its own
/// mode), then the directory modes, deepest first (so a read-only directory is filled before
/// it becomes read-only). The tree as a whole is not atomic: a failure leaves the files
/// assembled so far. Blocking.
///
/// Errors: as [`DirManifest::validate`] and [`assemble`], naming the file.
pub fn assemble_dir(manifest: &DirManifest, store: &ChunkStore, dest: &Path) -> Result<()> {
    manifest.validate()?;
    fs::create_dir_all(dest).map_err(io_err("create directory", dest))?;
    for d in &manifest.dirs {
        let path = dest.join(&d.path);
        fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
    }
    for f in &manifest.files {
        let path = dest.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        }
        assemble(&f.manifest, store, &path, None)?;
    }
    for d in manifest.dirs.iter().rev() {
        let path = dest.join(&d.path);
        fs::set_permissions(&path, fs::Permissions::from_mode(d.mode))
            .map_err(io_err("chmod", &path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_path_table() {
        let cases = [
            ("a", Ok(())),
            ("a/b/c.txt", Ok(())),
            ("..hidden", Ok(())),
            ("", Err("empty path")),
            ("/etc/passwd", Err("absolute path")),
            ("a/../../x", Err("`.` or `..` component")),
            ("./a", Err("`.` or `..` component")),
            ("a//b", Err("empty path component (`//` or trailing `/`)")),
            ("a/", Err("empty path component (`//` or trailing `/`)")),
            ("a\0b", Err("NUL in path")),
        ];
        for (path, want) in cases {
            assert_eq!(check_relative_path(path), want, "{path:?}");
        }
    }

    #[test]
    fn directory_round_trip_with_modes_and_empty_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::create_dir_all(src.join("empty")).unwrap();
        fs::write(src.join("bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(src.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(src.join("readme"), b"hello").unwrap();
        fs::write(src.join("zero"), b"").unwrap();
        fs::set_permissions(src.join("empty"), fs::Permissions::from_mode(0o700)).unwrap();
        let store = ChunkStore::open(tmp.path().join("store")).unwrap();
        let m = DirManifest::from_dir(&src, Some(&store)).unwrap();
        let files: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(files, ["bin/tool", "readme", "zero"]);
        let dirs: Vec<&str> = m.dirs.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(dirs, ["bin", "empty"]);
        let json = serde_json::to_string(&m).unwrap();
        let back: DirManifest = serde_json::from_str(&json).unwrap();
        let dest = tmp.path().join("dest");
        assemble_dir(&back, &store, &dest).unwrap();
        assert_eq!(
            fs::read(dest.join("bin/tool")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(fs::read(dest.join("zero")).unwrap(), b"");
        let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("bin/tool"), 0o755);
        assert_eq!(mode("empty"), 0o700);
    }

    #[test]
    fn symlinks_are_refused_with_their_path() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("sub/link")).unwrap();
        let err = DirManifest::from_dir(&src, None).unwrap_err();
        assert!(matches!(err, TransferError::Symlink { .. }), "{err}");
        assert!(
            err.to_string().contains("sub/link: is a symbolic link"),
            "{err}"
        );
        std::os::unix::fs::symlink(&src, tmp.path().join("rootlink")).unwrap();
        let err = DirManifest::from_dir(&tmp.path().join("rootlink"), None).unwrap_err();
        assert!(matches!(err, TransferError::Symlink { .. }), "{err}");
    }

    #[test]
    fn traversal_in_a_received_manifest_is_refused() {
        let m = DirManifest {
            dirs: vec![],
            files: vec![FileEntry {
                path: "../escape".into(),
                manifest: Manifest::build(&b"x"[..], 0o644, Path::new("mem")).unwrap(),
            }],
        };
        let err = m.validate().unwrap_err().to_string();
        assert!(err.contains("for ../escape"), "{err}");
        let tmp = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(tmp.path().join("s")).unwrap();
        assert!(assemble_dir(&m, &store, &tmp.path().join("d")).is_err());
        assert!(!tmp.path().join("escape").exists());
    }
}
