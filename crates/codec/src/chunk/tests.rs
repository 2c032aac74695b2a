use proptest::prelude::*;
use stratus_model::{is_stale_nan, Sample, STALE_NAN, STALE_NAN_BITS};

use super::*;

fn encode(samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_chunk(samples, &mut out);
    out
}

fn samples_from(pairs: &[(i64, u64)]) -> Vec<Sample> {
    pairs
        .iter()
        .map(|&(t, bits)| Sample::new(t, f64::from_bits(bits)))
        .collect()
}

/// Encodes with both entry points, checks they agree, decodes with both
/// `decode_chunk` and the iterator and checks the samples come back
/// bit-exact. Returns the encoded chunk.
fn assert_round_trip(samples: &[Sample]) -> Vec<u8> {
    let bytes = encode(samples);
    let mut encoder = ChunkEncoder::new();
    for s in samples {
        encoder.append(s.t, s.v);
    }
    assert_eq!(encoder.num_samples(), samples.len());
    let mut streamed = Vec::new();
    encoder.finish(&mut streamed);
    assert_eq!(streamed, bytes, "ChunkEncoder and encode_chunk disagree");

    let decoded = decode_chunk(&bytes).expect("valid chunk decodes");
    assert_eq!(decoded.len(), samples.len());
    for (i, (got, want)) in decoded.iter().zip(samples).enumerate() {
        assert_eq!(got.t, want.t, "timestamp of sample {i}");
        assert_eq!(
            got.v.to_bits(),
            want.v.to_bits(),
            "value bits of sample {i}"
        );
    }
    let iter = ChunkIter::new(&bytes).expect("header");
    assert_eq!(iter.num_samples(), samples.len());
    let iterated: Vec<Sample> = iter.collect::<Result<_>>().expect("iterates");
    assert_eq!(iterated, samples);
    bytes
}

/// Reads `n` bits at bit `offset` of `bytes`, most significant first. A
/// deliberately naive reader, independent of `BitReader`.
fn bits_at(bytes: &[u8], offset: usize, n: usize) -> u64 {
    (offset..offset + n).fold(0, |acc, i| {
        let bit = (bytes[i / 8] >> (7 - i % 8)) & 1;
        (acc << 1) | u64::from(bit)
    })
}

#[test]
fn empty_chunk_is_a_zero_count() {
    assert_eq!(assert_round_trip(&[]), [0x00]);
    let mut out = vec![0xaa];
    ChunkEncoder::new().finish(&mut out);
    assert_eq!(out, [0xaa, 0x00], "finish appends");
}

