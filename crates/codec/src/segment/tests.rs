use std::collections::BTreeMap;

use proptest::prelude::*;
use stratus_model::{Label, Labels, MetricMetadata, MetricType, Sample, TenantId};

use super::*;
use crate::chunk::encode_chunk;
use crate::varint::{put_uvarint, put_varint};

fn tenant() -> TenantId {
    TenantId::new("team-a").expect("valid tenant")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("valid labels")
}

fn chunk(samples: &[(i64, f64)]) -> Vec<u8> {
    let samples: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
    let mut out = Vec::new();
    encode_chunk(&samples, &mut out);
    out
}

fn metadata(family: &str, metric_type: MetricType, help: &str) -> MetricMetadata {
    MetricMetadata {
        metric_family: family.to_string(),
        metric_type,
        help: help.to_string(),
        unit: String::new(),
    }
}

/// Wraps a body in a header and a footer with a correct checksum.
fn seal(version: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = b"STSG".to_vec();
    out.push(version);
    out.push(flags);
    out.extend_from_slice(body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(b"STSG");
    out
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// (name ref, value ref) pairs and the chunk of one series.
type RawSeries = (Vec<(u64, u64)>, Vec<u8>);

/// The fields of a segment body written exactly as given, valid or not:
/// an encoder independent of `SegmentBuilder`, following the spec.
#[derive(Clone)]
struct RawBody {
    tenant: &'static str,
    min_time: i64,
    max_time: i64,
    num_samples: u64,
    symbols: Vec<Vec<u8>>,
    series: Vec<RawSeries>,
    metadata: Vec<(&'static str, u8, &'static str, &'static str)>,
    trailing: Vec<u8>,
}

impl RawBody {
    /// `up{job="a"}` with samples at 1000 and 2000, `up{job="b"}` with one
    /// at 1500, and gauge metadata for `up`.
    fn valid() -> Self {
        let symbols = ["__name__", "a", "b", "job", "up"];
        Self {
            tenant: "team-a",
            min_time: 1000,
            max_time: 2000,
            num_samples: 3,
            symbols: symbols.iter().map(|s| s.as_bytes().to_vec()).collect(),
            series: vec![
                (vec![(0, 4), (3, 1)], chunk(&[(1000, 1.0), (2000, 2.0)])),
                (vec![(0, 4), (3, 2)], chunk(&[(1500, 3.0)])),
            ],
            metadata: vec![("up", 2, "whether the target is up", "")],
            trailing: Vec::new(),
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, self.tenant.as_bytes());
        put_varint(&mut out, self.min_time);
        put_varint(&mut out, self.max_time);
        put_uvarint(&mut out, self.num_samples);
        put_uvarint(&mut out, self.symbols.len() as u64);
        for s in &self.symbols {
            put_bytes(&mut out, s);
        }
        put_uvarint(&mut out, self.series.len() as u64);
        for (refs, chunk) in &self.series {
            put_uvarint(&mut out, refs.len() as u64);
            for &(name, value) in refs {
                put_uvarint(&mut out, name);
                put_uvarint(&mut out, value);
            }
            put_bytes(&mut out, chunk);
        }
        put_uvarint(&mut out, self.metadata.len() as u64);
        for &(family, code, help, unit) in &self.metadata {
            put_bytes(&mut out, family.as_bytes());
            out.push(code);
            put_bytes(&mut out, help.as_bytes());
            put_bytes(&mut out, unit.as_bytes());
        }
        out.extend_from_slice(&self.trailing);
        out
    }

    fn encode(&self) -> Vec<u8> {
        seal(1, 0, &self.body())
    }

    fn decode(&self) -> Result<Segment> {
        decode_segment(&self.encode())
    }
}

fn valid_builder() -> SegmentBuilder {
    let mut b = SegmentBuilder::new(&tenant());
    let up_b = labels(&[("__name__", "up"), ("job", "b")]);
    let up_a = labels(&[("__name__", "up"), ("job", "a")]);
    b.add_series(&up_b, &[Sample::new(1500, 3.0)])
        .expect("valid");
    b.add_series(&up_a, &[Sample::new(1000, 1.0), Sample::new(2000, 2.0)])
        .expect("valid");
    b.add_metadata(metadata("up", MetricType::Counter, "replaced"));
    b.add_metadata(metadata(
        "up",
        MetricType::Gauge,
        "whether the target is up",
    ));
    b
}

#[test]
fn builder_writes_the_documented_layout() {
    let b = valid_builder();
    assert_eq!((b.num_series(), b.num_samples()), (2, 3));
    let bytes = b.finish().expect("finishes");
    assert_eq!(bytes, RawBody::valid().encode());
    assert_eq!(&bytes[..6], b"STSG\x01\x00");
    assert_eq!(&bytes[6..13], b"\x06team-a");
    // min and max: zigzag(1000) = 2000 = d0 0f and zigzag(2000) = a0 1f;
    // three samples; five symbols.
    assert_eq!(&bytes[13..19], [0xd0, 0x0f, 0xa0, 0x1f, 0x03, 0x05]);
    assert_eq!(&bytes[bytes.len() - 4..], b"STSG");
}

#[test]
fn empty_builder_writes_a_valid_segment() {
    let bytes = SegmentBuilder::new(&tenant()).finish().expect("finishes");
    // Tenant, min 0, max 0, no samples, symbols, series or metadata.
    let expected = seal(1, 0, b"\x06team-a\x00\x00\x00\x00\x00\x00");
    assert_eq!(bytes, expected);
    let segment = decode_segment(&bytes).expect("decodes");
    assert_eq!(
        segment,
        Segment {
            tenant: tenant(),
            min_time: 0,
            max_time: 0,
            num_samples: 0,
            series: Vec::new(),
            metadata: Vec::new(),
        }
    );
}

#[test]
fn documented_examples() {
    // docs/format/segment.md; the checksum was computed with an
    // independent CRC-32C implementation.
    let empty = SegmentBuilder::new(&tenant()).finish().expect("finishes");
    let mut expected = b"STSG\x01\x00\x06team-a\x00\x00\x00\x00\x00\x00".to_vec();
    expected.extend_from_slice(&[0x49, 0xfb, 0x0f, 0x26]);
    expected.extend_from_slice(b"STSG");
    assert_eq!(empty, expected);

    let mut b = SegmentBuilder::new(&tenant());
    let up = labels(&[("__name__", "up"), ("job", "a")]);
    b.add_series(&up, &[Sample::new(1000, 1.0)]).expect("valid");
    let bytes = b.finish().expect("finishes");
    let mut body = b"\x06team-a\xd0\x0f\xd0\x0f\x01".to_vec();
    body.extend_from_slice(b"\x04\x08__name__\x01a\x03job\x02up");
    body.extend_from_slice(b"\x01\x02\x00\x03\x02\x01\x0b");
    body.extend_from_slice(&[0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
    body.push(0x00);
    assert_eq!(bytes[6..bytes.len() - 8], body[..]);
}

#[test]
fn decodes_what_it_wrote() {
    let segment = decode_segment(&valid_builder().finish().expect("finishes")).expect("decodes");
    assert_eq!(segment.tenant, tenant());
    assert_eq!(
        (segment.min_time, segment.max_time, segment.num_samples),
        (1000, 2000, 3)
    );
    assert_eq!(
        segment.series,
        vec![
            SegmentSeries {
                labels: labels(&[("__name__", "up"), ("job", "a")]),
                samples: vec![Sample::new(1000, 1.0), Sample::new(2000, 2.0)],
            },
            SegmentSeries {
                labels: labels(&[("__name__", "up"), ("job", "b")]),
                samples: vec![Sample::new(1500, 3.0)],
            },
        ]
    );
    assert_eq!(
        segment.metadata,
        vec![metadata(
            "up",
            MetricType::Gauge,
            "whether the target is up"
        )]
    );
}

#[test]
fn add_series_rejects_bad_samples() {
    let mut b = SegmentBuilder::new(&tenant());
    let up = labels(&[("__name__", "up")]);
    assert_eq!(
        b.add_series(&up, &[]),
        Err(CodecError::EmptySeries {
            labels: "up{}".into()
        })
    );
    let unsorted = [
        Sample::new(10, 1.0),
        Sample::new(30, 1.0),
        Sample::new(20, 1.0),
    ];
    let err = b.add_series(&up, &unsorted).expect_err("unsorted");
    assert_eq!(
        err,
        CodecError::NonIncreasingTimestamps {
            labels: "up{}".into(),
            index: 2,
            previous: 30,
            next: 20
        }
    );
    assert_eq!(
        err.to_string(),
        "series up{}: timestamps must be strictly increasing, found 20 at sample 2 after 30"
    );
    let duplicate = [Sample::new(10, 1.0), Sample::new(10, 2.0)];
    assert!(matches!(
        b.add_series(&up, &duplicate),
        Err(CodecError::NonIncreasingTimestamps {
            index: 1,
            previous: 10,
            next: 10,
            ..
        })
    ));
    let empty_value = Labels::from_sorted_unchecked(vec![Label::new("a", "")]);
    assert!(matches!(
        b.add_series(&empty_value, &[Sample::new(1, 1.0)]),
        Err(CodecError::InvalidLabels {
            reason: "a label value is empty",
            ..
        })
    ));
    assert_eq!(
        (b.num_series(), b.num_samples()),
        (0, 0),
        "nothing was added"
    );
}

#[test]
fn duplicate_series_fail_at_finish() {
    let mut b = SegmentBuilder::new(&tenant());
    let up = labels(&[("__name__", "up"), ("job", "a")]);
    b.add_series(&up, &[Sample::new(1, 1.0)]).expect("valid");
    b.add_series(&labels(&[("__name__", "up")]), &[Sample::new(1, 1.0)])
        .expect("valid");
    b.add_series(&up, &[Sample::new(2, 1.0)])
        .expect("checked at finish");
    assert_eq!(
        b.finish(),
        Err(CodecError::DuplicateSeries {
            labels: r#"up{job="a"}"#.into()
        })
    );
}

#[test]
fn header_errors_have_their_own_variants() {
    let good = valid_builder().finish().expect("finishes");
    let body = &good[6..good.len() - 8];

    let err = decode_segment(&seal(7, 0, body)).expect_err("version 7");
    assert_eq!(
        err,
        CodecError::UnsupportedSegmentVersion {
            found: 7,
            supported: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "unsupported segment version 7 (this build reads version 1)"
    );

    let err = decode_segment(&seal(1, 0x80, body)).expect_err("flags");
    assert_eq!(err, CodecError::UnsupportedSegmentFlags { found: 0x80 });

    let mut bad = good.clone();
    bad[..4].copy_from_slice(b"STS\0");
    let err = decode_segment(&bad).expect_err("magic");
    assert_eq!(err, CodecError::BadSegmentMagic { found: *b"STS\0" });
    assert_eq!(
        err.to_string(),
        r#"bad segment magic: expected "STSG", found "STS\x00""#
    );

    let mut bad = good.clone();
    let len = bad.len();
    bad[len - 1] = b'X';
    assert_eq!(
        decode_segment(&bad),
        Err(CodecError::BadSegmentFooterMagic { found: *b"STSX" })
    );

    let mut bad = good.clone();
    bad[len - 8] ^= 0x01;
    let stored = u32::from_le_bytes([bad[len - 8], bad[len - 7], bad[len - 6], bad[len - 5]]);
    let computed = crc32c::crc32c(&good[..len - 8]);
    let err = decode_segment(&bad).expect_err("checksum");
    assert_eq!(
        err,
        CodecError::SegmentChecksumMismatch { stored, computed }
    );
    assert_eq!(
        err.to_string(),
        format!("segment checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")
    );

    assert_eq!(
        decode_segment(b"STSG\x01\x00STSG"),
        Err(CodecError::SegmentTooShort { len: 10, min: 14 })
    );
}

#[test]
fn every_byte_flip_is_detected() {
    let good = valid_builder().finish().expect("finishes");
    let len = good.len();
    for i in 0..len {
        for mask in [0x01u8, 0x10, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            let err = decode_segment(&bad).expect_err("flip detected");
            let expected_kind = match i {
                0..=3 => matches!(err, CodecError::BadSegmentMagic { .. }),
                4 => matches!(err, CodecError::UnsupportedSegmentVersion { .. }),
                5 => matches!(err, CodecError::UnsupportedSegmentFlags { .. }),
                _ if i >= len - 4 => matches!(err, CodecError::BadSegmentFooterMagic { .. }),
                _ => matches!(err, CodecError::SegmentChecksumMismatch { .. }),
            };
            assert!(expected_kind, "byte {i} ^ {mask:#04x} gave {err}");
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let good = valid_builder().finish().expect("finishes");
    for len in 0..good.len() {
        assert!(
            decode_segment(&good[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(decode_segment(&longer).is_err());
}

/// Decodes `raw` and returns the error, failing if it decoded.
fn err_of(raw: &RawBody) -> CodecError {
    match raw.decode() {
        Ok(_) => panic!("invalid body decoded"),
        Err(e) => e,
    }
}

#[test]
fn raw_body_is_valid() {
    assert!(RawBody::valid().decode().is_ok());
}

#[test]
fn rejects_invalid_symbols() {
    let mut raw = RawBody::valid();
    raw.symbols.swap(1, 2);
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentSymbolsNotSorted { index: 2, .. }
    ));
    let mut raw = RawBody::valid();
    raw.symbols[2] = b"a".to_vec();
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentSymbolsNotSorted { .. }
    ));
    let mut raw = RawBody::valid();
    raw.symbols[4] = vec![0xff, 0xfe];
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentInvalidUtf8 { what: "symbol", .. }
    ));
    let mut raw = RawBody::valid();
    raw.series[1].0[1] = (3, 5);
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentSymbolRefOutOfRange {
            series: 1,
            label: 1,
            reference: 5,
            symbols: 5,
            ..
        }
    ));
}

#[test]
fn rejects_invalid_label_sets() {
    let mut raw = RawBody::valid();
    raw.series[0].0.reverse();
    assert!(matches!(
        err_of(&raw),
        CodecError::InvalidLabels {
            reason: "label names are not strictly ascending",
            ..
        }
    ));
    let mut raw = RawBody::valid();
    raw.series[0].0[1] = (0, 1);
    assert!(matches!(err_of(&raw), CodecError::InvalidLabels { .. }));
    let mut raw = RawBody::valid();
    raw.symbols.insert(0, Vec::new());
    raw.series = vec![(vec![(1, 0)], chunk(&[(1000, 1.0), (2000, 1.0)]))];
    raw.num_samples = 2;
    assert!(matches!(
        err_of(&raw),
        CodecError::InvalidLabels {
            reason: "a label value is empty",
            ..
        }
    ));
    raw.series = vec![(vec![(0, 1)], chunk(&[(1000, 1.0), (2000, 1.0)]))];
    assert!(matches!(
        err_of(&raw),
        CodecError::InvalidLabels {
            reason: "a label name is empty",
            ..
        }
    ));
}

#[test]
fn rejects_unsorted_or_duplicate_series() {
    let mut raw = RawBody::valid();
    raw.series.swap(0, 1);
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentSeriesNotSorted { .. }
    ));
    let mut raw = RawBody::valid();
    raw.series[1].0 = raw.series[0].0.clone();
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentSeriesNotSorted { .. }
    ));
}

