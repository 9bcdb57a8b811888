//! The receiving side: which chunks to ask for, taking one in, and writing the file out
//! atomically once all are there.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, TransferError, io_err};
use crate::manifest::{ChunkRef, Digest, Manifest};
use crate::store::ChunkStore;

/// Counter making part-file names unique within the process.
static PART_SEQ: AtomicU64 = AtomicU64::new(0);

/// The chunks of `chunks` the store lacks, each digest once (its first occurrence), in order.
/// Present chunks are verified (decompressed and hashed); a corrupt one is deleted and listed,
/// so after an interruption only what is absent or damaged is asked for again.
/// Blocking (reads every present chunk).
///
/// Errors: [`TransferError::Io`] when a present chunk cannot be read.
pub fn missing(chunks: &[ChunkRef], store: &ChunkStore) -> Result<Vec<ChunkRef>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for chunk in chunks {
        if seen.insert(chunk.hash) && !store.verify(chunk)? {
            out.push(*chunk);
        }
    }
    Ok(out)
}

/// Takes in one chunk received compressed: decompressed with `chunk.length` as the limit
/// (zip-bomb safe), verified against `chunk.hash`, stored as received. Returns the
/// uncompressed length in bytes. Blocking.
///
/// Errors: [`TransferError::Decompress`], [`TransferError::ChunkHash`], [`TransferError::Io`].
pub fn accept_chunk(store: &ChunkStore, chunk: &ChunkRef, compressed: &[u8]) -> Result<u64> {
    store
        .put_compressed(chunk, compressed)
        .map(|d| d.len() as u64)
}

/// Writes the file `manifest` describes to `dest` from the chunks in `store`: into a part file
/// `.NAME.part-…` in `dest`'s directory, checked against the whole-file digest and length,
/// given `mode` (default: the manifest's), fsynced, then renamed over `dest` and the directory
/// fsynced. On any error the part file is removed and `dest` is left as it was: never half a
/// file. Part files left by a crashed earlier call for the same `dest` are removed first (so
/// two concurrent assemblies of one `dest` are not supported). Blocking.
///
/// Errors: [`TransferError::InvalidManifest`], [`TransferError::MissingChunk`] (run
/// [`missing`] and fetch first), [`TransferError::FileHash`], [`TransferError::Io`].
pub fn assemble(
    manifest: &Manifest,
    store: &ChunkStore,
    dest: &Path,
    mode: Option<u32>,
) -> Result<()> {
    manifest.validate()?;
    let name = dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        TransferError::InvalidManifest {
            path: None,
            reason: format!("destination {} has no UTF-8 file name", dest.display()),
        }
    })?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_stale_parts(&dir, name)?;
    let part_path = dir.join(format!(
        ".{name}.part-{}-{}",
        std::process::id(),
        PART_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut part = PartFile::create(part_path)?;
    let mut whole = blake3::Hasher::new();
    let mut written = 0u64;
    for chunk in &manifest.chunks {
        let data = store
            .read(chunk)?
            .ok_or_else(|| TransferError::MissingChunk {
                path: dest.to_path_buf(),
                index: chunk.index,
                offset: chunk.offset,
                hash: chunk.hash,
            })?;
        part.file
            .write_all(&data)
            .map_err(io_err("write", &part.path))?;
        whole.update(&data);
        written += data.len() as u64;
    }
    let actual: Digest = whole.finalize().into();
    if actual != manifest.hash || written != manifest.length {
        return Err(TransferError::FileHash {
            path: dest.to_path_buf(),
            expected: manifest.hash,
            expected_len: manifest.length,
            actual,
            actual_len: written,
        });
    }
    let mode = mode.unwrap_or(manifest.mode) & 0o7777;
    part.file
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err("chmod", &part.path))?;
    part.file.sync_all().map_err(io_err("fsync", &part.path))?;
    fs::rename(&part.path, dest).map_err(io_err("rename into place", dest))?;
    part.disarm();
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", &dir))?;
    Ok(())
}

/// Removes `.NAME.part-*` files in `dir` (left by a crash during an earlier assembly).
fn remove_stale_parts(dir: &Path, name: &str) -> Result<()> {
    let prefix = format!(".{name}.part-");
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Err(io_err("list directory", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("list directory", dir))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove stale part file", &path)(e)),
            }
        }
    }
    Ok(())
}

