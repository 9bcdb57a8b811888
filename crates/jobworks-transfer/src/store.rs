//! The on-disk chunk store: content-addressed (a chunk's path is its BLAKE3 digest), chunks
//! kept zstd-compressed exactly as they travel, verified on every read.
//!
//! Layout (after casync's chunk store, REFERENCE §2.4): `ROOT/ab/abcdef….zst`, the first two
//! hex digits as a fan-out directory; `ROOT/tmp/` holds writes in progress, renamed into place
//! when complete, so a reader never sees half a chunk under its final name. Chunk writes are
//! not fsynced: a chunk torn by a crash fails verification on its next read and is dropped
//! (reported missing), so it is fetched again; the assembled file is what gets fsynced.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, TransferError, io_err};
use crate::manifest::{ChunkRef, Digest, Manifest};

/// zstd level chunks are compressed at when the store compresses them (zstd's default).
pub const ZSTD_LEVEL: i32 = 3;

/// Counter making temporary names unique within the process.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A directory of chunks named by their BLAKE3 digest. Cheap to clone (the clones share the
/// root path); safe to use from several threads and processes at once (writes are
/// write-then-rename). All methods block; call them from `spawn_blocking` in async code.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    root: Arc<PathBuf>,
}

impl ChunkStore {
    /// Opens the store at `root`, creating it (and `root/tmp`) if needed.
    ///
    /// Errors: [`TransferError::Io`] when the directories cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<ChunkStore> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err("create directory", &tmp))?;
        Ok(ChunkStore {
            root: Arc::new(root),
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the chunk named `hash` lives: `ROOT/ab/abcdef….zst`.
    pub fn path_of(&self, hash: &Digest) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(format!("{hex}.zst"))
    }

    /// Whether a file for the chunk exists (not verified; see [`ChunkStore::verify`]).
    pub fn contains(&self, hash: &Digest) -> bool {
        self.path_of(hash).is_file()
    }

    /// The chunk's compressed bytes as stored, after checking they decompress to its
    /// declared length and digest. A chunk that fails the check is deleted and reported as
    /// absent (`Ok(None)`), so it is fetched again.
    ///
    /// Errors: [`TransferError::Io`] when the file exists but cannot be read or deleted.
    pub fn read_compressed(&self, chunk: &ChunkRef) -> Result<Option<Vec<u8>>> {
        Ok(self.read_both(chunk)?.map(|(compressed, _)| compressed))
    }

    /// The chunk's uncompressed bytes, verified as in [`ChunkStore::read_compressed`]
    /// (a corrupt chunk is deleted and reported absent).
    ///
    /// Errors: [`TransferError::Io`] when the file exists but cannot be read or deleted.
    pub fn read(&self, chunk: &ChunkRef) -> Result<Option<Vec<u8>>> {
        Ok(self.read_both(chunk)?.map(|(_, data)| data))
    }

    /// Whether the chunk is present and intact; a corrupt one is deleted (`Ok(false)`).
    ///
    /// Errors: [`TransferError::Io`] when the file exists but cannot be read or deleted.
    pub fn verify(&self, chunk: &ChunkRef) -> Result<bool> {
        Ok(self.read_both(chunk)?.is_some())
    }

    fn read_both(&self, chunk: &ChunkRef) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let path = self.path_of(&chunk.hash);
        let compressed = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read chunk", &path)(e)),
        };
        match decode(chunk, &compressed) {
            Ok(data) => Ok(Some((compressed, data))),
            Err(_) => {
                // Corrupt on disk: drop it so it is fetched again.
                match fs::remove_file(&path) {
                    Ok(()) => Ok(None),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io_err("remove corrupt chunk", &path)(e)),
                }
            }
        }
    }

    /// Stores uncompressed chunk bytes (compressing them at [`ZSTD_LEVEL`]) unless the chunk
    /// is already there. Returns the compressed size in bytes.
    ///
    /// Errors: [`TransferError::ChunkHash`] when `data` does not hash to `chunk.hash`,
    /// [`TransferError::Compress`], or [`TransferError::Io`] when writing fails.
    pub fn put(&self, chunk: &ChunkRef, data: &[u8]) -> Result<u64> {
        let actual = Digest::of(data);
        if actual != chunk.hash {
            return Err(TransferError::ChunkHash {
                index: chunk.index,
                offset: chunk.offset,
                expected: chunk.hash,
                actual,
            });
        }
        let compressed =
            zstd::bulk::compress(data, ZSTD_LEVEL).map_err(|source| TransferError::Compress {
                index: chunk.index,
                offset: chunk.offset,
                source,
            })?;
        self.write(&chunk.hash, &compressed)?;
        Ok(compressed.len() as u64)
    }

    /// Stores a chunk received compressed, after [`decode`] checked it (decompressed within
    /// `chunk.length` bytes, zip-bomb safe, and hashed to `chunk.hash`). The bytes are kept as
    /// received. Returns the uncompressed bytes.
    ///
    /// Errors: [`TransferError::Decompress`], [`TransferError::ChunkHash`], or
    /// [`TransferError::Io`] when writing fails.
    pub fn put_compressed(&self, chunk: &ChunkRef, compressed: &[u8]) -> Result<Vec<u8>> {
        let data = decode(chunk, compressed)?;
        self.write(&chunk.hash, compressed)?;
        Ok(data)
    }

    /// Reads the regular file at `path`, stores each of its chunks and returns its manifest
    /// (the sending side: a server or source agent serves chunks from its store).
    ///
    /// Errors: as [`Manifest::from_path`] and [`ChunkStore::put`].
    pub fn add_file(&self, path: &Path) -> Result<Manifest> {
        Manifest::from_path_with(path, |chunk, data| {
            if !self.contains(&chunk.hash) {
                self.put(chunk, data)?;
            }
            Ok(())
        })
    }

    /// Write-then-rename of `bytes` under `hash`'s name; a chunk already there is kept.
    fn write(&self, hash: &Digest, bytes: &[u8]) -> Result<()> {
        let dest = self.path_of(hash);
        if dest.is_file() {
            return Ok(());
        }
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        }
        let tmp = self.root.join("tmp").join(format!(
            "{}.{}.{}",
            hash.to_hex(),
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        if let Err(e) = fs::write(&tmp, bytes) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write chunk", &tmp)(e));
        }
        fs::rename(&tmp, &dest).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err("rename chunk into", &dest)(e)
        })
    }
}

