use proptest::prelude::*;
use stratus_model::{Sample, STALE_NAN};

use super::packed::MAX_SAMPLES;
use super::*;

fn decode(bytes: &[u8], base: i64) -> Result<Vec<Sample>, CellError> {
    let mut out = Vec::new();
    let n = decode_cell(bytes, base, |s| out.push(s))?;
    assert_eq!(n, out.len());
    Ok(out)
}

fn packed_only(samples: &[Sample], base: i64) -> Option<Vec<u8>> {
    let mut out = vec![TAG_PACKED];
    packed::encode(samples, base, &mut out).then_some(out)
}

fn regular(values: &[f64]) -> Vec<Sample> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| Sample::new(1_000_000 + i as i64 * 15_000, *v))
        .collect()
}

#[test]
fn known_bytes() {
    // A counter scraped every 15 s (the example of docs/format/block.md).
    let samples = regular(&[1000.0, 1007.0, 1015.0, 1020.0]);
    let cell = encode_cell(&samples, 1_000_000);
    assert_eq!(
        cell,
        [
            0x01, // tag: packed
            0x04, // 4 samples
            0x00, // t0 - base = 0
            0xb0, 0xea, 0x01, // t1 - t0 = 15000, zigzag 30000
            0x00, 0x00, // delta-of-deltas: min 0, width 0
            0x20, // value header: e = 0, delta order
            0xd0, 0x0f, // first value: 1000, zigzag 2000
            0x0a, 0x02, 0x01, // deltas 7, 8, 5: min 5 (zigzag 10), width 2, factor 1
            0x0e, // 2, 3, 0 in 2 bits each, low bits first
            0x00, // no exceptions
        ]
    );
    assert_eq!(decode(&cell, 1_000_000).expect("decode"), samples);
    let mut xor = vec![TAG_XOR];
    stratus_codec::encode_chunk(&samples, &mut xor);
    assert_eq!(xor.len(), 23);
    // Loads with two decimals: e = 2, plain order (52, 61, 60).
    let loads = regular(&[0.52, 0.61, 0.6]);
    let cell = encode_cell(&loads, 1_000_000);
    assert_eq!(&cell[8..], [0x02, 0x68, 0x04, 0x01, 0x90, 0x08, 0x00]);
    assert_eq!(decode(&cell, 1_000_000).expect("decode"), loads);
}

#[test]
fn picks_the_smaller_encoding() {
    // Integers and few-digit decimals: packed.
    let ints: Vec<f64> = (0..120).map(|i| f64::from(i * 37 % 101) * 1024.0).collect();
    assert_eq!(encode_cell(&regular(&ints), 0)[0], TAG_PACKED);
    // Long repeats with a rare jump: XOR spends a bit per repeat, a frame
    // of reference the jump's width on every value.
    let mut steps = vec![0.5; 120];
    steps[40] = 12_345.678;
    steps[80] = 777.125;
    assert_eq!(encode_cell(&regular(&steps), 0)[0], TAG_XOR);
    // Full-precision floats scale too (with up to 18 decimals), so either
    // can win; the cell is never larger than XOR.
    let mut x = 0.1f64;
    let floats = regular(
        &(0..120)
            .map(|_| {
                x = (x * 3.7 + 0.123_456_789_123).fract();
                x
            })
            .collect::<Vec<_>>(),
    );
    let mut xor = vec![TAG_XOR];
    stratus_codec::encode_chunk(&floats, &mut xor);
    let cell = encode_cell(&floats, 0);
    assert!(cell.len() <= xor.len());
    assert_eq!(decode(&cell, 0).expect("decode"), floats);
    // A constant: both tiny, either is fine; it must round trip.
    let c = regular(&[1.0; 120]);
    assert_eq!(decode(&encode_cell(&c, 0), 0).expect("decode"), c);
}

#[test]
fn special_values_are_exceptions() {
    let mut values: Vec<f64> = (0..64).map(|i| f64::from(i) * 0.25).collect();
    values[3] = STALE_NAN;
    values[10] = -0.0;
    values[20] = f64::INFINITY;
    values[63] = f64::from_bits(0x7ff8_0000_dead_beef);
    let samples = regular(&values);
    let cell = packed_only(&samples, 0).expect("packed");
    let back = decode(&cell, 0).expect("decode");
    assert_eq!(back, samples);
    assert_eq!(back[3].v.to_bits(), STALE_NAN.to_bits());
    assert_eq!(back[10].v.to_bits(), (-0.0f64).to_bits());
}

