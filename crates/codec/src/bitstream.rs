//! A bit stream written and read most significant bit first, the way
//! Prometheus's `bstream` lays bits into bytes.

/// Appends bits to a byte vector. Pending bits wait in a 64-bit
/// accumulator, so a write is a few shifts and, every 64 bits, one
/// `extend_from_slice`.
#[derive(Debug, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    /// Pending bits, aligned to the most significant end.
    acc: u64,
    /// How many bits of `acc` are pending, always below 64.
    pending: u32,
}

impl BitWriter {
    /// Writes after whatever `out` already holds.
    pub fn new(out: Vec<u8>) -> Self {
        Self {
            out,
            acc: 0,
            pending: 0,
        }
    }

    /// Bits written so far, including those already in the vector before.
    #[cfg(test)]
    pub fn bit_len(&self) -> u64 {
        self.out.len() as u64 * 8 + u64::from(self.pending)
    }

    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v`, most significant first; `n` is at
    /// most 64.
    #[inline]
    pub fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        let space = 64 - self.pending;
        if n < space {
            self.acc |= v << (space - n);
            self.pending += n;
        } else {
            // `n >= space >= 1`, so `rest` is at most 63.
            let rest = n - space;
            self.acc |= v >> rest;
            self.out.extend_from_slice(&self.acc.to_be_bytes());
            self.acc = if rest == 0 { 0 } else { v << (64 - rest) };
            self.pending = rest;
        }
    }

    /// Writes a whole byte (eight bits), aligned or not.
    #[inline]
    pub fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }

    /// Appends what [`BitWriter::finish`] would return to `out`, without
    /// finishing.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.out);
        let bytes = self.pending.div_ceil(8) as usize;
        out.extend_from_slice(&self.acc.to_be_bytes()[..bytes]);
    }

    /// Bytes allocated for the written bits.
    pub fn capacity(&self) -> usize {
        self.out.capacity()
    }

    /// Flushes pending bits, padding the last byte with zeros, and returns
    /// the vector.
    pub fn finish(mut self) -> Vec<u8> {
        let bytes = self.pending.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_be_bytes()[..bytes]);
        self.out
    }
}

/// Reads bits from a byte slice, most significant first.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position of the next bit.
    pos: u64,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Position of the next bit to read.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Total number of bits in the input.
    pub fn total_bits(&self) -> u64 {
        self.data.len() as u64 * 8
    }

    /// Bits left to read.
    pub fn remaining(&self) -> u64 {
        self.total_bits() - self.pos
    }

    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get((self.pos / 8) as usize)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    /// Reads `n` bits (at most 64) as the low bits of the result, or `None`
    /// without moving when fewer than `n` bits remain.
    #[inline]
    pub fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Some(0);
        }
        if u64::from(n) > self.remaining() {
            return None;
        }
        let start = (self.pos / 8) as usize;
        let offset = (self.pos % 8) as u32;
        // `offset + n <= 71`, so the bits sit inside the first nine bytes.
        let mut window = [0u8; 16];
        let avail = (self.data.len() - start).min(window.len());
        window[..avail].copy_from_slice(&self.data[start..start + avail]);
        let w = u128::from_be_bytes(window);
        let v = ((w << offset) >> (128 - n)) as u64;
        self.pos += u64::from(n);
        Some(v)
    }

    #[inline]
    pub fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// True when every bit from the current position to the end is zero,
    /// i.e. only the padding of the final byte (if anything) is left.
    pub fn rest_is_padding(&self) -> bool {
        if self.remaining() >= 8 {
            return false;
        }
        let rem = self.remaining() as u32;
        rem == 0
            || self
                .data
                .last()
                .is_some_and(|b| b & ((1u8 << rem) - 1) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_most_significant_bit_first() {
        let mut w = BitWriter::new(Vec::new());
        w.write_bit(true);
        w.write_bits(0b01, 2);
        w.write_bits(0xff, 3); // only the low three bits count
        assert_eq!(w.bit_len(), 6);
        assert_eq!(w.finish(), [0b1011_1100]);
    }

    #[test]
    fn keeps_existing_bytes_and_crosses_word_boundaries() {
        let mut w = BitWriter::new(vec![0xaa]);
        w.write_bits(0b101, 3);
        w.write_bits(u64::MAX, 64);
        w.write_bits(0, 5);
        assert_eq!(w.bit_len(), 8 + 72);
        let bytes = w.finish();
        assert_eq!(
            bytes,
            [
                0xaa,
                0b1011_1111,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0b1110_0000
            ]
        );
    }

    #[test]
    fn reads_back_what_was_written() {
        let widths = [1u32, 7, 64, 3, 13, 64, 8, 1, 63, 2, 17, 20];
        let values: Vec<u64> = widths
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let v = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1);
                if n == 64 {
                    v
                } else {
                    v & ((1 << n) - 1)
                }
            })
            .collect();
        let mut w = BitWriter::new(Vec::new());
        for (&v, &n) in values.iter().zip(&widths) {
            w.write_bits(v, n);
        }
        let total: u32 = widths.iter().sum();
        let bytes = w.finish();
        assert_eq!(bytes.len(), total.div_ceil(8) as usize);
        let mut r = BitReader::new(&bytes);
        for (&v, &n) in values.iter().zip(&widths) {
            assert_eq!(r.read_bits(n), Some(v), "{n}-bit field");
        }
        assert!(r.rest_is_padding());
        assert_eq!(r.remaining(), u64::from(8 - total % 8));
        assert_eq!(r.read_bits(8 - total % 8 + 1), None);
    }

    #[test]
    fn detects_short_input_and_nonzero_padding() {
        let mut r = BitReader::new(&[0b1000_0001]);
        assert_eq!(r.read_bit(), Some(true));
        assert!(!r.rest_is_padding());
        assert_eq!(r.read_bits(8), None);
        assert_eq!(r.position(), 1, "a failed read does not move");
        assert_eq!(r.read_bits(6), Some(0));
        assert!(!r.rest_is_padding());
        assert_eq!(r.read_bit(), Some(true));
        assert!(r.rest_is_padding());
        assert_eq!(r.read_bit(), None);
        let two = [0u8, 0u8];
        let mut r = BitReader::new(&two);
        assert_eq!(r.read_bits(3), Some(0));
        assert!(!r.rest_is_padding(), "a whole zero byte is not padding");
    }
}
