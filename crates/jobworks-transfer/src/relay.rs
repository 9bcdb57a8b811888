//! A site relay: a chunk store that serves the receivers of its site and goes back to its
//! upstream only on a miss, once per chunk however many receivers ask at the same time
//! (Dragonfly's seed peer, REFERENCE §2.2 and §2.6 step 4–5).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::fetch::{ChunkSource, SourceError, blocking};
use crate::manifest::{ChunkRef, Digest};
use crate::store::ChunkStore;

/// A [`ChunkStore`] that is also a [`ChunkSource`]: a chunk it holds is served from disk; a
/// missing one is fetched from `upstream`, verified, stored, then served. Concurrent requests
/// for one missing chunk wait for a single upstream fetch.
#[derive(Debug)]
pub struct Relay<U> {
    store: ChunkStore,
    upstream: U,
    upstream_fetches: AtomicU64,
    upstream_bytes: AtomicU64,
    /// One gate per chunk being fetched from upstream right now.
    inflight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

impl<U: ChunkSource> Relay<U> {
    /// A relay keeping its chunks in `store` and filling misses from `upstream`.
    pub fn new(store: ChunkStore, upstream: U) -> Relay<U> {
        Relay {
            store,
            upstream,
            upstream_fetches: AtomicU64::new(0),
            upstream_bytes: AtomicU64::new(0),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// The relay's own store.
    pub fn store(&self) -> &ChunkStore {
        &self.store
    }

    /// The upstream source.
    pub fn upstream(&self) -> &U {
        &self.upstream
    }

    /// How many chunks were fetched from upstream since the relay was made.
    pub fn upstream_fetches(&self) -> u64 {
        self.upstream_fetches.load(Ordering::Relaxed)
    }

    /// Compressed bytes received from upstream since the relay was made.
    pub fn upstream_bytes(&self) -> u64 {
        self.upstream_bytes.load(Ordering::Relaxed)
    }

    async fn local(&self, chunk: &ChunkRef) -> Result<Option<Bytes>, SourceError> {
        let store = self.store.clone();
        let chunk = *chunk;
        let found = blocking(move || store.read_compressed(&chunk)).await?;
        Ok(found.map(Bytes::from))
    }

    fn gate(&self, hash: Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(hash).or_default().clone()
    }

    fn release(&self, hash: &Digest, gate: &Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(hash).is_some_and(|g| Arc::ptr_eq(g, gate)) {
            map.remove(hash);
        }
    }

    async fn fill(&self, chunk: &ChunkRef) -> Result<Bytes, SourceError> {
        // Someone else may have filled it while we waited at the gate.
        if let Some(bytes) = self.local(chunk).await? {
            return Ok(bytes);
        }
        let bytes = self.upstream.fetch(chunk).await?;
        self.upstream_fetches.fetch_add(1, Ordering::Relaxed);
        self.upstream_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let store = self.store.clone();
        let chunk = *chunk;
        let received = bytes.clone();
        blocking(move || store.put_compressed(&chunk, &received)).await?;
        Ok(bytes)
    }
}

impl<U: ChunkSource> ChunkSource for Relay<U> {
    async fn fetch(&self, chunk: &ChunkRef) -> Result<Bytes, SourceError> {
        if let Some(bytes) = self.local(chunk).await? {
            return Ok(bytes);
        }
        let gate = self.gate(chunk.hash);
        let result = {
            let _held = gate.lock().await;
            self.fill(chunk).await
        };
        self.release(&chunk.hash, &gate);
        result
    }
}