/// Decompresses a chunk's bytes with `chunk.length` as the output limit (zstd stops with an
/// error rather than write past it, so a small input that would expand to gigabytes costs at
/// most [`CHUNK_MAX`](crate::CHUNK_MAX) bytes), then checks the length and BLAKE3 digest.
///
/// Errors: [`TransferError::Decompress`] (corrupt, too long or too short),
/// [`TransferError::ChunkHash`] (right length, wrong content).
pub fn decode(chunk: &ChunkRef, compressed: &[u8]) -> Result<Vec<u8>> {
    let failed = |reason: String| TransferError::Decompress {
        index: chunk.index,
        offset: chunk.offset,
        hash: chunk.hash,
        length: chunk.length,
        reason,
    };
    if chunk.length > crate::CHUNK_MAX {
        return Err(failed(format!(
            "declared length exceeds the {} byte chunk limit",
            crate::CHUNK_MAX
        )));
    }
    let data = zstd::bulk::decompress(compressed, chunk.length as usize)
        .map_err(|e| failed(e.to_string()))?;
    if data.len() != chunk.length as usize {
        return Err(failed(format!("decompressed to {} bytes", data.len())));
    }
    let actual = Digest::of(&data);
    if actual != chunk.hash {
        return Err(TransferError::ChunkHash {
            index: chunk.index,
            offset: chunk.offset,
            expected: chunk.hash,
            actual,
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_of(data: &[u8]) -> ChunkRef {
        ChunkRef {
            index: 7,
            offset: 4096,
            length: data.len() as u32,
            hash: Digest::of(data),
        }
    }

    #[test]
    fn put_read_and_corruption_reads_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path().join("store")).unwrap();
        let data = b"hello chunk store ".repeat(1000);
        let chunk = chunk_of(&data);
        assert_eq!(store.read(&chunk).unwrap(), None);
        let size = store.put(&chunk, &data).unwrap();
        assert!(size < data.len() as u64, "compressed {size}");
        assert_eq!(store.read(&chunk).unwrap().as_deref(), Some(&data[..]));
        let path = store.path_of(&chunk.hash);
        assert!(path.starts_with(dir.path().join("store").join(&chunk.hash.to_hex()[..2])));

        // Flip a byte in the stored file: it is detected, dropped and reported missing.
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert!(!store.verify(&chunk).unwrap());
        assert!(!path.exists());
        assert!(!store.contains(&chunk.hash));
    }

    #[test]
    fn decode_refuses_bombs_truncation_and_wrong_content() {
        let data = vec![0u8; 1 << 20];
        let compressed = zstd::bulk::compress(&data, 3).unwrap();
        // Declared smaller than it decompresses to: refused at the limit.
        let small = ChunkRef {
            length: 1000,
            ..chunk_of(&data)
        };
        let err = decode(&small, &compressed).unwrap_err().to_string();
        assert!(err.contains("within its declared 1000 bytes"), "{err}");
        assert!(err.contains("chunk 7 (offset 4096"), "{err}");
        // A declared length over the limit is refused before decompressing.
        let huge = ChunkRef {
            length: crate::CHUNK_MAX + 1,
            ..chunk_of(&data)
        };
        assert!(decode(&huge, &compressed).is_err());
        // Garbage.
        assert!(decode(&chunk_of(&data), b"not zstd").is_err());
        // Right length, wrong bytes.
        let other = ChunkRef {
            hash: Digest::of(b"other"),
            ..chunk_of(&data)
        };
        let err = decode(&other, &compressed).unwrap_err();
        assert!(
            matches!(err, TransferError::ChunkHash { index: 7, .. }),
            "{err}"
        );
        assert_eq!(decode(&chunk_of(&data), &compressed).unwrap(), data);
    }

    #[test]
    fn put_compressed_refuses_bad_bytes_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let data = b"payload".repeat(100);
        let chunk = chunk_of(&data);
        let mut compressed = zstd::bulk::compress(&data, 3).unwrap();
        compressed.truncate(compressed.len() / 2);
        assert!(store.put_compressed(&chunk, &compressed).is_err());
        assert!(!store.contains(&chunk.hash));
        let good = zstd::bulk::compress(&data, 3).unwrap();
        assert_eq!(store.put_compressed(&chunk, &good).unwrap(), data);
        assert_eq!(store.read_compressed(&chunk).unwrap(), Some(good));
    }

    #[test]
    fn put_refuses_data_not_matching_the_ref() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let chunk = chunk_of(b"one");
        let err = store.put(&chunk, b"two").unwrap_err();
        assert!(err.to_string().contains("hash mismatch"), "{err}");
    }
}
