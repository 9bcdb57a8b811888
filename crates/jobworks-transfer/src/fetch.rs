//! The transport-agnostic transfer driver: ask a [`ChunkSource`] for the chunks the store
//! lacks, a few at a time, under byte-rate limits, storing each as it arrives.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::{Result, TransferError};
use crate::manifest::ChunkRef;
use crate::receive::{accept_chunk, missing};
use crate::store::ChunkStore;

/// The error a [`ChunkSource`] reports (any error type; its message is kept in
/// [`TransferError::Fetch`]).
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where chunks come from: an HTTP client, a peer, a local [`ChunkStore`] or a
/// [`Relay`](crate::Relay). Implementations return the chunk's bytes zstd-compressed, as
/// stored; the caller verifies them, so a source need not be trusted.
pub trait ChunkSource: Sync {
    /// The compressed bytes of `chunk` (named by `chunk.hash`; `chunk.length` is its
    /// uncompressed length, the decompression limit).
    ///
    /// Errors: whatever stopped the delivery (connection lost, not found, …).
    fn fetch(&self, chunk: &ChunkRef) -> impl Future<Output = Result<Bytes, SourceError>> + Send;
}

/// The source does not hold the chunk asked for.
#[derive(Debug, thiserror::Error)]
#[error("chunk {0} is not in the store at {1}")]
pub struct ChunkNotFound(pub crate::Digest, pub std::path::PathBuf);

/// A local store serves its own chunks (a source agent, or a directory shared by mount).
impl ChunkSource for ChunkStore {
    async fn fetch(&self, chunk: &ChunkRef) -> Result<Bytes, SourceError> {
        let store = self.clone();
        let chunk = *chunk;
        let found = tokio::task::spawn_blocking(move || store.read_compressed(&chunk)).await??;
        found
            .map(Bytes::from)
            .ok_or_else(|| ChunkNotFound(chunk.hash, self.root().to_path_buf()).into())
    }
}

/// A byte-rate limit: a GCRA token bucket (the `governor` crate) refilled at `bytes_per_second`
/// and holding at most `burst` bytes. One limiter shared by several transfers caps their total
/// (a site's WAN link); one per transfer caps a host.
#[derive(Debug)]
pub struct ByteRate {
    limiter: DefaultDirectRateLimiter,
    burst: NonZeroU32,
}

impl ByteRate {
    /// `bytes_per_second` bytes per second with a burst of one second's worth.
    pub fn per_second(bytes_per_second: NonZeroU32) -> ByteRate {
        ByteRate::with_burst(bytes_per_second, bytes_per_second)
    }

    /// `bytes_per_second` bytes per second, holding at most `burst` bytes when idle.
    pub fn with_burst(bytes_per_second: NonZeroU32, burst: NonZeroU32) -> ByteRate {
        let quota = Quota::per_second(bytes_per_second).allow_burst(burst);
        ByteRate {
            limiter: RateLimiter::direct(quota),
            burst,
        }
    }

    /// Waits until `bytes` bytes may pass (taken in pieces of at most the burst size, so any
    /// amount is accepted).
    pub async fn consume(&self, bytes: u64) {
        let mut left = bytes;
        while left > 0 {
            let piece = left.min(u64::from(self.burst.get()));
            // piece is in 1..=burst, so both conversions hold and the bucket can grant it.
            let n = NonZeroU32::new(piece as u32).unwrap_or(NonZeroU32::MIN);
            if self.limiter.until_n_ready(n).await.is_err() {
                return;
            }
            left -= piece;
        }
    }
}

/// Where a transfer stands, passed to the progress callback after each stored chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Distinct chunks present (already there at the start, or stored since).
    pub chunks_done: usize,
    /// Distinct chunks the file (or tree) needs.
    pub chunks_total: usize,
    /// Uncompressed bytes of the chunks present.
    pub bytes_done: u64,
    /// Uncompressed bytes of all distinct chunks.
    pub bytes_total: u64,
    /// Compressed bytes received by this call so far.
    pub wire_bytes: u64,
}