#[test]
fn rejects_bad_chunks_and_times() {
    let mut raw = RawBody::valid();
    raw.series[0].1.pop();
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentChunk { source, .. } if matches!(*source, CodecError::ChunkTruncated { .. })
    ));
    let mut raw = RawBody::valid();
    raw.series[1].1 = chunk(&[]);
    raw.num_samples = 2;
    assert!(matches!(err_of(&raw), CodecError::EmptySeries { .. }));
    let mut raw = RawBody::valid();
    raw.series[0].1 = chunk(&[(2000, 1.0), (1000, 2.0)]);
    assert!(matches!(
        err_of(&raw),
        CodecError::NonIncreasingTimestamps {
            previous: 2000,
            next: 1000,
            ..
        }
    ));
    let mut raw = RawBody::valid();
    raw.max_time = 1999;
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentSampleOutOfRange { t: 2000, .. }
    ));
    let mut raw = RawBody::valid();
    raw.min_time = 999;
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentTimeRangeMismatch {
            header_min: 999,
            actual_min: 1000,
            ..
        }
    ));
    let mut raw = RawBody::valid();
    raw.num_samples = 4;
    assert_eq!(
        err_of(&raw),
        CodecError::SegmentSampleCountMismatch {
            header: 4,
            actual: 3
        }
    );
    let mut raw = RawBody::valid();
    raw.series.clear();
    raw.num_samples = 0;
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentTimeRangeMismatch { .. }
    ));
}

