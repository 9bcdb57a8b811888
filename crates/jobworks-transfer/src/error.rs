//! The one error type of the crate: every variant names the file, the chunk (index and byte
//! offset in its file) or the store path involved, and what failed.

use std::path::PathBuf;

use crate::Digest;

/// What went wrong in a transfer step, and where.
///
/// Chunk variants carry the chunk's index in its manifest (0-based), its byte offset in the
/// file and its BLAKE3 digest, so a message reads e.g. "chunk 17 (offset 18874368,
/// 3f2a…): hash mismatch".
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// A file system call failed (`op` is what was attempted: "open", "read", "rename", …).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file or directory it was attempted on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A directory to send holds a symbolic link; links are refused rather than followed
    /// (following could leave the tree, copying the link would make the receiver trust it).
    #[error(
        "{path}: is a symbolic link; symlinks are not transferred (replace it by the file or directory it points to)"
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A directory to send holds something that is neither a file nor a directory
    /// (a FIFO, socket or device node).
    #[error(
        "{path}: is not a regular file or directory; only files and directories are transferred"
    )]
    SpecialFile {
        /// The entry.
        path: PathBuf,
    },
    /// A manifest (or directory manifest) does not hold together; `reason` says how.
    #[error("invalid manifest{}: {reason}", path.as_ref().map(|p| format!(" for {p}")).unwrap_or_default())]
    InvalidManifest {
        /// The file entry of a directory manifest the problem is in, if any.
        path: Option<String>,
        /// What is wrong (e.g. "chunk 3 starts at offset 10 but chunk 2 ends at 12").
        reason: String,
    },
    /// A chunk's compressed bytes do not decompress to at most its declared length
    /// (corrupt data, or more output than declared: a decompression bomb is cut off at the limit).
    #[error(
        "chunk {index} (offset {offset}, {hash}): does not decompress within its declared {length} bytes: {reason}"
    )]
    Decompress {
        /// Index of the chunk in its manifest.
        index: u32,
        /// Byte offset of the chunk in its file.
        offset: u64,
        /// Declared BLAKE3 digest of the chunk.
        hash: Digest,
        /// Declared uncompressed length in bytes (the decompression limit).
        length: u32,
        /// What zstd or the length check said.
        reason: String,
    },
    /// A chunk decompressed to the right length but its BLAKE3 digest differs.
    #[error("chunk {index} (offset {offset}): hash mismatch: expected {expected}, got {actual}")]
    ChunkHash {
        /// Index of the chunk in its manifest.
        index: u32,
        /// Byte offset of the chunk in its file.
        offset: u64,
        /// The digest the manifest declares.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// A chunk the manifest needs is not in the store (or was corrupt there and was dropped).
    #[error("{path}: chunk {index} (offset {offset}, {hash}) is missing from the chunk store")]
    MissingChunk {
        /// The file being assembled.
        path: PathBuf,
        /// Index of the chunk in its manifest.
        index: u32,
        /// Byte offset of the chunk in its file.
        offset: u64,
        /// Its BLAKE3 digest.
        hash: Digest,
    },
    /// An assembled file's whole-file digest or length differs from the manifest's.
    #[error(
        "{path}: assembled file does not match its manifest: expected {expected} ({expected_len} bytes), got {actual} ({actual_len} bytes)"
    )]
    FileHash {
        /// The destination being written.
        path: PathBuf,
        /// The manifest's whole-file digest.
        expected: Digest,
        /// The manifest's length in bytes.
        expected_len: u64,
        /// The digest of what was written.
        actual: Digest,
        /// Bytes written.
        actual_len: u64,
    },
    /// Compressing a chunk for the store failed.
    #[error("chunk {index} (offset {offset}): zstd compression failed: {source}")]
    Compress {
        /// Index of the chunk in its manifest.
        index: u32,
        /// Byte offset of the chunk in its file.
        offset: u64,
        /// zstd's error.
        #[source]
        source: std::io::Error,
    },
    /// A [`ChunkSource`](crate::ChunkSource) could not deliver a chunk.
    #[error("fetching chunk {index} (offset {offset}, {hash}) failed: {source}")]
    Fetch {
        /// Index of the chunk in its manifest.
        index: u32,
        /// Byte offset of the chunk in its file.
        offset: u64,
        /// Its BLAKE3 digest.
        hash: Digest,
        /// The source's error.
        #[source]
        source: crate::SourceError,
    },
    /// A blocking task of the transfer driver panicked or was cancelled.
    #[error("transfer task failed: {0}")]
    Task(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = TransferError> = std::result::Result<T, E>;

/// Builds a closure turning an `std::io::Error` into [`TransferError::Io`] for `op` on `path`.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> TransferError {
    let path = path.into();
    move |source| TransferError::Io { op, path, source }
}
