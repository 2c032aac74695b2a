//! Label names from the footer and label values from the dictionary
//! pages: the same answers as the series' label sets, from a fraction of
//! the bytes, with a clear "cannot tell" where a column is not wholly
//! dictionary-encoded, and never a panic on corrupt bytes.

mod common;

use std::collections::BTreeSet;

use common::*;
use stratus_block::*;
use stratus_model::{Labels, Sample, TenantId};

/// Series of three metrics on 40 hosts; `zone` only on `node_load1` of
/// even hosts, `rare` on one series.
fn series() -> Vec<(Labels, Vec<Sample>)> {
    let mut out = Vec::new();
    for name in ["node_load1", "node_cpu_seconds_total", "up"] {
        for h in 0..40 {
            let host = format!("host-{h:03}");
            let mut pairs = vec![
                ("__name__", name.to_string()),
                ("host", host),
                ("job", "node".to_string()),
            ];
            if name == "node_load1" && h % 2 == 0 {
                pairs.push(("zone", format!("z{}", h % 6)));
            }
            if name == "up" && h == 17 {
                pairs.push(("rare", "yes".to_string()));
            }
            let l =
                Labels::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).expect("labels");
            let samples = (0..8)
                .map(|i| Sample::new(i * 60_000 + h, (i * h) as f64))
                .collect();
            out.push((l, samples));
        }
    }
    sort_series(&mut out);
    out
}

fn opts() -> BlockOptions {
    BlockOptions {
        row_group_rows: 25,
        label_page_rows: 8,
        ..BlockOptions::default()
    }
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

fn names_of(series: &[(Labels, Vec<Sample>)]) -> Vec<String> {
    let names: BTreeSet<&str> = series
        .iter()
        .flat_map(|(l, _)| l.iter().map(|x| x.name.as_str()))
        .collect();
    names.into_iter().map(String::from).collect()
}

fn values_of(series: &[(Labels, Vec<Sample>)], name: &str) -> Vec<String> {
    let values: BTreeSet<&str> = series.iter().filter_map(|(l, _)| l.get(name)).collect();
    values.into_iter().map(String::from).collect()
}

/// Only the planned ranges, as a querier fetches them.
fn fetch(file: &[u8], ranges: &[std::ops::Range<u64>]) -> Fetched {
    let mut f = Fetched::new();
    for r in ranges {
        f.insert(r.clone(), file[r.start as usize..r.end as usize].to_vec())
            .expect("insert");
    }
    f
}

#[test]
fn names_and_values_equal_the_series_labels() {
    let series = series();
    let file = write(&series, &opts());
    let footer = BlockFooter::parse(file.len() as u64, &file).expect("footer");
    assert!(footer.metadata().num_row_groups() > 2);
    assert_eq!(footer.label_names().expect("names"), names_of(&series));
    for name in ["__name__", "host", "job", "zone", "rare", "absent"] {
        let ranges = footer.label_values_ranges(name).expect("dictionary");
        let got = read_label_values(&footer, name, &fetch(&file, &ranges))
            .expect("read")
            .expect("dictionary");
        assert_eq!(got, values_of(&series, name), "{name}");
    }
    // A label on no series of a row group has no dictionary to read there.
    let rare = footer.label_values_ranges("rare").expect("dictionary");
    assert_eq!(rare.len(), 1, "{rare:?}");
    assert!(footer
        .label_values_ranges("absent")
        .expect("none")
        .is_empty());
}

#[test]
fn a_block_without_metric_names_does_not_list_the_name_column() {
    let series: Vec<(Labels, Vec<Sample>)> = (0..5)
        .map(|i| {
            let l = Labels::from_pairs([("job", format!("j{i}").as_str())]).expect("labels");
            (l, vec![Sample::new(1000, 1.0)])
        })
        .collect();
    let file = write(&series, &opts());
    let footer = BlockFooter::parse(file.len() as u64, &file).expect("footer");
    assert_eq!(footer.label_names().expect("names"), ["job"]);
    let ranges = footer.label_values_ranges("__name__").expect("dictionary");
    assert!(ranges.is_empty(), "{ranges:?}");
}

#[test]
fn dictionary_pages_are_a_fraction_of_the_label_columns() {
    let series = series();
    let file = write(&series, &opts());
    let footer = BlockFooter::parse(file.len() as u64, &file).expect("footer");
    let ranges = footer.label_values_ranges("host").expect("dictionary");
    assert_eq!(ranges.len(), footer.metadata().num_row_groups());
    let dictionary: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let column: u64 = footer
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| {
            rg.columns()
                .iter()
                .find(|c| c.column_descr().name() == "host")
                .expect("host column")
                .compressed_size() as u64
        })
        .sum();
    assert!(dictionary < column, "{dictionary} of {column} bytes");
    // Nothing but those ranges is read: without them, the read fails.
    let err = read_label_values(&footer, "host", &Fetched::new()).expect_err("nothing fetched");
    assert!(err.is_retryable(), "{err}");
}

#[test]
fn a_column_not_wholly_dictionary_encoded_answers_none() {
    let series = series();
    // 64 bytes hold a few host names: the rest of the chunk is plain.
    let file = write(
        &series,
        &BlockOptions {
            label_dictionary_page_bytes: 64,
            ..opts()
        },
    );
    let footer = BlockFooter::parse(file.len() as u64, &file).expect("footer");
    assert_eq!(footer.label_names().expect("names"), names_of(&series));
    assert_eq!(footer.label_values_ranges("host"), None);
    assert_eq!(
        read_label_values(&footer, "host", &Fetched::whole(file.clone())).expect("read"),
        None
    );
    // Columns with few values still fit their dictionary.
    let ranges = footer.label_values_ranges("job").expect("dictionary");
    let got = read_label_values(&footer, "job", &fetch(&file, &ranges)).expect("read");
    assert_eq!(got, Some(values_of(&series, "job")));
    // And the block still reads back whole.
    let (_, all) = read_all(&file).expect("read all");
    assert_eq!(all, series);
}

#[test]
fn corrupt_dictionary_pages_are_errors_not_panics() {
    let series = series();
    {
        let file = write(&series, &opts());
        let footer = BlockFooter::parse(file.len() as u64, &file).expect("footer");
        let ranges = footer.label_values_ranges("host").expect("dictionary");
        let mut errors = 0;
        let mut tried = 0;
        for r in &ranges {
            for pos in r.clone() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut bad = file.clone();
                    bad[pos as usize] ^= flip;
                    tried += 1;
                    match read_label_values(&footer, "host", &fetch(&bad, &ranges)) {
                        Ok(Some(values)) => {
                            // A flipped value byte may go unnoticed (label
                            // pages carry no checksum), but every value is
                            // still checked.
                            assert!(values.iter().all(|v| !v.is_empty()));
                        }
                        Ok(None) => panic!("the footer decides, not the page"),
                        Err(_) => errors += 1,
                    }
                }
            }
            // Truncated pages.
            for cut in [r.start + 1, (r.start + r.end) / 2, r.end - 1] {
                let mut f = Fetched::new();
                f.insert(r.start..cut, file[r.start as usize..cut as usize].to_vec())
                    .expect("insert");
                assert!(read_label_values(&footer, "host", &f).is_err());
            }
        }
        assert!(errors > 0, "{errors} errors of {tried}");
    }
}
