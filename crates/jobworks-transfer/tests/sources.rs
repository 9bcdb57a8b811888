//! The driver against real in-process sources: a site relay behind which three receivers
//! fetch at once, the byte-rate limit, and a source that sends bad bytes.

mod common;

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{CountingSource, MIB, text_file};
use jobworks_transfer::{
    ByteRate, ChunkRef, ChunkSource, ChunkStore, Manifest, Progress, Relay, SourceError,
    TransferError, assemble, fetch_all, missing,
};

fn random_file(path: &std::path::Path, len: usize, seed: &[u8]) {
    let mut data = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed)
        .finalize_xof()
        .fill(&mut data);
    std::fs::write(path, data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_receivers_behind_one_relay_make_upstream_send_each_chunk_once() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("site.tar");
    text_file(&src, 24 * MIB, b"relay", None);
    let origin = ChunkStore::open(tmp.path().join("origin")).unwrap();
    let manifest = origin.add_file(&src).unwrap();
    let relay = Relay::new(
        ChunkStore::open(tmp.path().join("relay")).unwrap(),
        CountingSource::new(origin),
    );
    let receivers: Vec<ChunkStore> = (0..3)
        .map(|i| ChunkStore::open(tmp.path().join(format!("agent{i}"))).unwrap())
        .collect();
    let (a, b, c) = tokio::join!(
        fetch_all(&manifest.chunks, &receivers[0], &relay, &[], 4, |_| {}),
        fetch_all(&manifest.chunks, &receivers[1], &relay, &[], 4, |_| {}),
        fetch_all(&manifest.chunks, &receivers[2], &relay, &[], 4, |_| {}),
    );
    for report in [a, b, c] {
        assert_eq!(report.unwrap().chunks_fetched, manifest.chunks.len());
    }
    let sends = relay.upstream().sends.lock().unwrap().clone();
    assert_eq!(
        sends.len(),
        manifest.chunks.len(),
        "every chunk went upstream"
    );
    assert!(
        sends.values().all(|&n| n == 1),
        "a chunk was sent twice: {sends:?}"
    );
    assert_eq!(relay.upstream_fetches(), manifest.chunks.len() as u64);
    for (i, store) in receivers.iter().enumerate() {
        let dest = tmp.path().join(format!("out{i}"));
        assemble(&manifest, store, &dest, None).unwrap();
        assert_eq!(Manifest::from_path(&dest).unwrap().hash, manifest.hash);
    }
    // A later receiver is served from the relay's store alone.
    let late = ChunkStore::open(tmp.path().join("late")).unwrap();
    fetch_all(&manifest.chunks, &late, &relay, &[], 2, |_| {})
        .await
        .unwrap();
    assert_eq!(relay.upstream_fetches(), manifest.chunks.len() as u64);
}

#[tokio::test]
async fn the_byte_rate_caps_throughput_and_progress_reaches_the_total() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("blob");
    // Random bytes do not compress: wire bytes ≈ file bytes.
    random_file(&src, 3 * MIB as usize, b"rate");
    let sender = ChunkStore::open(tmp.path().join("sender")).unwrap();
    let manifest = sender.add_file(&src).unwrap();
    let receiver = ChunkStore::open(tmp.path().join("receiver")).unwrap();
    let rate = 4 * MIB as u32;
    let burst = MIB as u32;
    let limit = ByteRate::with_burst(
        NonZeroU32::new(rate).unwrap(),
        NonZeroU32::new(burst).unwrap(),
    );
    let mut seen: Vec<Progress> = Vec::new();
    let started = Instant::now();
    let report = fetch_all(&manifest.chunks, &receiver, &sender, &[&limit], 2, |p| {
        seen.push(*p)
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    // The bucket starts full (burst), then refills at `rate`.
    let floor =
        Duration::from_secs_f64((report.wire_bytes - u64::from(burst)) as f64 / f64::from(rate));
    eprintln!(
        "rate: {} wire bytes at {rate} B/s (burst {burst}) took {elapsed:?}, floor {floor:?}",
        report.wire_bytes
    );
    assert!(elapsed >= floor.mul_f64(0.95), "{elapsed:?} < {floor:?}");
    assert!(seen.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done));
    let last = seen.last().unwrap();
    assert_eq!(last.bytes_done, manifest.length);
    assert_eq!(last.chunks_done, last.chunks_total);
    assert_eq!(seen.first().unwrap().bytes_done, 0);
}

/// A source that answers with the bytes of a different chunk.
struct WrongBytes(ChunkStore, ChunkRef);

impl ChunkSource for WrongBytes {
    async fn fetch(&self, _chunk: &ChunkRef) -> Result<Bytes, SourceError> {
        self.0.fetch(&self.1).await
    }
}

#[tokio::test]
async fn bad_bytes_from_a_source_are_refused_and_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    random_file(&one, 100_000, b"one");
    random_file(&two, 100_000, b"two");
    let sender = ChunkStore::open(tmp.path().join("sender")).unwrap();
    let m1 = sender.add_file(&one).unwrap();
    let m2 = sender.add_file(&two).unwrap();
    let receiver = ChunkStore::open(tmp.path().join("receiver")).unwrap();
    let source = WrongBytes(sender, m2.chunks[0]);
    let err = fetch_all(&m1.chunks, &receiver, &source, &[], 1, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::ChunkHash {
                index: 0,
                offset: 0,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(missing(&m1.chunks, &receiver).unwrap().len(), 1);
    let counting = CountingSource::new(source.0.clone());
    fetch_all(&m1.chunks, &receiver, &counting, &[], 1, |_| {})
        .await
        .unwrap();
    assert!(counting.sent_bytes.load(Ordering::SeqCst) > 0);
}