/// A part file that deletes itself unless disarmed (after its rename).
struct PartFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

impl PartFile {
    fn create(path: PathBuf) -> Result<PartFile> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("create part file", &path))?;
        Ok(PartFile {
            path,
            file,
            armed: true,
        })
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize, seed: &[u8]) -> Vec<u8> {
        let mut data = vec![0u8; len];
        blake3::Hasher::new()
            .update(seed)
            .finalize_xof()
            .fill(&mut data);
        data
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn assemble_from_accepted_chunks_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        fs::write(&src, sample(3 << 20, b"a")).unwrap();
        let sender = ChunkStore::open(dir.path().join("sender")).unwrap();
        let receiver = ChunkStore::open(dir.path().join("receiver")).unwrap();
        let manifest = sender.add_file(&src).unwrap();
        let want = missing(&manifest.chunks, &receiver).unwrap();
        assert_eq!(want.len(), manifest.chunks.len());
        for chunk in &want {
            let bytes = sender.read_compressed(chunk).unwrap().unwrap();
            accept_chunk(&receiver, chunk, &bytes).unwrap();
        }
        assert!(missing(&manifest.chunks, &receiver).unwrap().is_empty());
        let out_dir = dir.path().join("out");
        fs::create_dir(&out_dir).unwrap();
        let dest = out_dir.join("dest.bin");
        assemble(&manifest, &receiver, &dest, Some(0o750)).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), fs::read(&src).unwrap());
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o750
        );
        assert_eq!(entries(&out_dir), vec!["dest.bin"]);
    }

    #[test]
    fn missing_chunk_leaves_dest_untouched_and_no_part_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        fs::write(&src, sample(3 << 20, b"b")).unwrap();
        let store = ChunkStore::open(dir.path().join("store")).unwrap();
        let manifest = store.add_file(&src).unwrap();
        let out_dir = dir.path().join("out");
        fs::create_dir(&out_dir).unwrap();
        let dest = out_dir.join("dest.bin");
        fs::write(&dest, b"old version").unwrap();
        // A stale part file from an earlier crash is cleaned up too.
        fs::write(out_dir.join(".dest.bin.part-1-1"), b"junk").unwrap();
        let last = manifest.chunks.last().unwrap();
        fs::remove_file(store.path_of(&last.hash)).unwrap();
        let err = assemble(&manifest, &store, &dest, None).unwrap_err();
        assert!(
            matches!(err, TransferError::MissingChunk { index, .. } if index == last.index),
            "{err}"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"old version");
        assert_eq!(entries(&out_dir), vec!["dest.bin"]);
    }

    #[test]
    fn whole_file_hash_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        fs::write(&src, sample(1 << 20, b"c")).unwrap();
        let store = ChunkStore::open(dir.path().join("store")).unwrap();
        let mut manifest = store.add_file(&src).unwrap();
        manifest.hash = Digest::of(b"something else");
        let dest = dir.path().join("dest.bin");
        let err = assemble(&manifest, &store, &dest, None).unwrap_err();
        assert!(matches!(err, TransferError::FileHash { .. }), "{err}");
        assert!(err.to_string().contains("dest.bin"), "{err}");
        assert!(!dest.exists());
    }

    #[test]
    fn missing_lists_each_digest_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let data = sample(1000, b"d");
        let c = |index, offset| ChunkRef {
            index,
            offset,
            length: 1000,
            hash: Digest::of(&data),
        };
        let got = missing(&[c(0, 0), c(1, 1000)], &store).unwrap();
        assert_eq!(got, vec![c(0, 0)]);
    }

    #[test]
    fn a_corrupt_stored_chunk_is_listed_missing_again() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        fs::write(&src, sample(3 << 20, b"e")).unwrap();
        let store = ChunkStore::open(dir.path().join("store")).unwrap();
        let manifest = store.add_file(&src).unwrap();
        assert!(manifest.chunks.len() >= 2);
        let victim = manifest.chunks[1];
        fs::write(store.path_of(&victim.hash), b"torn by a crash").unwrap();
        assert_eq!(missing(&manifest.chunks, &store).unwrap(), vec![victim]);
    }
}