#[test]
fn rejects_bad_metadata_and_trailing_bytes() {
    let mut raw = RawBody::valid();
    raw.metadata[0].1 = 8;
    assert_eq!(
        err_of(&raw),
        CodecError::SegmentUnknownMetricType {
            family: "up".into(),
            code: 8
        }
    );
    let mut raw = RawBody::valid();
    raw.metadata = vec![("up", 1, "", ""), ("go_info", 6, "", "")];
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentMetadataNotSorted { .. }
    ));
    let mut raw = RawBody::valid();
    raw.metadata = vec![("up", 1, "", ""), ("up", 1, "", "")];
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentMetadataNotSorted { .. }
    ));
    let mut raw = RawBody::valid();
    raw.trailing = vec![0];
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentTrailingData { extra: 1, .. }
    ));
}

#[test]
fn rejects_bad_tenants_counts_and_varints() {
    let mut raw = RawBody::valid();
    raw.tenant = "a/b";
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentInvalidTenant { .. }
    ));
    raw.tenant = "";
    assert!(matches!(
        err_of(&raw),
        CodecError::SegmentInvalidTenant { .. }
    ));

    // A symbol count of 2^60 with a handful of bytes left.
    let mut body = b"\x06team-a\x00\x00\x00".to_vec();
    put_uvarint(&mut body, 1 << 60);
    body.extend_from_slice(&[0; 4]);
    assert!(matches!(
        decode_segment(&seal(1, 0, &body)),
        Err(CodecError::SegmentCountTooLarge {
            what: "symbol",
            count: 0x1000_0000_0000_0000,
            ..
        })
    ));

    let mut body = b"\x06team-a".to_vec();
    body.extend_from_slice(&[0xff; 11]);
    assert_eq!(
        decode_segment(&seal(1, 0, &body)),
        Err(CodecError::SegmentVarintOverflow {
            what: "min_time",
            offset: 13
        })
    );

    let err = decode_segment(&seal(1, 0, b"\x09team-a")).expect_err("short tenant");
    assert_eq!(
        err,
        CodecError::SegmentTruncated {
            what: "tenant",
            needed: 3,
            offset: 7,
            body_end: 13
        }
    );
    assert_eq!(
        err.to_string(),
        "segment truncated: needed 3 more bytes for tenant at offset 7, body ends at offset 13"
    );
}

