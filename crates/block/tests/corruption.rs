//! Corrupted blocks are reported, never misread, and never panic.

mod common;

use common::*;
use proptest::prelude::*;
use stratus_block::*;
use stratus_model::{LabelMatcher, Labels, Sample, TenantId, TimeRange, STALE_NAN};

fn small_series() -> Vec<(Labels, Vec<Sample>)> {
    let mut out = Vec::new();
    for (name, inst) in [
        ("a", "i1"),
        ("a", "i2"),
        ("b", "i1"),
        ("c", "i3"),
        ("up", "i1"),
    ] {
        let l = Labels::from_pairs([("__name__", name), ("instance", inst), ("job", "j")])
            .expect("labels");
        let samples = (0..40)
            .map(|i| {
                let v = match i {
                    7 => STALE_NAN,
                    9 => f64::NAN,
                    _ => (i * i) as f64 * 0.25,
                };
                Sample::new(i * 150_000 + name.len() as i64, v)
            })
            .collect();
        out.push((l, samples));
    }
    out
}

fn write(series: &[(Labels, Vec<Sample>)], opts: &BlockOptions) -> Vec<u8> {
    write_raw_block(
        &TenantId::new("team-a").expect("tenant"),
        0,
        2 * HOUR,
        series.iter().map(|(l, s)| (l, s.as_slice())),
        opts,
    )
    .expect("write")
}

fn small_opts(compress_chunks: bool) -> BlockOptions {
    BlockOptions {
        row_group_rows: 3,
        label_page_rows: 2,
        chunk_page_bytes: 256,
        compress_chunks,
        ..BlockOptions::default()
    }
}

/// Byte range of a column chunk in row group `rg`.
fn column_bytes(file: &[u8], rg: usize, name: &str) -> std::ops::Range<usize> {
    let footer = BlockFooter::parse(file.len() as u64, file).expect("footer");
    let cc = footer
        .metadata()
        .row_group(rg)
        .columns()
        .iter()
        .find(|c| c.column_descr().name() == name)
        .expect("column")
        .clone();
    let (start, len) = cc.byte_range();
    start as usize..(start + len) as usize
}

/// Where the footer region (indexes, bloom filters, metadata) starts.
fn data_end(file: &[u8]) -> usize {
    let footer = BlockFooter::parse(file.len() as u64, file).expect("footer");
    file.len() - footer.tail_len() as usize
}

/// Reads the block in every way a reader can: whole, and through a plan.
fn read_everything(file: &[u8]) -> Result<Vec<(Labels, Vec<Sample>)>> {
    let (_, all) = read_all(file)?;
    let footer = BlockFooter::parse(file.len() as u64, file)?;
    let range = TimeRange::new(0, 2 * HOUR);
    let m = [LabelMatcher::regex("instance", "i1|i3", false).expect("re")];
    let plan = footer.plan(&m, range);
    let fetched = Fetched::whole(file.to_vec());
    let some = read_raw(&footer, &plan, &fetched, &m, range)?;
    let refined = footer.refine(&plan, &fetched, &m)?;
    let again = read_raw(&footer, &refined, &fetched, &m, range)?;
    if some != again {
        return Err(BlockError::Corrupt("one and two phase reads differ".into()));
    }
    Ok(all)
}

#[test]
fn flipped_chunk_bytes_fail_the_checksum() {
    let series = small_series();
    let file = write(&series, &small_opts(false));
    assert_eq!(read_everything(&file).expect("clean"), series);
    let chunk = column_bytes(&file, 0, "__chunk_0");
    let mut checksum_errors = 0;
    for pos in chunk.clone() {
        let mut bad = file.clone();
        bad[pos] ^= 0x10;
        match read_all(&bad) {
            Ok((_, back)) => assert_eq!(back, series, "byte {pos} misread"),
            Err(BlockError::ChecksumMismatch { .. }) => checksum_errors += 1,
            Err(_) => {}
        }
    }
    // Most bytes of an uncompressed chunk column are chunk bytes, which
    // only the checksum can catch (a value bit flip still decodes).
    assert!(
        checksum_errors * 2 > chunk.len(),
        "{checksum_errors} checksum errors in {} bytes",
        chunk.len()
    );
}

#[test]
fn flipped_label_bytes_fail_the_fingerprint() {
    let series = small_series();
    let file = write(&series, &small_opts(true));
    let labels = column_bytes(&file, 0, "instance");
    let mut caught = 0;
    for pos in labels.clone() {
        let mut bad = file.clone();
        bad[pos] ^= 0x01;
        match read_everything(&bad) {
            Ok(back) => assert_eq!(back, series, "byte {pos} misread"),
            Err(_) => caught += 1,
        }
    }
    assert!(caught > 0);
}

/// Every single-bit flip anywhere before the footer is reported or changes
/// nothing; none is misread.
#[test]
fn every_flip_in_the_data_is_reported_or_harmless() {
    for compress in [false, true] {
        let series = small_series();
        let file = write(&series, &small_opts(compress));
        let end = data_end(&file);
        let mut reported = 0;
        for pos in 4..end {
            for bit in [0x01u8, 0x80] {
                let mut bad = file.clone();
                bad[pos] ^= bit;
                match read_everything(&bad) {
                    Ok(back) => assert_eq!(back, series, "byte {pos} bit {bit:#x} misread"),
                    Err(_) => reported += 1,
                }
            }
        }
        assert!(
            reported > end,
            "{reported} of {} flips reported",
            2 * (end - 4)
        );
    }
}

#[test]
fn footer_damage_is_reported() {
    let series = small_series();
    let file = write(&series, &small_opts(true));
    let len = file.len();
    // Not a Parquet file at all, or cut short.
    assert!(matches!(
        BlockFooter::parse(4, b"PAR1"),
        Err(BlockError::NotParquet(_))
    ));
    let mut bad = file.clone();
    bad[len - 1] = b'X';
    assert!(matches!(read_all(&bad), Err(BlockError::NotParquet(_))));
    assert!(read_all(&file[..len - 10]).is_err());
    // Each byte of the metadata, flipped.
    let meta_len = u32::from_le_bytes([file[len - 8], file[len - 7], file[len - 6], file[len - 5]]);
    for pos in len - 8 - meta_len as usize..len - 8 {
        let mut bad = file.clone();
        bad[pos] ^= 0x01;
        if let Ok((info, back)) = read_all(&bad) {
            assert_eq!(back, series, "metadata byte {pos} misread");
            assert_eq!(info.tenant, "team-a");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Arbitrary damage anywhere, including the footer: never a panic.
    #[test]
    fn mutated_files_never_panic(
        compress in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let series = small_series();
        let mut file = write(&series, &small_opts(compress));
        for (i, b) in flips {
            let pos = i.index(file.len());
            file[pos] = b;
        }
        if let Some(c) = cut {
            let n = c.index(file.len());
            file.truncate(n);
        }
        if let Ok(back) = read_everything(&file) {
            prop_assert_eq!(back, series);
        }
    }
}
