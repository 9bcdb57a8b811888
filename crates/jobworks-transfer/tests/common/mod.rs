//! Shared by the integration tests: deterministic large files and real in-process sources.
#![allow(dead_code)] // each test binary uses a part

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use jobworks_transfer::{ChunkRef, ChunkSource, ChunkStore, Digest, SourceError};

pub const MIB: u64 = 1024 * 1024;
/// Bytes per line of the generated text files, newline included.
pub const LINE: u64 = 64;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-";

/// Writes `len` bytes of pseudo-random text (lines of 63 characters and a newline, from the
/// BLAKE3 output stream of `seed`) to `path`, one MiB at a time. With `edit = Some((line,
/// text))`, line number `line` is replaced by `text` (of any length, so what follows shifts).
pub fn text_file(path: &Path, len: u64, seed: &[u8], edit: Option<(u64, &[u8])>) {
    let mut out = BufWriter::with_capacity(MIB as usize, File::create(path).unwrap());
    let mut xof = blake3::Hasher::new().update(seed).finalize_xof();
    let mut block = vec![0u8; MIB as usize];
    let mut pos = 0u64;
    while pos < len {
        let n = (len - pos).min(MIB) as usize;
        xof.fill(&mut block[..n]);
        for (i, b) in block[..n].iter_mut().enumerate() {
            *b = if (pos + i as u64) % LINE == LINE - 1 {
                b'\n'
            } else {
                ALPHABET[(*b & 63) as usize]
            };
        }
        match edit {
            Some((line, text)) if (pos..pos + n as u64).contains(&(line * LINE)) => {
                // Lines never straddle a block (MIB is a multiple of LINE).
                let start = (line * LINE - pos) as usize;
                out.write_all(&block[..start]).unwrap();
                out.write_all(text).unwrap();
                out.write_all(&block[start + LINE as usize..n]).unwrap();
            }
            _ => out.write_all(&block[..n]).unwrap(),
        }
        pos += n as u64;
    }
    out.flush().unwrap();
}

/// A source over a store that counts what it sends (bytes, and sends per chunk).
pub struct CountingSource {
    pub store: ChunkStore,
    pub sent_bytes: AtomicU64,
    pub sends: Mutex<HashMap<Digest, u32>>,
}

impl CountingSource {
    pub fn new(store: ChunkStore) -> Self {
        CountingSource {
            store,
            sent_bytes: AtomicU64::new(0),
            sends: Mutex::new(HashMap::new()),
        }
    }
}

impl ChunkSource for CountingSource {
    async fn fetch(&self, chunk: &ChunkRef) -> Result<Bytes, SourceError> {
        let bytes = self.store.fetch(chunk).await?;
        self.sent_bytes
            .fetch_add(bytes.len() as u64, Ordering::SeqCst);
        *self.sends.lock().unwrap().entry(chunk.hash).or_default() += 1;
        Ok(bytes)
    }
}

/// A source over a store whose link breaks after `budget` bytes: the chunk that crosses the
/// budget is sent only up to it (those bytes count as sent and are lost), and every later
/// request fails at once, like a connection that dropped.
pub struct CutSource {
    pub store: ChunkStore,
    pub budget: u64,
    pub sent_bytes: AtomicU64,
}

impl ChunkSource for CutSource {
    async fn fetch(&self, chunk: &ChunkRef) -> Result<Bytes, SourceError> {
        let bytes = self.store.fetch(chunk).await?;
        let len = bytes.len() as u64;
        let before = self
            .sent_bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |sent| {
                Some((sent + len).min(self.budget.max(sent)))
            })
            .unwrap_or_default();
        if before + len > self.budget {
            return Err(format!("connection reset after {} bytes", self.budget.max(before)).into());
        }
        Ok(bytes)
    }
}

/// Compressed size of every distinct chunk of `chunks` in `store`, and the largest one.
pub fn compressed_sizes(store: &ChunkStore, chunks: &[ChunkRef]) -> (u64, u64) {
    let mut seen = std::collections::HashSet::new();
    let (mut total, mut max) = (0, 0);
    for c in chunks {
        if seen.insert(c.hash) {
            let n = std::fs::metadata(store.path_of(&c.hash)).unwrap().len();
            total += n;
            max = max.max(n);
        }
    }
    (total, max)
}
