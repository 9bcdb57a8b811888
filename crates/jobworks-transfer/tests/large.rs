//! 200 MiB transfers: a one-line change moves only a few chunks; a transfer cut at about
//! half resumes losing at most one chunk. Files are generated into temporary directories.

mod common;

use std::fs;

use common::{CountingSource, CutSource, LINE, MIB, compressed_sizes, text_file};
use jobworks_transfer::{
    ChunkStore, Manifest, Progress, TransferError, assemble, fetch_all, missing,
};

const SIZE: u64 = 200 * MIB;

#[test]
fn one_changed_line_in_200_mib_moves_only_a_few_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old.txt");
    let new = tmp.path().join("new.txt");
    let middle_line = SIZE / LINE / 2;
    text_file(&old, SIZE, b"delta", None);
    text_file(
        &new,
        SIZE,
        b"delta",
        Some((middle_line, b"this line was changed by the new release\n")),
    );
    // The receiver holds the old version's chunks.
    let receiver = ChunkStore::open(tmp.path().join("receiver")).unwrap();
    let old_manifest = receiver.add_file(&old).unwrap();
    let new_manifest = Manifest::from_path(&new).unwrap();
    assert_ne!(old_manifest.hash, new_manifest.hash);

    let want = missing(&new_manifest.chunks, &receiver).unwrap();
    let want_bytes: u64 = want.iter().map(|c| u64::from(c.length)).sum();
    eprintln!(
        "delta: {} of {} chunks missing, {want_bytes} bytes ({:.2} MiB) of {SIZE}",
        want.len(),
        new_manifest.chunks.len(),
        want_bytes as f64 / MIB as f64
    );
    assert!(
        (1..=3).contains(&want.len()),
        "{} chunks missing: {want:?}",
        want.len()
    );
    assert!(want_bytes <= 3 * u64::from(jobworks_transfer::CHUNK_MAX));
    // The changed chunks are around the middle.
    let edit_at = middle_line * LINE;
    assert!(
        want.iter()
            .any(|c| c.offset <= edit_at && edit_at < c.offset + u64::from(c.length))
    );

    // The real transfer of the new version sends exactly those chunks, then assembles.
    let sender = ChunkStore::open(tmp.path().join("sender")).unwrap();
    assert_eq!(sender.add_file(&new).unwrap(), new_manifest);
    let source = CountingSource::new(sender.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt
        .block_on(fetch_all(
            &new_manifest.chunks,
            &receiver,
            &source,
            &[],
            4,
            |_| {},
        ))
        .unwrap();
    assert_eq!(report.chunks_fetched, want.len());
    assert_eq!(report.bytes_fetched, want_bytes);
    let dest = tmp.path().join("installed.txt");
    assemble(&new_manifest, &receiver, &dest, None).unwrap();
    assert_eq!(Manifest::from_path(&dest).unwrap().hash, new_manifest.hash);
}

#[test]
fn a_200_mib_transfer_cut_at_half_resumes_resending_at_most_one_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("artifact.bin");
    text_file(&src, SIZE, b"resume", None);
    let sender = ChunkStore::open(tmp.path().join("sender")).unwrap();
    let manifest = sender.add_file(&src).unwrap();
    let (total_wire, largest) = compressed_sizes(&sender, &manifest.chunks);
    let receiver = ChunkStore::open(tmp.path().join("receiver")).unwrap();
    let dest = tmp.path().join("out").join("artifact.bin");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // First attempt: the link drops after half the compressed bytes.
    let cut = CutSource {
        store: sender.clone(),
        budget: total_wire / 2,
        sent_bytes: Default::default(),
    };
    let mut last = Progress::default();
    let err = rt
        .block_on(fetch_all(&manifest.chunks, &receiver, &cut, &[], 4, |p| {
            last = *p
        }))
        .unwrap_err();
    assert!(matches!(err, TransferError::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("connection reset"), "{err}");
    let sent_first = cut.sent_bytes.load(std::sync::atomic::Ordering::SeqCst);
    // Assembling now fails and leaves nothing at dest.
    assert!(assemble(&manifest, &receiver, &dest, None).is_err());
    assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 0);

    // Resume: only the chunks that did not arrive are asked for.
    let before = missing(&manifest.chunks, &receiver).unwrap().len();
    let source = CountingSource::new(sender.clone());
    let report = rt
        .block_on(fetch_all(
            &manifest.chunks,
            &receiver,
            &source,
            &[],
            4,
            |_| {},
        ))
        .unwrap();
    let sent_second = source.sent_bytes.load(std::sync::atomic::Ordering::SeqCst);
    let resent = sent_first + sent_second - total_wire;
    eprintln!(
        "resume: {} chunks, {total_wire} compressed bytes; first attempt sent {sent_first} \
         ({} chunks stored, progress {:.1} %), resume fetched {} chunks / {sent_second} bytes; \
         resent {resent} bytes (largest chunk {largest})",
        manifest.chunks.len(),
        report.chunks_present,
        100.0 * last.bytes_done as f64 / last.bytes_total as f64,
        report.chunks_fetched,
    );
    assert_eq!(report.chunks_fetched, before);
    assert!(report.chunks_present > 0);
    assert!(resent <= largest, "resent {resent} > one chunk ({largest})");
    assemble(&manifest, &receiver, &dest, Some(0o640)).unwrap();
    assert_eq!(Manifest::from_path(&dest).unwrap().hash, manifest.hash);
}
