//! Jobworks file distribution, the library part: content-addressed, resumable,
//! rate-limited transfer of files and directory trees (issue 9, "File distribution";
//! REFERENCE §2.4–2.6). Transport-agnostic: the HTTP wiring and the agents live elsewhere.
//!
//! - [`Manifest`]: a file's length, whole-file BLAKE3, mode and FastCDC 2020 chunks
//!   ([`CHUNK_MIN`]/[`CHUNK_AVG`]/[`CHUNK_MAX`] = 256 KiB/1 MiB/4 MiB), built streaming;
//!   [`DirManifest`] for a tree (symlinks refused).
//! - [`ChunkStore`]: chunks on disk under their digest, zstd-compressed, verified on read.
//! - Receiving: [`missing`] (what to ask for), [`accept_chunk`] (bounded decompression,
//!   verification), [`assemble`] / [`assemble_dir`] (part file, whole-file check, fsync,
//!   atomic rename, mode).
//! - Driving: [`ChunkSource`] (anything that returns a chunk's compressed bytes),
//!   [`fetch_all`] (concurrency cap, [`ByteRate`] token buckets, progress, resume), and
//!   [`Relay`] (a site's store that fetches from upstream once per chunk).
//!
//! A sender runs [`ChunkStore::add_file`] and publishes the manifest; a receiver runs
//! [`fetch_all`] against some source, then [`assemble`]. A new version of a file shares its
//! unchanged chunks with the old one, so only the changed chunks travel.

mod dir;
mod error;
mod fetch;
mod manifest;
mod receive;
mod relay;
mod store;

pub use dir::{DirEntry, DirManifest, FileEntry, assemble_dir, check_relative_path};
pub use error::{Result, TransferError};
pub use fetch::{
    ByteRate, ChunkNotFound, ChunkSource, FetchReport, Progress, SourceError, fetch_all,
};
pub use manifest::{CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, ChunkRef, Digest, Manifest};
pub use receive::{accept_chunk, assemble, missing};
pub use relay::Relay;
pub use store::{ChunkStore, ZSTD_LEVEL, decode};