fn label_set() -> impl Strategy<Value = Labels> {
    let names = prop::sample::select(vec!["__name__", "job", "instance", "le", "ü", "a b"]);
    let values = prop_oneof![
        (0u32..40).prop_map(|n| format!("v{n}")),
        Just("\"quoted\"\n".to_string()),
        Just("ünïcode".to_string()),
    ];
    prop::collection::btree_map(names, values, 0..5)
        .prop_map(|m| Labels::from_pairs(m).expect("unique non-empty names"))
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    let start = prop_oneof![any::<i64>(), 1_600_000_000_000i64..1_800_000_000_000];
    let steps = prop::collection::vec((1i64..100_000, any::<u64>()), 1..20);
    (start, steps).prop_map(|(start, steps)| {
        let mut t = Some(start);
        let mut out = Vec::new();
        for (step, bits) in steps {
            let Some(now) = t else { break };
            out.push(Sample::new(now, f64::from_bits(bits)));
            t = now.checked_add(step);
        }
        out
    })
}

fn metadata_entries() -> impl Strategy<Value = Vec<MetricMetadata>> {
    let family = prop::sample::select(vec!["up", "http_requests", "go_info", "ü"]);
    let entry = (
        family,
        0u8..8,
        "[a-z ]{0,8}",
        prop::sample::select(vec!["", "seconds"]),
    );
    prop::collection::vec(entry, 0..6).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(family, code, help, unit)| MetricMetadata {
                metric_family: family.to_string(),
                metric_type: MetricType::from_code(code).unwrap_or_default(),
                help,
                unit: unit.to_string(),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trips_and_is_deterministic(
        series in prop::collection::btree_map(label_set(), samples(), 0..20),
        metadata in metadata_entries(),
    ) {
        let build = |order: &mut dyn Iterator<Item = (&Labels, &Vec<Sample>)>| {
            let mut b = SegmentBuilder::new(&tenant());
            for (labels, samples) in order {
                b.add_series(labels, samples).expect("valid series");
            }
            for md in &metadata {
                b.add_metadata(md.clone());
            }
            b.finish().expect("finishes")
        };
        let bytes = build(&mut series.iter());
        prop_assert_eq!(&bytes, &build(&mut series.iter().rev()));

        let segment = decode_segment(&bytes).expect("decodes");
        let all = || series.values().flatten();
        let expected_metadata: BTreeMap<_, _> =
            metadata.iter().map(|md| (md.metric_family.clone(), md.clone())).collect();
        prop_assert_eq!(segment.tenant, tenant());
        prop_assert_eq!(segment.num_samples, all().count() as u64);
        prop_assert_eq!(segment.min_time, all().map(|s| s.t).min().unwrap_or(0));
        prop_assert_eq!(segment.max_time, all().map(|s| s.t).max().unwrap_or(0));
        let expected_series: Vec<SegmentSeries> = series
            .iter()
            .map(|(labels, samples)| SegmentSeries { labels: labels.clone(), samples: samples.clone() })
            .collect();
        prop_assert_eq!(segment.series, expected_series);
        prop_assert_eq!(segment.metadata, expected_metadata.into_values().collect::<Vec<_>>());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(decode_segment(&bytes).is_err() || bytes.len() >= 22);
    }

    #[test]
    fn decoding_arbitrary_sealed_bodies_never_panics(
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        // A valid envelope gets past the checksum into the body parser.
        let _ = decode_segment(&seal(1, 0, &body));
    }

    #[test]
    fn decoding_mutated_bodies_never_panics(at in any::<usize>(), value in any::<u8>()) {
        let mut body = RawBody::valid().body();
        let i = at % body.len();
        body[i] = value;
        let _ = decode_segment(&seal(1, 0, &body));
    }
}

/// `cargo test --release -p stratus-codec -- --ignored --nocapture` shows
/// how long a large flush takes to write and read.
#[test]
#[ignore = "timing, run in release"]
fn large_segment_timing() {
    let series: Vec<Labels> = (0..100_000)
        .map(|i| {
            labels(&[
                ("__name__", &format!("metric_{}", i % 100)),
                ("instance", &format!("host-{}:9100", i % 1000)),
                ("job", &format!("job{}", i % 10)),
                ("pod", &format!("pod-{i}")),
            ])
        })
        .collect();
    let samples = [
        Sample::new(1_700_000_000_000, 1.0),
        Sample::new(1_700_000_015_000, 2.0),
    ];
    let start = std::time::Instant::now();
    let mut b = SegmentBuilder::new(&tenant());
    for l in &series {
        b.add_series(l, &samples).expect("valid");
    }
    let added = start.elapsed();
    let bytes = b.finish().expect("finishes");
    let finished = start.elapsed() - added;
    let decoded = decode_segment(&bytes).expect("decodes");
    let read = start.elapsed() - added - finished;
    println!(
        "100k series: add {added:?}, finish {finished:?}, decode {read:?}, {} bytes",
        bytes.len()
    );
    assert_eq!(decoded.series.len(), series.len());
}

#[test]
fn interned_series_encode_exactly_like_label_sets() {
    let tenant = TenantId::new("t").expect("tenant");
    let a = Labels::from_pairs([("__name__", "up"), ("job", "node")]).expect("a");
    let b = Labels::from_pairs([("__name__", "up"), ("job", "api")]).expect("b");
    let samples = [Sample::new(1, 1.0), Sample::new(2, f64::NAN)];

    let mut plain = SegmentBuilder::new(&tenant);
    plain.add_series(&a, &samples).expect("a");
    plain.add_series(&b, &samples[..1]).expect("b");

    let mut interner = crate::Interner::new();
    let unused = interner.intern("never-referenced");
    let refs = |i: &mut crate::Interner, l: &Labels| -> Vec<u32> {
        l.iter()
            .flat_map(|l| [i.intern(&l.name), i.intern(&l.value)])
            .collect()
    };
    let (ra, rb) = (refs(&mut interner, &a), refs(&mut interner, &b));
    let mut interned = SegmentBuilder::with_interner(&tenant, interner);
    interned.add_series_refs(&rb, &samples[..1]).expect("b");
    interned.add_series_refs(&ra, &samples).expect("a");
    assert_eq!(
        interned.finish().expect("interned"),
        plain.finish().expect("plain"),
        "same bytes, unused symbol {unused} left out"
    );
}

#[test]
fn bad_interned_refs_are_rejected() {
    let tenant = TenantId::new("t").expect("tenant");
    let mut interner = crate::Interner::new();
    let (name, up, job, x) = (
        interner.intern("__name__"),
        interner.intern("up"),
        interner.intern("job"),
        interner.intern("x"),
    );
    let mut b = SegmentBuilder::with_interner(&tenant, interner);
    let one = [Sample::new(1, 1.0)];
    assert!(b.add_series_refs(&[name], &one).is_err(), "odd count");
    assert!(b.add_series_refs(&[name, 99], &one).is_err(), "unknown id");
    assert!(
        b.add_series_refs(
            &[name, up, job, x][2..]
                .iter()
                .chain(&[name, up])
                .copied()
                .collect::<Vec<_>>(),
            &one
        )
        .is_err(),
        "unsorted names"
    );
    assert!(b.add_series_refs(&[name, up], &[]).is_err(), "no samples");
    b.add_series_refs(&[name, up, job, x], &one).expect("valid");
}
