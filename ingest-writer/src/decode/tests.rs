use super::*;
use crate::proto::{
    ExemplarV1, LabelV1, MetadataV2, MetricMetadataV1, SampleProto, TimeSeriesV1, TimeSeriesV2,
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

fn encode_v1(req: &WriteRequestV1) -> Bytes {
    Bytes::from(req.encode_to_vec())
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
    let d = decode_v1(encode_v1(&req), &Limits::default(), NOW).expect("decodes");
    assert_eq!(d.report.series_received, 2);
    assert_eq!(d.report.samples_received, 3);
    assert_eq!(d.report.samples_valid, 3);
    assert!(d.report.rejected.is_empty());
    assert_eq!(d.series[0].0.to_string(), r#"up{job="a"}"#);
    assert_eq!(d.series[0].1.len(), 2);
    assert_eq!(d.metadata.len(), 1);
    assert_eq!(d.metadata[0].metric_type, MetricType::Counter);
}

#[test]
fn v1_rejections_are_counted_per_sample_with_reasons() {
    let req = WriteRequestV1 {
        timeseries: vec![
            series(&[("__name__", "ok")], &[(NOW, 1.0), (NOW - 7_200_000, 2.0)]),
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
    let d = decode_v1(encode_v1(&req), &Limits::default(), NOW).expect("decodes");
    let r = &d.report;
    assert_eq!(r.samples_received, 5);
    assert_eq!(r.samples_valid, 1);
    assert_eq!(r.rejected.get(&Reason::SampleTooOld), Some(&1));
    assert_eq!(r.rejected.get(&Reason::MissingMetricName), Some(&2));
    assert_eq!(r.rejected.get(&Reason::LabelNameInvalid), Some(&1));
    assert_eq!(
        r.rejected.get(&Reason::NativeHistogramUnsupported),
        Some(&1)
    );
    assert_eq!(r.exemplars_received, 1);
    assert_eq!(r.messages.len(), 4);
    assert!(r.message_text().contains("not supported yet"));
}

#[test]
fn bad_bodies_are_described() {
    let err = decode_v1(Bytes::from_static(b"\xff\xff\xff"), &Limits::default(), NOW)
        .expect_err("garbage");
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

#[test]
fn v2_symbols_metadata_and_bad_refs() {
    let symbols: Vec<Bytes> = [
        "",
        "__name__",
        "req_seconds_count",
        "job",
        "api",
        "help!",
        "seconds",
    ]
    .iter()
    .map(|s| Bytes::copy_from_slice(s.as_bytes()))
    .collect();
    let req = RequestV2 {
        symbols,
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
    let d = decode_v2(Bytes::from(req.encode_to_vec()), &Limits::default(), NOW).expect("decodes");
    assert_eq!(d.series.len(), 1);
    assert_eq!(d.series[0].0.to_string(), r#"req_seconds_count{job="api"}"#);
    assert_eq!(d.report.rejected.get(&Reason::InvalidSymbolRef), Some(&1));
    assert_eq!(
        d.metadata,
        vec![MetricMetadata {
            metric_family: "req_seconds".into(),
            metric_type: MetricType::Histogram,
            help: "help!".into(),
            unit: "seconds".into(),
        }]
    );
}

#[test]
fn v1_message_decoded_as_v2_is_empty_not_misread() {
    // The 2.0 message reserves 1..3, so a 1.0 body sent with a 2.0 content
    // type decodes to nothing instead of garbage.
    let req = WriteRequestV1 {
        timeseries: vec![series(&[("__name__", "up")], &[(NOW, 1.0)])],
        metadata: vec![],
    };
    let d = decode_v2(encode_v1(&req), &Limits::default(), NOW).expect("decodes");
    assert_eq!(d.report.series_received, 0);
}