#[test]
fn one_sample_layout() {
    // Count 1; zigzag(1000) = 2000 = 0x7d0 as LEB128 is d0 0f; then the
    // 64 bits of 1.0 = 0x3ff0_0000_0000_0000.
    let bytes = assert_round_trip(&[Sample::new(1000, 1.0)]);
    assert_eq!(bytes, [0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn two_samples_layout() {
    // Sample 1: zigzag(+10) = 0x14, then `0` for an unchanged value,
    // padded to a byte.
    let bytes = assert_round_trip(&[Sample::new(1000, 1.0), Sample::new(1010, 1.0)]);
    assert_eq!(
        bytes,
        [0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x14, 0x00]
    );
}

#[test]
fn four_samples_layout() {
    let samples = [
        Sample::new(1000, 1.0),
        Sample::new(1010, 1.0),
        Sample::new(1020, 2.0),
        Sample::new(1030, 4.0),
    ];
    // Sample 2: dod 0 `0`; 1.0 ^ 2.0 = 0x7ff0_0000_0000_0000 has 1 leading
    // and 52 trailing zeros: `11`, 00001, 11 = 001011, then 11 one bits.
    // Sample 3: dod 0 `0`; 2.0 ^ 4.0 = 0x0010_0000_0000_0000 fits the
    // window: `10` and the 11 window bits 00000000001.
    // Bits after 0x14: 0 0 11 00001 001011 11111111111 | 0 10 00000000001
    //   = 00110000 10010111 11111111 11010000 00000001
    let bytes = assert_round_trip(&samples);
    assert_eq!(
        bytes,
        [0x04, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x14, 0x30, 0x97, 0xff, 0xd0, 0x01]
    );
    // Dropping the last sample leaves its padding: 0xc0 with six zero bits.
    let three = assert_round_trip(&samples[..3]);
    assert_eq!(three[12..], [0x30, 0x97, 0xff, 0xc0]);
}

#[test]
fn special_values_are_bit_exact() {
    let specials = [
        STALE_NAN_BITS,
        f64::NAN.to_bits(),
        0x7ff8_0000_0000_0001, // quiet NaN with payload
        0x7ff0_0000_0000_0001, // signalling NaN
        0xfff8_0000_0000_0000, // negative NaN
        u64::MAX,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        0.0f64.to_bits(),
        (-0.0f64).to_bits(),
        f64::MIN_POSITIVE.to_bits(),
        1, // smallest subnormal
        f64::MAX.to_bits(),
        f64::MIN.to_bits(),
    ];
    // Each special after every other one, so every XOR shape appears.
    let mut pairs = Vec::new();
    for (i, &a) in specials.iter().enumerate() {
        for &b in &specials {
            pairs.push((pairs.len() as i64 * 15_000, a));
            pairs.push((pairs.len() as i64 * 15_000, b));
        }
        pairs.push((
            pairs.len() as i64 * 15_000,
            specials[(i + 1) % specials.len()],
        ));
    }
    assert_round_trip(&samples_from(&pairs));

    let stale =
        decode_chunk(&encode(&[Sample::new(1, 1.0), Sample::new(2, STALE_NAN)])).expect("decodes");
    assert!(is_stale_nan(stale[1].v));
    assert_ne!(
        encode(&[Sample::new(0, 0.0)]),
        encode(&[Sample::new(0, -0.0)])
    );
    let zeros =
        decode_chunk(&encode(&[Sample::new(0, 0.0), Sample::new(1, -0.0)])).expect("decodes");
    assert!(zeros[0].v.is_sign_positive() && zeros[1].v.is_sign_negative());
}

#[test]
fn any_timestamps_round_trip() {
    let cases: [&[i64]; 6] = [
        &[i64::MIN],
        &[i64::MAX],
        &[i64::MIN, i64::MAX, i64::MIN, 0, -1, i64::MAX, i64::MAX],
        &[100, 50, 0, -50, -100],
        &[5, 5, 5, 5],
        &[0, i64::MAX, 1, i64::MIN + 1, -1],
    ];
    for ts in cases {
        let samples: Vec<Sample> = ts.iter().map(|&t| Sample::new(t, t as f64)).collect();
        assert_round_trip(&samples);
    }
}

#[test]
fn delta_of_delta_buckets() {
    // Samples at 0, 100 and 200 + dod, all 0.0. Sample 2's timestamp field
    // starts after the count byte, sample 0 (8 + 64 bits) and sample 1
    // (two varint bytes for zigzag(100) = 200, and one value bit).
    const DOD_BIT: usize = 8 + 8 + 64 + 16 + 1;
    // (dod, control bits, control width, payload width), per the spec's
    // ranges -(2^(n-1) - 1) ..= 2^(n-1).
    let cases: &[(i64, u64, usize, usize)] = &[
        (0, 0b0, 1, 0),
        (1, 0b10, 2, 14),
        (-1, 0b10, 2, 14),
        (8192, 0b10, 2, 14),
        (-8191, 0b10, 2, 14),
        (8193, 0b110, 3, 17),
        (-8192, 0b110, 3, 17),
        (65535, 0b110, 3, 17),
        (-65535, 0b110, 3, 17),
        (65536, 0b110, 3, 17),
        (65537, 0b1110, 4, 20),
        (-65536, 0b1110, 4, 20),
        (524_288, 0b1110, 4, 20),
        (-524_287, 0b1110, 4, 20),
        (524_289, 0b1111, 4, 64),
        (-524_288, 0b1111, 4, 64),
        (i64::MAX, 0b1111, 4, 64),
        (i64::MIN, 0b1111, 4, 64),
    ];
    for &(dod, control, control_bits, payload_bits) in cases {
        let samples = [
            Sample::new(0, 0.0),
            Sample::new(100, 0.0),
            Sample::new(200i64.wrapping_add(dod), 0.0),
        ];
        let bytes = assert_round_trip(&samples);
        assert_eq!(
            bits_at(&bytes, DOD_BIT, control_bits),
            control,
            "control bits for dod {dod}"
        );
        let raw = bits_at(&bytes, DOD_BIT + control_bits, payload_bits);
        let value = if payload_bits == 64 || payload_bits == 0 {
            raw as i64
        } else if raw > 1 << (payload_bits - 1) {
            raw as i64 - (1 << payload_bits)
        } else {
            raw as i64
        };
        assert_eq!(value, dod, "payload for dod {dod}");
        // One value bit, then only zero padding to the end of the byte.
        let end = DOD_BIT + control_bits + payload_bits + 1;
        assert_eq!(bytes.len(), end.div_ceil(8), "length for dod {dod}");
    }
}

#[test]
fn regular_scrapes_take_two_bits_per_sample() {
    let samples: Vec<Sample> = (0..120)
        .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, 42.0))
        .collect();
    let bytes = assert_round_trip(&samples);
    // Count: one byte. Sample 0: zigzag(1.7e12) has 42 bits, six varint
    // bytes, then 64 value bits. Sample 1: zigzag(15000) has 15 bits, three
    // bytes, then one value bit. Then two bits per sample.
    assert_eq!(
        bytes.len(),
        1 + (48 + 64 + 24 + 1 + 118 * 2usize).div_ceil(8)
    );
}

#[test]
fn rejects_bad_headers() {
    assert_eq!(
        decode_chunk(&[]),
        Err(CodecError::ChunkHeaderTruncated { len: 0 })
    );
    assert_eq!(
        decode_chunk(&[0x80, 0x80]),
        Err(CodecError::ChunkHeaderTruncated { len: 2 })
    );
    assert_eq!(
        decode_chunk(&[0xff; 11]),
        Err(CodecError::ChunkHeaderOverflow)
    );
    // 2^60 samples claimed with ten bytes of data: rejected up front.
    let mut huge = Vec::new();
    put_uvarint(&mut huge, 1 << 60);
    huge.extend_from_slice(&[0; 10]);
    assert!(matches!(
        ChunkIter::new(&huge),
        Err(CodecError::ChunkTooShort {
            claimed: 0x1000_0000_0000_0000,
            data_bytes: 10,
            ..
        })
    ));
    let mut max = Vec::new();
    put_uvarint(&mut max, u64::MAX);
    assert!(matches!(
        decode_chunk(&max),
        Err(CodecError::ChunkTooShort { .. })
    ));
}

#[test]
fn rejects_trailing_data() {
    assert_eq!(
        decode_chunk(&[0x00, 0x00]),
        Err(CodecError::ChunkTrailingData {
            num_samples: 0,
            extra_bits: 8
        })
    );
    let mut one = encode(&[Sample::new(1, 1.0)]);
    one.push(0);
    assert_eq!(
        decode_chunk(&one),
        Err(CodecError::ChunkTrailingData {
            num_samples: 1,
            extra_bits: 8
        })
    );
    let mut padded = encode(&[
        Sample::new(0, 1.0),
        Sample::new(10, 1.0),
        Sample::new(20, 2.0),
    ]);
    let last = padded.len() - 1;
    assert_eq!(padded[last] & 0x3f, 0, "six padding bits");
    padded[last] |= 0x01;
    assert_eq!(
        decode_chunk(&padded),
        Err(CodecError::ChunkTrailingData {
            num_samples: 3,
            extra_bits: 6
        })
    );
    // The iterator reports it in place of the last sample, then stops.
    let mut iter = ChunkIter::new(&padded).expect("header");
    assert!(matches!(iter.next(), Some(Ok(_))));
    assert!(matches!(iter.next(), Some(Ok(_))));
    assert!(matches!(
        iter.next(),
        Some(Err(CodecError::ChunkTrailingData { .. }))
    ));
    assert!(iter.next().is_none());
}

#[test]
fn rejects_bad_value_windows() {
    // Two samples, t0 = 0 and value 0.0, t1 delta +1, then `10`: reuse of
    // a window that was never set.
    let mut no_window = vec![0x02, 0x00];
    no_window.extend_from_slice(&[0; 8]);
    no_window.extend_from_slice(&[0x02, 0b1000_0000]);
    assert_eq!(
        decode_chunk(&no_window),
        Err(CodecError::ChunkNoValueWindow { sample: 1 })
    );
    // `11`, 31 leading zeros, 0 = 64 significant bits: more than 64.
    let mut too_wide = vec![0x02, 0x00];
    too_wide.extend_from_slice(&[0; 8]);
    too_wide.extend_from_slice(&[0x02, 0b1111_1110, 0x00]);
    assert_eq!(
        decode_chunk(&too_wide),
        Err(CodecError::ChunkBadValueWindow {
            sample: 1,
            leading: 31,
            significant: 64
        })
    );
}

#[test]
fn every_truncation_fails() {
    let samples: Vec<Sample> = (0..50)
        .map(|i| Sample::new(i * 15_000 + (i % 7) * 13, (i * i) as f64 * 0.25))
        .collect();
    let bytes = assert_round_trip(&samples);
    for len in 0..bytes.len() {
        assert!(
            decode_chunk(&bytes[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
    let mut iter = ChunkIter::new(&bytes[..bytes.len() / 2]).expect("header intact");
    let results: Vec<_> = iter.by_ref().collect();
    assert!(matches!(
        results.last(),
        Some(Err(CodecError::ChunkTruncated { .. }))
    ));
    assert!(iter.next().is_none(), "fused after an error");
}

/// Scrape-like series: timestamps ~15 s apart with jitter, values a random
/// walk, a counter, or a constant, sometimes stale.
fn scrape_series() -> impl Strategy<Value = Vec<Sample>> {
    let start = 1_600_000_000_000i64..1_800_000_000_000;
    let steps = prop::collection::vec((-500i64..500, -1000i32..1000, 0u32..100), 0..300);
    (start, steps, 0u8..3).prop_map(|(start, steps, kind)| {
        let mut t = start;
        let mut v = 0.0f64;
        steps
            .into_iter()
            .map(|(jitter, delta, stale)| {
                t += 15_000 + jitter;
                v = match kind {
                    0 => v + f64::from(delta) / 8.0,
                    1 => v + f64::from(delta.unsigned_abs()),
                    _ => 1.0,
                };
                Sample::new(t, if stale == 0 { STALE_NAN } else { v })
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn round_trips_arbitrary_pairs(pairs in prop::collection::vec(any::<(i64, u64)>(), 0..300)) {
        assert_round_trip(&samples_from(&pairs));
    }

    #[test]
    fn round_trips_small_deltas(
        pairs in prop::collection::vec((-70_000i64..70_000, prop::sample::select(
            vec![0u64, 1, STALE_NAN_BITS, 0x3ff0_0000_0000_0000, 0x8000_0000_0000_0000, u64::MAX],
        )), 0..300),
    ) {
        // Timestamps as a running sum of small steps, so every dod bucket
        // and every XOR shape between special values shows up.
        let mut t = 0i64;
        let pairs: Vec<(i64, u64)> = pairs.into_iter().map(|(d, v)| { t += d; (t, v) }).collect();
        assert_round_trip(&samples_from(&pairs));
    }

    #[test]
    fn round_trips_scrape_data(samples in scrape_series()) {
        assert_round_trip(&samples);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_chunk(&bytes);
        if let Ok(iter) = ChunkIter::new(&bytes) {
            prop_assert!(iter.num_samples() <= bytes.len() * 4 + 1);
            for s in iter {
                if s.is_err() { break; }
            }
        }
    }

    #[test]
    fn corrupted_chunks_never_panic(samples in scrape_series(), at in any::<usize>(), xor in 1u8..=255) {
        let mut bytes = encode(&samples);
        let i = at % bytes.len();
        bytes[i] ^= xor;
        let _ = decode_chunk(&bytes);
    }

    #[test]
    fn a_snapshot_of_an_open_encoder_decodes_to_what_it_holds(samples in scrape_series()) {
        let mut enc = ChunkEncoder::new();
        for (i, s) in samples.iter().enumerate() {
            enc.append(s.t, s.v);
            let mut bytes = Vec::new();
            enc.snapshot(&mut bytes);
            let decoded = decode_chunk(&bytes).expect("a snapshot is a whole chunk");
            prop_assert_eq!(decoded.len(), i + 1);
            prop_assert_eq!(decoded.last().map(|d| (d.t, d.v.to_bits())), Some((s.t, s.v.to_bits())));
        }
        let mut snapshot = Vec::new();
        enc.snapshot(&mut snapshot);
        let mut finished = Vec::new();
        enc.finish(&mut finished);
        prop_assert_eq!(snapshot, finished);
    }

    #[test]
    fn truncated_chunks_fail(samples in scrape_series(), at in any::<usize>()) {
        let bytes = encode(&samples);
        let len = at % bytes.len();
        prop_assert!(decode_chunk(&bytes[..len]).is_err());
    }
}
