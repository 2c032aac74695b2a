//! Chunks: Gorilla / Prometheus XOR compression of `(timestamp, value)`
//! pairs. The layout is specified in `docs/format/chunk.md`.
//!
//! Round trips are exact for every input: any `i64` timestamps in any order
//! (deltas and delta-of-deltas use wrapping arithmetic) and every `f64` bit
//! pattern, NaN payloads such as the staleness marker included.

use stratus_model::Sample;

use crate::bitstream::{BitReader, BitWriter};
use crate::error::{CodecError, Result};
use crate::varint::{put_uvarint, read_uvarint, read_uvarint_with, unzigzag, zigzag, VarintError};

/// Marks "no value window yet" in `XorState::leading`.
const NO_WINDOW: u32 = u32::MAX;

/// Leading-zero counts are stored in five bits, so larger counts are capped.
const MAX_LEADING: u32 = 31;

/// Bits the smallest encodings take: sample 0 is a one-byte varint plus 64
/// value bits, sample 1 a one-byte varint plus one bit, later samples two
/// bits. Used to reject absurd sample counts before decoding.
const MIN_BITS_FIRST: u64 = 8 + 64;
const MIN_BITS_SECOND: u64 = 8 + 1;
const MIN_BITS_LATER: u64 = 1 + 1;

/// Encoder state after the last appended sample.
#[derive(Debug, Clone, Copy)]
struct XorState {
    num: usize,
    t: i64,
    delta: i64,
    v: u64,
    leading: u32,
    trailing: u32,
}

impl XorState {
    fn new() -> Self {
        Self {
            num: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    #[inline]
    fn append(&mut self, w: &mut BitWriter, t: i64, v: f64) {
        let v = v.to_bits();
        match self.num {
            0 => {
                write_varint_bits(w, t);
                w.write_bits(v, 64);
            }
            1 => {
                self.delta = t.wrapping_sub(self.t);
                write_varint_bits(w, self.delta);
                self.write_value(w, v);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                write_dod(w, delta.wrapping_sub(self.delta));
                self.delta = delta;
                self.write_value(w, v);
            }
        }
        self.t = t;
        self.v = v;
        self.num += 1;
    }

    #[inline]
    fn write_value(&mut self, w: &mut BitWriter, v: u64) {
        let xor = v ^ self.v;
        if xor == 0 {
            w.write_bit(false);
            return;
        }
        let leading = xor.leading_zeros().min(MAX_LEADING);
        let trailing = xor.trailing_zeros();
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            w.write_bits(0b10, 2);
            w.write_bits(xor >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let significant = 64 - leading - trailing;
        w.write_bits(0b11, 2);
        w.write_bits(u64::from(leading), 5);
        // 64 significant bits do not fit in six bits and are written as 0.
        w.write_bits(u64::from(significant % 64), 6);
        w.write_bits(xor >> trailing, significant);
    }
}

/// Writes a zigzag varint as whole bytes into the bit stream.
#[inline]
fn write_varint_bits(w: &mut BitWriter, v: i64) {
    let mut u = zigzag(v);
    while u >= 0x80 {
        w.write_byte(u as u8 | 0x80);
        u >>= 7;
    }
    w.write_byte(u as u8);
}

/// Whether `dod` falls in the bucket of `n` bits. The range is
/// `-(2^(n-1) - 1) ..= 2^(n-1)`, as in Prometheus.
#[inline]
fn fits(dod: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= dod && dod <= half
}

#[inline]
fn write_dod(w: &mut BitWriter, dod: i64) {
    let bits = dod as u64;
    if dod == 0 {
        w.write_bit(false);
    } else if fits(dod, 14) {
        w.write_bits(0b10, 2);
        w.write_bits(bits, 14);
    } else if fits(dod, 17) {
        w.write_bits(0b110, 3);
        w.write_bits(bits, 17);
    } else if fits(dod, 20) {
        w.write_bits(0b1110, 4);
        w.write_bits(bits, 20);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(bits, 64);
    }
}

/// Builds one chunk sample by sample. `append` is O(1) and allocates only
/// when the internal buffer grows.
#[derive(Debug)]
pub struct ChunkEncoder {
    bits: BitWriter,
    state: XorState,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> Self {
        Self {
            bits: BitWriter::new(Vec::new()),
            state: XorState::new(),
        }
    }

    /// Appends a sample. Any timestamp is accepted, also one not after the
    /// previous; callers that need order check it themselves.
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) {
        self.state.append(&mut self.bits, t, v);
    }

    pub fn num_samples(&self) -> usize {
        self.state.num
    }

    /// Appends the chunk as it stands to `out`, leaving the encoder open
    /// for more samples.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.state.num as u64);
        self.bits.write_to(out);
    }

    /// Bytes the encoder holds (for memory accounting).
    pub fn allocated_bytes(&self) -> usize {
        self.bits.capacity()
    }

    /// Appends the encoded chunk to `out`.
    pub fn finish(self, out: &mut Vec<u8>) {
        put_uvarint(out, self.state.num as u64);
        out.extend_from_slice(&self.bits.finish());
    }
}

/// Appends `samples` encoded as one chunk to `out`.
pub fn encode_chunk(samples: &[Sample], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let mut bits = BitWriter::new(std::mem::take(out));
    let mut state = XorState::new();
    for s in samples {
        state.append(&mut bits, s.t, s.v);
    }
    *out = bits.finish();
}

/// Decodes all samples of a chunk; fails on truncation, on corrupt fields
/// and when anything but zero padding follows the last sample.
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    decode_chunk_into(bytes, &mut samples)?;
    Ok(samples)
}