/// What [`fetch_all`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchReport {
    /// Distinct chunks that were already present and intact.
    pub chunks_present: usize,
    /// Chunks fetched and stored by this call.
    pub chunks_fetched: usize,
    /// Uncompressed bytes of the chunks fetched.
    pub bytes_fetched: u64,
    /// Compressed bytes received.
    pub wire_bytes: u64,
}

/// Fetches every chunk of `chunks` that `store` lacks (see [`missing`]) from `source` and
/// stores it (verified by [`accept_chunk`]). At most `concurrency` fetches are in flight
/// (0 counts as 1); after each fetch its compressed bytes are charged to every limiter in
/// `limits` before its slot is reused, so the long-run rate stays under each. `progress` is
/// called after every stored chunk. Pass `&manifest.chunks`, or a directory's
/// [`all_chunks`](crate::DirManifest::all_chunks).
///
/// On a failure no new fetch starts; the fetches already in flight finish and are stored
/// (so a resume loses only what the failure itself cut off), then the first error is
/// returned. Calling again resumes: only the chunks still missing are asked for.
///
/// Errors: [`TransferError::Fetch`] (the source failed), [`TransferError::Decompress`] or
/// [`TransferError::ChunkHash`] (it sent bad bytes), [`TransferError::Io`] (the store).
pub async fn fetch_all<S: ChunkSource + ?Sized>(
    chunks: &[ChunkRef],
    store: &ChunkStore,
    source: &S,
    limits: &[&ByteRate],
    concurrency: usize,
    mut progress: impl FnMut(&Progress),
) -> Result<FetchReport> {
    let all = chunks.to_vec();
    let check = store.clone();
    let wanted = blocking(move || missing(&all, &check)).await?;
    let mut seen = std::collections::HashSet::new();
    let mut state = Progress::default();
    for c in chunks {
        if seen.insert(c.hash) {
            state.chunks_total += 1;
            state.bytes_total += u64::from(c.length);
        }
    }
    state.chunks_done = state.chunks_total - wanted.len();
    state.bytes_done = state.bytes_total - wanted.iter().map(|c| u64::from(c.length)).sum::<u64>();
    let mut report = FetchReport {
        chunks_present: state.chunks_done,
        ..FetchReport::default()
    };
    progress(&state);

    let stop = AtomicBool::new(false);
    let stop = &stop;
    let mut results = futures_util::stream::iter(wanted)
        .map(|chunk| async move {
            if stop.load(Ordering::Acquire) {
                return None;
            }
            Some(fetch_one(chunk, store, source, limits).await)
        })
        .buffer_unordered(concurrency.max(1));
    let mut first_error = None;
    while let Some(outcome) = results.next().await {
        match outcome {
            None => {}
            Some(Ok((chunk, wire))) => {
                state.chunks_done += 1;
                state.bytes_done += u64::from(chunk.length);
                state.wire_bytes += wire;
                report.chunks_fetched += 1;
                report.bytes_fetched += u64::from(chunk.length);
                report.wire_bytes += wire;
                progress(&state);
            }
            Some(Err(e)) => {
                stop.store(true, Ordering::Release);
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Fetches, rate-charges and stores one chunk; returns it with its compressed size.
async fn fetch_one<S: ChunkSource + ?Sized>(
    chunk: ChunkRef,
    store: &ChunkStore,
    source: &S,
    limits: &[&ByteRate],
) -> Result<(ChunkRef, u64)> {
    let bytes = source
        .fetch(&chunk)
        .await
        .map_err(|source| TransferError::Fetch {
            index: chunk.index,
            offset: chunk.offset,
            hash: chunk.hash,
            source,
        })?;
    let wire = bytes.len() as u64;
    for limit in limits {
        limit.consume(wire).await;
    }
    let store = store.clone();
    blocking(move || accept_chunk(&store, &chunk, &bytes)).await?;
    Ok((chunk, wire))
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| TransferError::Task(e.to_string()))?
}
