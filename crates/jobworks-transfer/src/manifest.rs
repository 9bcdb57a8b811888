//! Manifests: what a file is made of (whole-file BLAKE3, length, mode and its FastCDC chunks),
//! built by streaming the file once, and directory manifests (one entry per file).

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use fastcdc::v2020::StreamCDC;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TransferError, io_err};

/// Smallest chunk FastCDC cuts, in bytes (256 KiB), except for a file's last chunk.
///
/// With [`CHUNK_AVG`] and [`CHUNK_MAX`]: Dragonfly cuts fixed 4 MiB pieces (REFERENCE §2.2);
/// content-defined chunks must also be small enough that an edit moves little, so the average
/// is 1 MiB (a one-line change costs one or two chunks, ~1–2 MiB; a 1 GiB file has ~1,000
/// chunks, a manifest of ~150 KB JSON), the maximum is Dragonfly's 4 MiB (what a resume can
/// lose and what one chunk in flight holds in memory), and the minimum a quarter of the
/// average, as FastCDC's paper suggests, so no run of tiny chunks appears.
pub const CHUNK_MIN: u32 = 256 * 1024;
/// Average chunk FastCDC aims for, in bytes (1 MiB, normalization level 1). See [`CHUNK_MIN`].
pub const CHUNK_AVG: u32 = 1024 * 1024;
/// Largest chunk FastCDC cuts, in bytes (4 MiB); also the decompression limit of any chunk.
/// See [`CHUNK_MIN`].
pub const CHUNK_MAX: u32 = 4 * 1024 * 1024;

/// A BLAKE3 digest (32 bytes), written as 64 lowercase hex digits in JSON and messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The BLAKE3 digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest(*blake3::hash(data).as_bytes())
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Parses 64 hex digits; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Digest> {
        blake3::Hash::from_hex(text)
            .ok()
            .map(|h| Digest(*h.as_bytes()))
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        Digest::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("not a BLAKE3 digest (64 hex digits): {text:?}"))
        })
    }
}

/// One chunk of a file: where it is and what it hashes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// Position in the manifest's chunk list (0-based).
    pub index: u32,
    /// Byte offset of the chunk in the file.
    pub offset: u64,
    /// Uncompressed length in bytes (1..=[`CHUNK_MAX`]).
    pub length: u32,
    /// BLAKE3 digest of the uncompressed bytes; the chunk's name in a [`ChunkStore`](crate::ChunkStore).
    pub hash: Digest,
}

/// What one file is: its length, whole-file BLAKE3, Unix mode and FastCDC chunks in order.
///
/// The chunks tile the file: chunk `i` starts where chunk `i-1` ends, the first at 0, and the
/// last ends at `length` (an empty file has no chunk). [`Manifest::validate`] checks that for
/// manifests received from elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// File length in bytes.
    pub length: u64,
    /// BLAKE3 digest of the whole file.
    pub hash: Digest,
    /// Unix permission bits (`0o7777` mask), e.g. `0o644`.
    pub mode: u32,
    /// The chunks, in file order.
    pub chunks: Vec<ChunkRef>,
}

impl Manifest {
    /// Builds the manifest of everything `reader` yields, streaming: memory stays at about two
    /// [`CHUNK_MAX`] buffers whatever the length. `mode` is recorded as given (masked to
    /// `0o7777`). Chunks are cut by FastCDC 2020 with [`CHUNK_MIN`]/[`CHUNK_AVG`]/[`CHUNK_MAX`];
    /// `on_chunk` sees each chunk's bytes once (to store them, say) and may fail.
    ///
    /// Errors: [`TransferError::Io`] naming `path` (used only for messages) when reading fails,
    /// or whatever `on_chunk` returns.
    pub fn build_with(
        reader: impl Read,
        mode: u32,
        path: &Path,
        mut on_chunk: impl FnMut(&ChunkRef, &[u8]) -> Result<()>,
    ) -> Result<Manifest> {
        let chunker = StreamCDC::new(
            reader,
            CHUNK_MIN as usize,
            CHUNK_AVG as usize,
            CHUNK_MAX as usize,
        );
        let mut whole = blake3::Hasher::new();
        let mut chunks = Vec::new();
        let mut length = 0u64;
        for (index, item) in chunker.enumerate() {
            let data = item.map_err(|e| io_err("read", path)(e.into()))?;
            let chunk = ChunkRef {
                index: u32::try_from(index).map_err(|_| TransferError::InvalidManifest {
                    path: None,
                    reason: format!("{} has more than 2^32 chunks", path.display()),
                })?,
                offset: data.offset,
                // FastCDC never cuts more than CHUNK_MAX bytes, which fits in u32.
                length: data.length as u32,
                hash: Digest::of(&data.data),
            };
            whole.update(&data.data);
            length += data.length as u64;
            on_chunk(&chunk, &data.data)?;
            chunks.push(chunk);
        }
        Ok(Manifest {
            length,
            hash: whole.finalize().into(),
            mode: mode & 0o7777,
            chunks,
        })
    }

    /// [`Manifest::build_with`] without a chunk callback.
    pub fn build(reader: impl Read, mode: u32, path: &Path) -> Result<Manifest> {
        Manifest::build_with(reader, mode, path, |_, _| Ok(()))
    }

    /// The manifest of the regular file at `path`, with its current permission bits.
    /// Blocking; call it from `spawn_blocking` in async code.
    ///
    /// Errors: [`TransferError::Io`] when the file cannot be opened or read,
    /// [`TransferError::Symlink`]/[`TransferError::SpecialFile`] when `path` is not a regular file.
    pub fn from_path(path: &Path) -> Result<Manifest> {
        Manifest::from_path_with(path, |_, _| Ok(()))
    }

