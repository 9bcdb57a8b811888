//! Transfer throughput, each against a plain baseline measured in the same run:
//! - manifest building (FastCDC + per-chunk and whole-file BLAKE3) vs `blake3::hash` of the
//!   same bytes in memory, and from a file in the page cache;
//! - storing a file's chunks (manifest + zstd) and fetching them into a second store through
//!   [`fetch_all`] (decompress, verify, write) — no baseline, for scale;
//! - assembling the file from the store vs `std::fs::copy` of the file.
//!
//! `cargo bench -p jobworks-transfer --bench transfer`; size in MiB from
//! `JOBWORKS_BENCH_XFER_MIB` (default 256). Each figure is the best of 3 runs.

use std::path::Path;
use std::time::{Duration, Instant};

use jobworks_transfer::{ChunkStore, Manifest, assemble, fetch_all};

const MIB: usize = 1024 * 1024;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("runs > 0"))
}

fn rate(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

/// Pseudo-random text lines (63 characters and a newline) from BLAKE3's output stream.
fn text(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-";
    let mut data = vec![0u8; len];
    blake3::Hasher::new()
        .update(b"bench")
        .finalize_xof()
        .fill(&mut data);
    for (i, b) in data.iter_mut().enumerate() {
        *b = if i % 64 == 63 {
            b'\n'
        } else {
            ALPHABET[(*b & 63) as usize]
        };
    }
    data
}

fn main() {
    let mib: usize = std::env::var("JOBWORKS_BENCH_XFER_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let len = mib * MIB;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = text(len);
    let file = tmp.path().join("input.txt");
    std::fs::write(&file, &data).expect("write input");
    println!("transfer bench: {mib} MiB of pseudo-random text, best of 3");

    let (plain, digest) = best_of(3, || blake3::hash(&data));
    let (mem, manifest) = best_of(3, || {
        Manifest::build(&data[..], 0o644, Path::new("memory")).expect("manifest")
    });
    assert_eq!(manifest.hash.0, *digest.as_bytes());
    let (from_file, _) = best_of(3, || Manifest::from_path(&file).expect("manifest"));
    println!(
        "manifest: {:.0} MB/s in memory, {:.0} MB/s from a cached file; plain blake3::hash {:.0} MB/s \
         (ratio {:.2}); {} chunks, mean {:.2} MiB",
        rate(len, mem),
        rate(len, from_file),
        rate(len, plain),
        mem.as_secs_f64() / plain.as_secs_f64(),
        manifest.chunks.len(),
        len as f64 / manifest.chunks.len().max(1) as f64 / MIB as f64,
    );

    let mut round = 0;
    let (ingest, sender) = best_of(3, || {
        round += 1;
        let store = ChunkStore::open(tmp.path().join(format!("sender{round}"))).expect("store");
        store.add_file(&file).expect("add_file");
        store
    });
    let wire: u64 = manifest
        .chunks
        .iter()
        .map(|c| std::fs::metadata(sender.path_of(&c.hash)).map_or(0, |m| m.len()))
        .sum();
    println!(
        "store (manifest + zstd level {}): {:.0} MB/s, {:.1} % of the size on the wire",
        jobworks_transfer::ZSTD_LEVEL,
        rate(len, ingest),
        100.0 * wire as f64 / len as f64
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut round = 0;
    let (fetch, receiver) = best_of(3, || {
        round += 1;
        let store = ChunkStore::open(tmp.path().join(format!("receiver{round}"))).expect("store");
        rt.block_on(fetch_all(&manifest.chunks, &store, &sender, &[], 4, |_| {}))
            .expect("fetch_all");
        store
    });
    println!(
        "fetch_all from a local store (4 in flight): {:.0} MB/s",
        rate(len, fetch)
    );

    let dest = tmp.path().join("assembled.txt");
    let copy = tmp.path().join("copied.txt");
    let (asm, _) = best_of(3, || {
        assemble(&manifest, &receiver, &dest, None).expect("assemble")
    });
    let (cp, _) = best_of(3, || {
        let _ = std::fs::remove_file(&copy);
        std::fs::copy(&file, &copy).expect("copy");
        std::fs::File::open(&copy)
            .and_then(|f| f.sync_all())
            .expect("fsync");
    });
    println!(
        "assemble (read, decompress, verify, write, fsync, rename): {:.0} MB/s; \
         fs::copy + fsync {:.0} MB/s (ratio {:.2})",
        rate(len, asm),
        rate(len, cp),
        asm.as_secs_f64() / cp.as_secs_f64()
    );
}
