//! LEB128 varints, byte-compatible with Go's `encoding/binary`:
//! `PutUvarint` for unsigned values and `PutVarint` (zigzag) for signed ones.

/// The longest encoding of a `u64`: ten groups of seven bits.
pub const MAX_VARINT_LEN: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended before a byte without the continuation bit.
    Truncated,
    /// The value does not fit in 64 bits (Go's `Uvarint` rejects it too).
    Overflow,
}

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded as an unsigned varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Number of bytes `put_uvarint` writes for `v`.
#[inline]
pub fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Maps signed to unsigned so small magnitudes stay small: 0, -1, 1, -2, ...
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Reads an unsigned varint from bytes supplied one at a time by `next`,
/// which returns `None` when the input ends.
#[inline]
pub fn read_uvarint_with(mut next: impl FnMut() -> Option<u8>) -> Result<u64, VarintError> {
    let mut value = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let byte = next().ok_or(VarintError::Truncated)?;
        if i == MAX_VARINT_LEN - 1 && byte > 1 {
            return Err(VarintError::Overflow);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(VarintError::Overflow)
}

/// Reads an unsigned varint from the start of `buf`, returning the value and
/// the number of bytes it took.
pub fn read_uvarint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut used = 0;
    let value = read_uvarint_with(|| {
        let b = buf.get(used).copied();
        used += 1;
        b
    })?;
    Ok((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uvarint_bytes(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_uvarint(&mut out, v);
        out
    }

    fn varint_bytes(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn matches_go_encoding() {
        // Values and bytes as Go's binary.PutUvarint / PutVarint produce them.
        assert_eq!(uvarint_bytes(0), [0x00]);
        assert_eq!(uvarint_bytes(1), [0x01]);
        assert_eq!(uvarint_bytes(127), [0x7f]);
        assert_eq!(uvarint_bytes(128), [0x80, 0x01]);
        assert_eq!(uvarint_bytes(300), [0xac, 0x02]);
        assert_eq!(
            uvarint_bytes(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(-1), [0x01]);
        assert_eq!(varint_bytes(1), [0x02]);
        assert_eq!(varint_bytes(-64), [0x7f]);
        assert_eq!(varint_bytes(64), [0x80, 0x01]);
        assert_eq!(varint_bytes(1000), [0xd0, 0x0f]);
    }

    #[test]
    fn round_trips_extremes() {
        for v in [0, 1, 127, 128, 16383, 16384, u64::MAX - 1, u64::MAX] {
            let bytes = uvarint_bytes(v);
            assert_eq!(bytes.len(), uvarint_len(v), "length of {v}");
            assert_eq!(read_uvarint(&bytes), Ok((v, bytes.len())));
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX, i64::MIN + 1] {
            assert_eq!(unzigzag(zigzag(v)), v);
            let (u, _) = read_uvarint(&varint_bytes(v)).expect("valid varint");
            assert_eq!(unzigzag(u), v);
        }
    }

    #[test]
    fn rejects_truncated_and_overflowing_input() {
        assert_eq!(read_uvarint(&[]), Err(VarintError::Truncated));
        assert_eq!(read_uvarint(&[0x80, 0x80]), Err(VarintError::Truncated));
        // Ten bytes whose last one carries more than the 64th bit.
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(read_uvarint(&too_big), Err(VarintError::Overflow));
        // Eleven bytes.
        let mut too_long = vec![0x80; 10];
        too_long.push(0x00);
        assert_eq!(read_uvarint(&too_long), Err(VarintError::Overflow));
    }
}
