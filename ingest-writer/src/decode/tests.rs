use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::proto::{
    ExemplarV1, LabelV1, MetadataV2, MetricMetadataV1, RequestV2, SampleProto, TimeSeriesV1,
    TimeSeriesV2, WriteRequestV1,
};

const NOW: i64 = 1_700_000_000_000;

fn label(n: &str, v: &str) -> LabelV1 {
    LabelV1 {
        name: Bytes::copy_from_slice(n.as_bytes()),
        value: Bytes::copy_from_slice(v.as_bytes()),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeriesV1 {
    TimeSeriesV1 {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| SampleProto { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn accepted(d: &Decoded<'_>) -> Vec<(String, Vec<Sample>)> {
    d.batch
        .series()
        .map(|(refs, s)| (d.batch.labels(refs).to_string(), s.to_vec()))
        .collect()
}

#[test]
fn v1_valid_series_pass_and_labels_are_sorted() {
    let req = WriteRequestV1 {
        timeseries: vec![
            series(
                &[("job", "a"), ("__name__", "up")],
                &[(NOW, 1.0), (NOW + 15_000, 0.0)],
            ),
            series(&[("__name__", "x")], &[(NOW, f64::NAN)]),
        ],
        metadata: vec![MetricMetadataV1 {
            r#type: 1,
            metric_family_name: Bytes::from_static(b"x"),
            help: Bytes::from_static(b"help text"),
            unit: Bytes::new(),
        }],
    };
    let body = req.encode_to_vec();
    let d = decode_v1(&body, &Limits::default(), NOW).expect("decodes");
    assert_eq!(d.report.series_received, 2);
    assert_eq!(d.report.samples_received, 3);
    assert_eq!(d.report.samples_valid, 3);
    assert!(d.report.rejected.is_empty());
    let got = accepted(&d);
    assert_eq!(got[0].0, r#"up{job="a"}"#);
    assert_eq!(got[0].1.len(), 2);
    assert!(got[1].1[0].v.is_nan());
    assert_eq!(d.batch.metadata.len(), 1);
    assert_eq!(d.batch.metadata[0].metric_type, MetricType::Counter);
    assert_eq!(d.batch.metadata[0].help, "help text");
}

#[test]
fn v1_rejections_are_counted_per_sample_with_reasons() {
    let req = WriteRequestV1 {
        timeseries: vec![
            series(
                &[("__name__", "ok")],
                &[(NOW, 1.0), (NOW - 5 * 3_600_000, 2.0)],
            ),
            series(&[("job", "no-name")], &[(NOW, 1.0), (NOW, 2.0)]),
            series(&[("__name__", "up"), ("bad-name", "x")], &[(NOW, 1.0)]),
            TimeSeriesV1 {
                histograms: vec![Bytes::from_static(b"\x08\x01")],
                exemplars: vec![ExemplarV1::default()],
                ..series(&[("__name__", "h")], &[])
            },
        ],
        metadata: vec![],
    };
    let body = req.encode_to_vec();
    let d = decode_v1(&body, &Limits::default(), NOW).expect("decodes");
    let r = &d.report;
    assert_eq!(r.samples_received, 6);
    assert_eq!(r.samples_valid, 1);
    assert_eq!(r.rejected.get(&Reason::SampleTooOld), Some(&1));
    assert_eq!(r.rejected.get(&Reason::MissingMetricName), Some(&2));
    assert_eq!(r.rejected.get(&Reason::LabelNameInvalid), Some(&1));
    assert_eq!(
        r.rejected.get(&Reason::NativeHistogramUnsupported),
        Some(&1)
    );
    assert_eq!(r.samples_received, r.samples_valid + r.samples_rejected());
    assert_eq!(r.exemplars_received, 1);
    assert_eq!(r.messages.len(), 4);
    assert!(r.message_text().contains("not supported yet"));
}

#[test]
fn bad_bodies_are_described() {
    let err = decode_v1(b"\xff\xff\xff", &Limits::default(), NOW).expect_err("garbage");
    assert!(matches!(err, DecodeError::Protobuf { .. }), "{err}");
    assert!(matches!(
        decompress(b"\xff\xff\xff\xff\xff", 1 << 20),
        Err(DecodeError::Snappy(_))
    ));
    let big = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 4096])
        .expect("compress");
    assert_eq!(
        decompress(&big, 1000),
        Err(DecodeError::TooLarge {
            size: 4096,
            limit: 1000
        })
    );
}

fn symbols(s: &[&str]) -> Vec<Bytes> {
    s.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

#[test]
fn v2_symbols_metadata_and_bad_refs() {
    let req = RequestV2 {
        symbols: symbols(&[
            "",
            "__name__",
            "req_seconds_count",
            "job",
            "api",
            "help!",
            "seconds",
        ]),
        timeseries: vec![
            TimeSeriesV2 {
                labels_refs: vec![3, 4, 1, 2],
                samples: vec![SampleProto {
                    value: 5.0,
                    timestamp: NOW,
                }],
                metadata: Some(MetadataV2 {
                    r#type: 3,
                    help_ref: 5,
                    unit_ref: 6,
                }),
                ..Default::default()
            },
            TimeSeriesV2 {
                labels_refs: vec![1, 99],
                samples: vec![SampleProto {
                    value: 1.0,
                    timestamp: NOW,
                }],
                ..Default::default()
            },
        ],
    };
    let body = req.encode_to_vec();
    let d = decode_v2(&body, &Limits::default(), NOW).expect("decodes");
    assert_eq!(
        accepted(&d),
        vec![(
            r#"req_seconds_count{job="api"}"#.to_string(),
            vec![Sample::new(NOW, 5.0)]
        )]
    );
    assert_eq!(d.report.rejected.get(&Reason::InvalidSymbolRef), Some(&1));
    assert_eq!(
        d.batch.metadata,
        vec![MetricMetadata {
            metric_family: "req_seconds".into(),
            metric_type: MetricType::Histogram,
            help: "help!".into(),
            unit: "seconds".into(),
        }]
    );
}

#[test]
fn a_declared_field_with_another_wire_type_is_refused() {
    // Field 1 (timeseries) as a varint: Go's decoder refuses it ("wrong
    // wireType"); it must not decode as an empty request.
    for (body, v2) in [
        (&[0x08, 0x01][..], false),
        (&[0x18, 0x01][..], false),
        (&[0x20, 0x01][..], true),
        (&[0x28, 0x01][..], true),
    ] {
        let decoded = if v2 {
            decode_v2(body, &Limits::default(), NOW)
        } else {
            decode_v1(body, &Limits::default(), NOW)
        };
        let err = decoded.map(|_| ()).expect_err("wrong wire type");
        assert!(
            matches!(err, DecodeError::Protobuf { .. }) && err.to_string().contains("wire type 0"),
            "{body:?}: {err}"
        );
    }
    // Unknown fields are still skipped, whatever their type.
    let d = decode_v1(&[0x38, 0x01], &Limits::default(), NOW).expect("unknown field");
    assert_eq!(d.report.series_received, 0);
}

#[test]
fn v1_message_decoded_as_v2_is_empty_not_misread() {
    // The 2.0 message reserves 1..3, so a 1.0 body sent with a 2.0 content
    // type decodes to nothing instead of garbage.
    let req = WriteRequestV1 {
        timeseries: vec![series(&[("__name__", "up")], &[(NOW, 1.0)])],
        metadata: vec![],
    };
    let body = req.encode_to_vec();
    let d = decode_v2(&body, &Limits::default(), NOW).expect("decodes");
    assert_eq!(d.report.series_received, 0);
}

/// Reference semantics: what prost's generated decoder sees, validated.
fn reference_v1(body: &[u8]) -> Option<Vec<(String, Vec<Sample>)>> {
    let req = WriteRequestV1::decode(body).ok()?;
    let mut out = Vec::new();
    for ts in req.timeseries {
        let pairs: Vec<(String, String)> = ts
            .labels
            .iter()
            .map(|l| {
                (
                    String::from_utf8_lossy(&l.name).into(),
                    String::from_utf8_lossy(&l.value).into(),
                )
            })
            .collect();
        let Ok(labels) = stratus_model::Labels::from_pairs(pairs) else {
            continue;
        };
        let legacy = stratus_model::NameValidation::Legacy;
        if ts.samples.is_empty()
            || !labels
                .metric_name()
                .is_some_and(|n| legacy.is_valid_metric_name(n))
        {
            continue;
        }
        out.push((
            labels.to_string(),
            ts.samples
                .iter()
                .map(|s| Sample::new(s.timestamp, s.value))
                .collect(),
        ));
    }
    Some(keep_first(out))
}

/// One entry per label set, where it first came, with the first sample of
/// each timestamp in arrival order (as Prometheus appends a request).
fn keep_first(series: Vec<(String, Vec<Sample>)>) -> Vec<(String, Vec<Sample>)> {
    let mut out: Vec<(String, Vec<Sample>)> = Vec::new();
    for (labels, samples) in series {
        let i = match out.iter().position(|(l, _)| *l == labels) {
            Some(i) => i,
            None => {
                out.push((labels, Vec::new()));
                out.len() - 1
            }
        };
        for s in samples {
            if !out[i].1.iter().any(|x| x.t == s.t) {
                out[i].1.push(s);
            }
        }
    }
    out
}

fn arb_series() -> impl Strategy<Value = TimeSeriesV1> {
    let name = prop::sample::select(vec!["__name__", "job", "instance", "le", "zone"]);
    let value = prop::sample::select(vec!["up", "node", "a", "b", "0.5", "x_total"]);
    (
        prop::collection::vec((name, value), 0..5),
        prop::collection::vec((NOW - 1000..NOW + 1000, any::<u64>()), 0..4),
    )
        .prop_map(|(labels, samples)| TimeSeriesV1 {
            labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, bits)| SampleProto {
                    value: f64::from_bits(bits),
                    timestamp,
                })
                .collect(),
            ..Default::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The borrowing wire reader agrees with prost on valid messages.
    #[test]
    fn v1_walker_agrees_with_prost(ts in prop::collection::vec(arb_series(), 0..8)) {
        let body = WriteRequestV1 { timeseries: ts, metadata: vec![] }.encode_to_vec();
        let ours = decode_v1(&body, &Limits::default(), NOW).expect("valid protobuf");
        let reference = reference_v1(&body).expect("prost decodes");
        prop_assert_eq!(accepted(&ours), reference);
        prop_assert_eq!(ours.report.samples_received, ours.report.samples_valid + ours.report.samples_rejected() + ours.report.duplicates);
    }

    #[test]
    fn v1_arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_v1(&body, &Limits::default(), NOW);
    }

    #[test]
    fn v2_arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_v2(&body, &Limits::default(), NOW);
    }

    /// Corrupting a valid body anywhere gives an error or a decode, never a panic.
    #[test]
    fn corrupted_valid_bodies_never_panic(ts in prop::collection::vec(arb_series(), 1..4), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut body = WriteRequestV1 { timeseries: ts, metadata: vec![] }.encode_to_vec();
        let i = at.index(body.len());
        body[i] = byte;
        let _ = decode_v1(&body, &Limits::default(), NOW);
        let _ = decode_v2(&body, &Limits::default(), NOW);
    }
}