    /// [`Manifest::from_path`] with a chunk callback as in [`Manifest::build_with`].
    pub fn from_path_with(
        path: &Path,
        on_chunk: impl FnMut(&ChunkRef, &[u8]) -> Result<()>,
    ) -> Result<Manifest> {
        let mode = regular_file_mode(path)?;
        let file = File::open(path).map_err(io_err("open", path))?;
        Manifest::build_with(
            BufReader::with_capacity(1 << 20, file),
            mode,
            path,
            on_chunk,
        )
    }

    /// Checks that the chunks tile `0..length` in order with indexes `0..n`, each of
    /// 1..=[`CHUNK_MAX`] bytes, and that `mode` has only permission bits. Run it on every
    /// manifest received from elsewhere before using it.
    ///
    /// Errors: [`TransferError::InvalidManifest`] saying which chunk is wrong and how.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| TransferError::InvalidManifest { path: None, reason };
        if self.mode & !0o7777 != 0 {
            return Err(bad(format!(
                "mode {:o} has bits beyond the permission bits 7777",
                self.mode
            )));
        }
        let mut end = 0u64;
        for (i, chunk) in self.chunks.iter().enumerate() {
            if chunk.index as usize != i {
                return Err(bad(format!(
                    "chunk at position {i} has index {}",
                    chunk.index
                )));
            }
            if chunk.offset != end {
                return Err(bad(format!(
                    "chunk {i} starts at offset {} but the previous chunk ends at {end}",
                    chunk.offset
                )));
            }
            if chunk.length == 0 || chunk.length > CHUNK_MAX {
                return Err(bad(format!(
                    "chunk {i} has length {} (must be 1..={CHUNK_MAX})",
                    chunk.length
                )));
            }
            end += u64::from(chunk.length);
        }
        if end != self.length {
            return Err(bad(format!(
                "chunks cover {end} bytes but the file length is {}",
                self.length
            )));
        }
        Ok(())
    }
}

/// The permission bits of the regular file at `path` (not following a symlink).
fn regular_file_mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(TransferError::Symlink { path: path.into() });
    }
    if !kind.is_file() {
        return Err(TransferError::SpecialFile { path: path.into() });
    }
    Ok(meta.permissions().mode() & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(index: u32, offset: u64, length: u32) -> ChunkRef {
        ChunkRef {
            index,
            offset,
            length,
            hash: Digest([0; 32]),
        }
    }

    fn manifest(length: u64, mode: u32, chunks: Vec<ChunkRef>) -> Manifest {
        Manifest {
            length,
            hash: Digest([0; 32]),
            mode,
            chunks,
        }
    }

    #[test]
    fn validate_table() {
        let cases: Vec<(&str, Manifest, Option<&str>)> = vec![
            ("empty file", manifest(0, 0o644, vec![]), None),
            (
                "two chunks",
                manifest(30, 0o755, vec![chunk(0, 0, 10), chunk(1, 10, 20)]),
                None,
            ),
            (
                "gap",
                manifest(30, 0o644, vec![chunk(0, 0, 10), chunk(1, 12, 18)]),
                Some("chunk 1 starts at offset 12 but the previous chunk ends at 10"),
            ),
            (
                "short",
                manifest(31, 0o644, vec![chunk(0, 0, 10), chunk(1, 10, 20)]),
                Some("chunks cover 30 bytes but the file length is 31"),
            ),
            (
                "index",
                manifest(10, 0o644, vec![chunk(1, 0, 10)]),
                Some("chunk at position 0 has index 1"),
            ),
            (
                "zero length",
                manifest(0, 0o644, vec![chunk(0, 0, 0)]),
                Some("chunk 0 has length 0"),
            ),
            (
                "too long",
                manifest(
                    u64::from(CHUNK_MAX) + 1,
                    0o644,
                    vec![chunk(0, 0, CHUNK_MAX + 1)],
                ),
                Some("chunk 0 has length 4194305"),
            ),
            (
                "file type bits",
                manifest(0, 0o100644, vec![]),
                Some("mode 100644 has bits beyond"),
            ),
        ];
        for (name, m, want) in cases {
            let got = m.validate().err().map(|e| e.to_string());
            match (want, got) {
                (None, None) => {}
                (Some(w), Some(g)) => assert!(g.contains(w), "{name}: {g:?} lacks {w:?}"),
                (w, g) => panic!("{name}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn digest_hex_round_trip_and_json() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Digest::from_hex("xyz"), None);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{}\"", d.to_hex()));
        let err = serde_json::from_str::<Digest>("\"nothex\"").unwrap_err();
        assert!(err.to_string().contains("not a BLAKE3 digest"), "{err}");
    }

    #[test]
    fn chunks_tile_the_input_and_hash_matches() {
        // 3 MiB of bytes that are not all alike, so FastCDC finds cut points.
        let mut data = vec![0u8; 3 << 20];
        blake3::Hasher::new()
            .update(b"seed")
            .finalize_xof()
            .fill(&mut data);
        let m = Manifest::build(&data[..], 0o100640, Path::new("mem")).unwrap();
        m.validate().unwrap();
        assert_eq!(m.length, data.len() as u64);
        assert_eq!(m.hash, Digest::of(&data));
        assert_eq!(m.mode, 0o640);
        assert!(m.chunks.len() >= 2, "{} chunks", m.chunks.len());
        for c in &m.chunks {
            let range = c.offset as usize..(c.offset as usize + c.length as usize);
            assert_eq!(c.hash, Digest::of(&data[range]));
        }
        let empty = Manifest::build(&[][..], 0o644, Path::new("mem")).unwrap();
        assert!(empty.chunks.is_empty());
        assert_eq!(empty.hash, Digest::of(b""));
    }
}
