//! Peak memory of building a 200 MiB file's manifest (its own test binary, one test, so no
//! other test's allocations count): the peak resident set is reset through
//! `/proc/self/clear_refs` just before and read from `VmHWM` just after.

mod common;

use common::{MIB, text_file};
use jobworks_transfer::{ChunkStore, Manifest};

/// `VmHWM` (peak resident set) of this process in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn current_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Resets `VmHWM` to the current resident set (Linux ≥ 4.0); false where not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[test]
fn manifest_and_store_of_200_mib_stay_within_a_few_chunk_buffers() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.txt");
    text_file(&path, 200 * MIB, b"memory", None);
    let store = ChunkStore::open(tmp.path().join("store")).unwrap();
    assert!(
        reset_peak(),
        "cannot reset the peak RSS through /proc/self/clear_refs"
    );

    let base = current_rss();
    let manifest = Manifest::from_path(&path).unwrap();
    let manifest_peak = peak_rss().saturating_sub(base);

    assert!(reset_peak());
    let base = current_rss();
    let stored = store.add_file(&path).unwrap();
    let store_peak = peak_rss().saturating_sub(base);
    assert_eq!(stored, manifest);

    eprintln!(
        "memory: 200 MiB file, {} chunks; peak RSS growth: manifest {:.1} MiB, manifest+store {:.1} MiB",
        manifest.chunks.len(),
        manifest_peak as f64 / MIB as f64,
        store_peak as f64 / MIB as f64
    );
    // Streaming: a 4 MiB cut buffer, one chunk's copy, a 1 MiB read buffer (plus the
    // compressor's state and output when storing) — far from the file's 200 MiB.
    assert!(manifest_peak < 24 * MIB, "manifest peak {manifest_peak}");
    assert!(store_peak < 48 * MIB, "store peak {store_peak}");
}