/// [`decode_chunk`] appending to `out` (which keeps what it held, plus the
/// samples decoded before an error).
pub fn decode_chunk_into(bytes: &[u8], out: &mut Vec<Sample>) -> Result<()> {
    let iter = ChunkIter::new(bytes)?;
    // The count was checked against the input length in `new`.
    out.reserve(iter.num_samples());
    for s in iter {
        out.push(s?);
    }
    Ok(())
}

/// Iterates over the samples of a chunk. After an error it yields nothing
/// more. The check for trailing data happens when the last sample is
/// decoded, so a chunk with trailing garbage yields an error in its place.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    bits: BitReader<'a>,
    num: usize,
    read: usize,
    failed: bool,
    t: i64,
    delta: i64,
    v: u64,
    leading: u32,
    trailing: u32,
}

impl<'a> ChunkIter<'a> {
    /// Reads the chunk header and checks the sample count against the input
    /// length.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        let (claimed, header_len) = read_uvarint(bytes).map_err(|e| match e {
            VarintError::Truncated => CodecError::ChunkHeaderTruncated { len: bytes.len() },
            VarintError::Overflow => CodecError::ChunkHeaderOverflow,
        })?;
        let data = &bytes[header_len..];
        let min_bits = match claimed {
            0 => 0,
            1 => MIN_BITS_FIRST,
            n => (n - 2)
                .saturating_mul(MIN_BITS_LATER)
                .saturating_add(MIN_BITS_FIRST + MIN_BITS_SECOND),
        };
        let too_short = CodecError::ChunkTooShort {
            claimed,
            min_bits,
            data_bytes: data.len(),
        };
        if min_bits > data.len() as u64 * 8 {
            return Err(too_short);
        }
        let num = usize::try_from(claimed).map_err(|_| too_short)?;
        if num == 0 && !data.is_empty() {
            return Err(CodecError::ChunkTrailingData {
                num_samples: 0,
                extra_bits: data.len() as u64 * 8,
            });
        }
        Ok(Self {
            bits: BitReader::new(data),
            num,
            read: 0,
            failed: false,
            t: 0,
            delta: 0,
            v: 0,
            leading: NO_WINDOW,
            trailing: 0,
        })
    }

    /// The sample count from the chunk header.
    pub fn num_samples(&self) -> usize {
        self.num
    }

    fn decode_next(&mut self) -> Result<Sample> {
        match self.read {
            0 => {
                self.t = self.read_varint("timestamp")?;
                self.v = self.read_bits(64, "value")?;
            }
            1 => {
                self.delta = self.read_varint("timestamp delta")?;
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        if self.read == self.num && !self.bits.rest_is_padding() {
            return Err(CodecError::ChunkTrailingData {
                num_samples: self.num as u64,
                extra_bits: self.bits.remaining(),
            });
        }
        Ok(Sample::new(self.t, f64::from_bits(self.v)))
    }

    fn truncated(&self, what: &'static str, bits: u64) -> CodecError {
        CodecError::ChunkTruncated {
            what,
            sample: self.read as u64,
            needed: bits.saturating_sub(self.bits.remaining()),
            bit_offset: self.bits.position(),
            total_bits: self.bits.total_bits(),
        }
    }

    #[inline]
    fn read_bit(&mut self, what: &'static str) -> Result<bool> {
        match self.bits.read_bit() {
            Some(b) => Ok(b),
            None => Err(self.truncated(what, 1)),
        }
    }

    #[inline]
    fn read_bits(&mut self, n: u32, what: &'static str) -> Result<u64> {
        match self.bits.read_bits(n) {
            Some(b) => Ok(b),
            None => Err(self.truncated(what, u64::from(n))),
        }
    }

    fn read_varint(&mut self, what: &'static str) -> Result<i64> {
        let bits = &mut self.bits;
        match read_uvarint_with(|| bits.read_byte()) {
            Ok(u) => Ok(unzigzag(u)),
            Err(VarintError::Truncated) => Err(self.truncated(what, 8)),
            Err(VarintError::Overflow) => Err(CodecError::ChunkVarintOverflow {
                what,
                sample: self.read as u64,
            }),
        }
    }

    #[inline]
    fn read_dod(&mut self) -> Result<i64> {
        let mut ones = 0;
        while ones < 4 && self.read_bit("timestamp delta-of-delta")? {
            ones += 1;
        }
        let size = match ones {
            0 => return Ok(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => return Ok(self.read_bits(64, "timestamp delta-of-delta")? as i64),
        };
        let bits = self.read_bits(size, "timestamp delta-of-delta")? as i64;
        // The bucket holds -(2^(size-1) - 1) ..= 2^(size-1); larger raw
        // values are negative numbers in two's complement.
        if bits > 1 << (size - 1) {
            Ok(bits - (1 << size))
        } else {
            Ok(bits)
        }
    }

    #[inline]
    fn read_value(&mut self) -> Result<()> {
        if !self.read_bit("value control")? {
            return Ok(());
        }
        if self.read_bit("value control")? {
            let leading = self.read_bits(5, "value leading-zero count")? as u32;
            let significant = match self.read_bits(6, "value significant-bit count")? {
                0 => 64,
                n => n as u32,
            };
            if leading + significant > 64 {
                return Err(CodecError::ChunkBadValueWindow {
                    sample: self.read as u64,
                    leading,
                    significant,
                });
            }
            self.leading = leading;
            self.trailing = 64 - leading - significant;
        } else if self.leading == NO_WINDOW {
            return Err(CodecError::ChunkNoValueWindow {
                sample: self.read as u64,
            });
        }
        let significant = 64 - self.leading - self.trailing;
        let xor = self.read_bits(significant, "value bits")?;
        self.v ^= xor << self.trailing;
        Ok(())
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.read == self.num {
            return None;
        }
        let next = self.decode_next();
        self.failed = next.is_err();
        Some(next)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            (0, Some(0))
        } else {
            (0, Some(self.num - self.read))
        }
    }
}

impl std::iter::FusedIterator for ChunkIter<'_> {}

#[cfg(test)]
mod tests;