#[test]
fn go_style_decimals_round_trip() {
    // Nanosecond durations as Go's Duration.Seconds() computes them, and
    // two-decimal loads as strconv.ParseFloat reads them.
    let durations: Vec<f64> = (0..100)
        .map(|i| (1_234_567 + i * 7_919) as f64 / 1e9)
        .collect();
    let cell = encode_cell(&regular(&durations), 0);
    assert_eq!(cell[0], TAG_PACKED);
    assert_eq!(decode(&cell, 0).expect("decode"), regular(&durations));
    let loads: Vec<f64> = ["0.52", "1.07", "12.5", "0.01", "0"]
        .iter()
        .map(|s| s.parse().expect("float"))
        .collect();
    let cell = packed_only(&regular(&loads), 0).expect("packed");
    assert_eq!(decode(&cell, 0).expect("decode"), regular(&loads));
}

#[test]
fn too_long_runs_fall_back_to_xor() {
    let samples: Vec<Sample> = (0..=MAX_SAMPLES as i64)
        .map(|i| Sample::new(i, 1.0))
        .collect();
    assert!(packed_only(&samples, 0).is_none());
    let cell = encode_cell(&samples, 0);
    assert_eq!(cell[0], TAG_XOR);
    assert_eq!(decode(&cell, 0).expect("decode").len(), MAX_SAMPLES + 1);
}

#[test]
fn rejects_malformed_cells() {
    let samples = regular(&[1.0, 2.0, 5.0, 7.0]);
    let cell = packed_only(&samples, 0).expect("packed");
    assert_eq!(decode(&[], 0), Err(CellError::Empty));
    assert_eq!(decode(&[7, 1], 0), Err(CellError::UnknownTag(7)));
    // Every truncation fails.
    for len in 1..cell.len() {
        assert!(decode(&cell[..len], 0).is_err(), "truncated to {len}");
    }
    // A trailing byte fails.
    let mut long = cell.clone();
    long.push(0);
    assert!(decode(&long, 0).is_err());
    // No samples, or more than a packed cell may hold.
    assert!(decode(&[TAG_PACKED, 0x00], 0).is_err());
    assert!(decode(&[TAG_PACKED, 0x81, 0x80, 0x04, 0, 0, 0, 0, 0], 0).is_err());
    // A zero-width stream cannot claim huge counts cheaply.
    let mut big = vec![TAG_PACKED];
    stratus_codec::varint::put_uvarint(&mut big, u64::MAX);
    assert!(decode(&big, 0).is_err());
}

/// Values that must survive bit for bit, biased towards what the packed
/// encoding handles: integers, few-digit decimals, nanosecond seconds.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => (-1_000_000i64..1_000_000).prop_map(|n| n as f64),
        2 => (-100_000i64..100_000, 0usize..5).prop_map(|(n, e)| n as f64 / 10f64.powi(e as i32)),
        2 => (0i64..10_000_000_000).prop_map(|n| n as f64 / 1e9),
        1 => any::<i64>().prop_map(|n| n as f64),
        1 => -1e6f64..1e6,
        1 => Just(STALE_NAN),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(f64::MIN_POSITIVE / 4.0),
        1 => any::<u64>().prop_map(f64::from_bits),
    ]
}

/// Series-like values: a few kinds of walks, so cells are mostly packed.
fn walk() -> impl Strategy<Value = Vec<f64>> {
    (
        prop::collection::vec(-300i64..300, 1..200),
        0usize..10,
        any::<i64>(),
    )
        .prop_map(|(steps, e, start)| {
            let mut n = start >> 12;
            steps
                .into_iter()
                .map(|d| {
                    n = n.wrapping_add(d);
                    n as f64 / 10f64.powi(e as i32)
                })
                .collect()
        })
}

fn timestamps(len: usize) -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        // Regular scrapes with some jitter.
        (
            any::<i32>(),
            1i64..60_000,
            prop::collection::vec(-5i64..5, len)
        )
            .prop_map(|(start, step, jitter)| {
                jitter
                    .iter()
                    .enumerate()
                    .map(|(i, j)| i64::from(start) + i as i64 * step + j)
                    .collect()
            }),
        // Anything, also decreasing and wrapping.
        prop::collection::vec(any::<i64>(), len),
    ]
}

fn cell_samples() -> impl Strategy<Value = Vec<Sample>> {
    prop_oneof![
        prop::collection::vec(value(), 1..150),
        walk(),
        (
            walk(),
            prop::collection::vec((any::<prop::sample::Index>(), value()), 0..4)
        )
            .prop_map(|(mut v, patches)| {
                for (i, x) in patches {
                    let i = i.index(v.len());
                    v[i] = x;
                }
                v
            }),
    ]
    .prop_flat_map(|values| {
        let len = values.len();
        (Just(values), timestamps(len))
    })
    .prop_map(|(values, times)| {
        times
            .into_iter()
            .zip(values)
            .map(|(t, v)| Sample::new(t, v))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cells_round_trip(samples in cell_samples(), base in any::<i64>()) {
        let cell = encode_cell(&samples, base);
        prop_assert_eq!(&decode(&cell, base).expect("decode"), &samples);
        let mut xor = vec![TAG_XOR];
        stratus_codec::encode_chunk(&samples, &mut xor);
        prop_assert!(xor_lower_bound(&samples) <= xor.len());
        match packed_only(&samples, base) {
            Some(p) => {
                prop_assert_eq!(&decode(&p, base).expect("decode packed"), &samples);
                // The smaller one, packed on a tie.
                prop_assert_eq!(&cell, if p.len() <= xor.len() { &p } else { &xor });
            }
            None => prop_assert_eq!(&cell, &xor),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), base in any::<i64>()) {
        let _ = decode(&bytes, base);
        let mut packed = vec![TAG_PACKED];
        packed.extend_from_slice(&bytes);
        let _ = decode(&packed, base);
    }

    #[test]
    fn corrupted_cells_never_panic(
        samples in cell_samples(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let cell = encode_cell(&samples, 0);
        let mut bad = cell.clone();
        for (i, bit) in flips {
            let i = i.index(bad.len());
            bad[i] ^= 1 << bit;
        }
        if let Ok(back) = decode(&bad, 0) {
            prop_assert!(back.len() <= MAX_SAMPLES.max(samples.len()));
        }
        let _ = decode(&cell[..cut.index(cell.len())], 0);
    }
}

#[test]
fn equal_aggregate_cells_become_refs() {
    let a = encode_cell(&regular(&[1.0, 2.0]), 0);
    let b = encode_cell(&regular(&[3.0, 4.0]), 0);
    let mut cells = vec![
        Some(a.clone()),
        Some(b.clone()),
        Some(a.clone()),
        Some(b.clone()),
        Some(a.clone()),
        Some(b.clone()),
    ];
    dedupe(&mut cells);
    assert_eq!(cells[2], Some(vec![TAG_REF, 0]));
    assert_eq!(cells[5], Some(vec![TAG_REF, 1]));
    for j in 0..cells.len() {
        let want = if j % 2 == 0 { &a } else { &b };
        assert_eq!(resolve(&cells, j).expect("resolve"), Some(want.as_slice()));
    }
    // Refs must name an earlier, present, non-ref cell, and only count
    // in downsampled blocks.
    let bad: [&[Option<Vec<u8>>]; 4] = [
        &[Some(vec![TAG_REF, 0])],
        &[Some(a.clone()), Some(vec![TAG_REF, 1])],
        &[None, Some(vec![TAG_REF, 0])],
        &[
            Some(a.clone()),
            Some(vec![TAG_REF, 0]),
            Some(vec![TAG_REF, 1]),
        ],
    ];
    for cells in bad {
        let j = cells.len() - 1;
        assert!(
            matches!(resolve(cells, j), Err(CellError::BadRef(_))),
            "{cells:?}"
        );
    }
    assert!(matches!(
        resolve(&[Some(a.clone()), Some(vec![TAG_REF, 0, 0])], 1),
        Err(CellError::BadRef(_))
    ));
    assert!(matches!(
        decode(&[TAG_REF, 0], 0),
        Err(CellError::BadRef(_))
    ));
}
