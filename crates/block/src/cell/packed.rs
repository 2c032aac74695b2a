//! The `packed` cell encoding (tag `0x01`, `docs/format/block.md`):
//! timestamps as delta-of-delta and values as decimal-scaled integers
//! (`v = n / 10^e`, checked bit for bit), each stream bit-packed with a
//! frame of reference; values that do not fit are kept as raw bits.
//!
//! Node exporter values are mostly integers (bytes, counts) or decimals
//! with few digits (`/proc/loadavg`, nanosecond durations in seconds):
//! XOR spends 10 to 50 bits on each of their changes, this spends about
//! the bits of the change.

use stratus_codec::varint::{put_uvarint, put_varint, read_uvarint, unzigzag, uvarint_len, zigzag};
use stratus_model::Sample;

/// The most samples one packed cell holds; longer runs are written as XOR.
/// Bounds what a decoder allocates for a cell it has not checked yet.
pub(crate) const MAX_SAMPLES: usize = 1 << 16;

/// Largest decimal exponent `e`: `10^18` and every `n` below `2^63` are
/// exact or rounded the same way by encoder and decoder.
const MAX_EXPONENT: usize = 18;

const POW10: [f64; MAX_EXPONENT + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Value header: bits 0-4 the exponent, bit 5 set for delta order.
const EXPONENT_MASK: u8 = 0x1f;
const ORDER_DELTA: u8 = 0x20;

/// `n / 10^e` as the decoder computes it (`n` itself for `e = 0`).
#[inline]
fn unscale(n: i64, e: usize) -> f64 {
    if e == 0 {
        n as f64
    } else {
        n as f64 / POW10[e]
    }
}

/// The integer `n` with `unscale(n, e)` bit-identical to `v`, if any.
#[inline]
fn scale(v: f64, e: usize) -> Option<i64> {
    let s = v * POW10[e];
    // Also false for NaN; ±Inf and huge values have no exact `n`.
    if s.is_nan() || s.abs() >= 9.0e18 {
        return None;
    }
    // Round half away from zero by truncation (`f64::round` is a libm
    // call on baseline x86-64). Only a candidate: the check decides.
    let n = (s + 0.5f64.copysign(s)) as i64;
    (unscale(n, e).to_bits() == v.to_bits()).then_some(n)
}

/// The smallest exponent with which every value but at most `limit`
/// scales exactly, or `None` when more than `limit` values do not.
fn exponent(samples: &[Sample], limit: usize) -> Option<usize> {
    let mut e = 0;
    let mut misses = 0;
    for s in samples {
        if scale(s.v, e).is_some() {
            continue;
        }
        // A value exact at `e` stays exact at any larger exponent (same
        // real quotient, correctly rounded), as long as `n` stays below
        // 2^53; the encoding pass below re-checks every value anyway.
        match (e + 1..=MAX_EXPONENT).find(|&x| scale(s.v, x).is_some()) {
            Some(x) => e = x,
            None => {
                misses += 1;
                if misses > limit {
                    return None;
                }
            }
        }
    }
    Some(e)
}

/// Greatest common divisor (`gcd(0, x) = x`).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

/// A frame of reference over some items: every item is
/// `min + factor * x` with `x` below `2^width`.
#[derive(Debug, Clone, Copy)]
struct FrameOf {
    min: i64,
    factor: u64,
    width: u32,
}

impl FrameOf {
    fn new(items: impl Iterator<Item = i64> + Clone) -> Self {
        let min = items.clone().min().unwrap_or(0);
        let mut factor = 0u64;
        let mut max = 0u64;
        for x in items {
            let d = (x as u64).wrapping_sub(min as u64);
            max = max.max(d);
            if factor != 1 {
                factor = gcd(factor, d);
            }
        }
        if factor == 0 {
            return Self {
                min,
                factor: 1,
                width: 0,
            };
        }
        Self {
            min,
            factor,
            width: 64 - (max / factor).leading_zeros(),
        }
    }

    /// Bytes of the stream for `count` items.
    fn len(&self, count: usize) -> usize {
        if count == 0 {
            return 0;
        }
        let factor = if self.width == 0 {
            0
        } else {
            uvarint_len(self.factor)
        };
        uvarint_len(zigzag(self.min)) + 1 + factor + (count * self.width as usize).div_ceil(8)
    }
}

/// Appends the frame-of-reference stream of `items` (which `frame` was
/// made from): `min <varint>`, `width <u8>`, and when `width > 0`
/// `factor <uvarint>` and each `(x - min) / factor` in `width` bits, least
/// significant bit first, zero-padded to a byte. Nothing at all for no
/// items.
fn put_frame(out: &mut Vec<u8>, frame: &FrameOf, items: impl Iterator<Item = i64>) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        return;
    }
    put_varint(out, frame.min);
    out.push(frame.width as u8);
    if frame.width == 0 {
        return;
    }
    put_uvarint(out, frame.factor);
    let (width, factor, min) = (frame.width, frame.factor, frame.min as u64);
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for x in items {
        let d = (x as u64).wrapping_sub(min);
        let d = if factor == 1 { d } else { d / factor };
        acc |= u128::from(d) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    let tail = (bits as usize).div_ceil(8);
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..tail]);
}

/// Encodes `samples` (any timestamps, any values) relative to `base`.
/// Returns false, leaving `out` as it was, when the cell would hold more
/// than [`MAX_SAMPLES`] or more than an eighth of its values do not scale
/// (XOR is the better encoding then).
pub(crate) fn encode(samples: &[Sample], base: i64, out: &mut Vec<u8>) -> bool {
    let n = samples.len();
    if n == 0 || n > MAX_SAMPLES {
        return false;
    }
    let limit = n / 8 + 1;
    let Some(e) = exponent(samples, limit) else {
        return false;
    };
    // Values that do not scale keep their raw bits; in the integer stream
    // they repeat the previous integer (the first one before it).
    let mut ints: Vec<i64> = Vec::with_capacity(n);
    let mut misses: Vec<usize> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        match scale(s.v, e) {
            Some(x) => {
                if ints.len() < i {
                    // Leading misses take the first integer.
                    ints.resize(i, x);
                }
                ints.push(x);
            }
            None => {
                misses.push(i);
                if misses.len() > limit {
                    return false;
                }
                if let Some(&prev) = ints.last() {
                    ints.push(prev);
                }
            }
        }
    }
    ints.resize(n, 0);

    let start = out.len();
    put_uvarint(out, n as u64);
    let t = |i: usize| samples[i].t;
    put_varint(out, t(0).wrapping_sub(base));
    if n >= 2 {
        put_varint(out, t(1).wrapping_sub(t(0)));
    }
    let dods = (2..n).map(|i| {
        t(i).wrapping_sub(t(i - 1))
            .wrapping_sub(t(i - 1).wrapping_sub(t(i - 2)))
    });
    put_frame(out, &FrameOf::new(dods.clone()), dods);

    let deltas = (1..n).map(|i| ints[i].wrapping_sub(ints[i - 1]));
    let plain = FrameOf::new(ints.iter().copied());
    let delta = FrameOf::new(deltas.clone());
    if uvarint_len(zigzag(ints[0])) + delta.len(n - 1) < plain.len(n) {
        out.push(e as u8 | ORDER_DELTA);
        put_varint(out, ints[0]);
        put_frame(out, &delta, deltas);
    } else {
        out.push(e as u8);
        put_frame(out, &plain, ints.iter().copied());
    }

    put_uvarint(out, misses.len() as u64);
    let mut next = 0;
    for i in misses {
        put_uvarint(out, (i - next) as u64);
        out.extend_from_slice(&samples[i].v.to_bits().to_le_bytes());
        next = i + 1;
    }
    debug_assert!(out.len() > start);
    true
}

/// Reads the fields of a cell in order.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// A frame-of-reference stream located in the input, not yet unpacked.
#[derive(Clone, Copy)]
struct Frame<'a> {
    min: i64,
    factor: u64,
    width: u32,
    bits: &'a [u8],
}

impl<'a> Reader<'a> {
    fn uvarint(&mut self, what: &str) -> Result<u64, String> {
        let (v, used) = read_uvarint(&self.bytes[self.pos..])
            .map_err(|e| format!("{what}: bad varint ({e:?}) at byte {}", self.pos))?;
        self.pos += used;
        Ok(v)
    }

    fn varint(&mut self, what: &str) -> Result<i64, String> {
        self.uvarint(what).map(unzigzag)
    }

    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| format!("{what}: truncated at byte {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "{what}: needs {len} bytes at byte {}, the cell has {}",
                    self.pos,
                    self.bytes.len()
                )
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A frame of `count` items (nothing when `count` is 0). Checks the
    /// width and that the padding bits of the last byte are zero.
    fn frame(&mut self, count: usize, what: &str) -> Result<Frame<'a>, String> {
        if count == 0 {
            return Ok(Frame {
                min: 0,
                factor: 0,
                width: 0,
                bits: &[],
            });
        }
        let min = self.varint(what)?;
        let width = u32::from(self.byte(what)?);
        if width > 64 {
            return Err(format!("{what}: bit width {width} is above 64"));
        }
        if width == 0 {
            return Ok(Frame {
                min,
                factor: 0,
                width,
                bits: &[],
            });
        }
        let factor = self.uvarint(what)?;
        if factor == 0 {
            return Err(format!("{what}: factor 0"));
        }
        let total = count * width as usize;
        let bits = self.take(total.div_ceil(8), what)?;
        if !total.is_multiple_of(8) {
            let last = bits[bits.len() - 1];
            if last >> (total % 8) != 0 {
                return Err(format!("{what}: non-zero padding bits"));
            }
        }
        Ok(Frame {
            min,
            factor,
            width,
            bits,
        })
    }
}

/// Unpacks a [`Frame`] item by item. The frame's length was checked
/// against its item count, so reads stay inside `bits`.
struct Unpacker<'a> {
    frame: Frame<'a>,
    pos: usize,
    acc: u128,
    have: u32,
    mask: u64,
}

impl<'a> Unpacker<'a> {
    fn new(frame: Frame<'a>) -> Self {
        let mask = if frame.width == 64 {
            u64::MAX
        } else {
            (1u64 << frame.width) - 1
        };
        Self {
            frame,
            pos: 0,
            acc: 0,
            have: 0,
            mask,
        }
    }

    #[inline]
    fn next(&mut self) -> i64 {
        let w = self.frame.width;
        if w == 0 {
            return self.frame.min;
        }
        let bits = self.frame.bits;
        while self.have < w {
            if self.have <= 64 && self.pos + 8 <= bits.len() {
                let mut word = [0u8; 8];
                word.copy_from_slice(&bits[self.pos..self.pos + 8]);
                self.acc |= u128::from(u64::from_le_bytes(word)) << self.have;
                self.pos += 8;
                self.have += 64;
            } else {
                // Only reached with bytes left: the length was checked.
                let b = bits.get(self.pos).copied().unwrap_or(0);
                self.acc |= u128::from(b) << self.have;
                self.pos += 1;
                self.have += 8;
            }
        }
        let x = (self.acc as u64) & self.mask;
        self.acc >>= w;
        self.have -= w;
        self.frame
            .min
            .wrapping_add(x.wrapping_mul(self.frame.factor) as i64)
    }
}

/// Decodes a packed cell (the bytes after the tag) whose timestamps are
/// relative to `base`, calling `f` for each sample in order. Checks the
/// whole structure before the first call; returns the sample count.
pub(crate) fn decode(bytes: &[u8], base: i64, mut f: impl FnMut(Sample)) -> Result<usize, String> {
    let mut r = Reader { bytes, pos: 0 };
    let n = r.uvarint("sample count")?;
    if n == 0 || n > MAX_SAMPLES as u64 {
        return Err(format!(
            "sample count {n} is outside 1..={MAX_SAMPLES} for a packed cell"
        ));
    }
    let n = n as usize;
    let t0 = base.wrapping_add(r.varint("first timestamp")?);
    let d1 = if n >= 2 {
        r.varint("first timestamp delta")?
    } else {
        0
    };
    let dods = r.frame(n.saturating_sub(2), "timestamp delta-of-deltas")?;
    let header = r.byte("value header")?;
    let e = usize::from(header & EXPONENT_MASK);
    if e > MAX_EXPONENT || header & !(EXPONENT_MASK | ORDER_DELTA) != 0 {
        return Err(format!("value header {header:#04x} is invalid"));
    }
    let delta_order = header & ORDER_DELTA != 0;
    let (first, values) = if delta_order {
        let first = r.varint("first value")?;
        (first, r.frame(n - 1, "value deltas")?)
    } else {
        (0, r.frame(n, "values")?)
    };
    let k = r.uvarint("exception count")?;
    let remaining = (bytes.len() - r.pos) as u64;
    if k > n as u64 || k.saturating_mul(9) > remaining {
        return Err(format!(
            "{k} exceptions in a cell of {n} samples with {remaining} bytes left"
        ));
    }
    let mut exceptions = Vec::with_capacity(k as usize);
    let mut next = 0u64;
    for _ in 0..k {
        let index = next
            .checked_add(r.uvarint("exception index")?)
            .filter(|i| *i < n as u64)
            .ok_or_else(|| format!("exception index beyond sample {n}"))?;
        let raw = r.take(8, "exception value")?;
        let mut word = [0u8; 8];
        word.copy_from_slice(raw);
        exceptions.push((index as usize, f64::from_bits(u64::from_le_bytes(word))));
        next = index + 1;
    }
    if r.pos != bytes.len() {
        return Err(format!(
            "{} bytes after the last field",
            bytes.len() - r.pos
        ));
    }

    let mut dods = Unpacker::new(dods);
    let mut values = Unpacker::new(values);
    let mut exceptions = exceptions.into_iter().peekable();
    let (mut t, mut delta) = (t0, d1);
    let mut int = first;
    for i in 0..n {
        if i == 1 {
            t = t0.wrapping_add(d1);
        } else if i >= 2 {
            delta = delta.wrapping_add(dods.next());
            t = t.wrapping_add(delta);
        }
        int = if !delta_order {
            values.next()
        } else if i == 0 {
            first
        } else {
            int.wrapping_add(values.next())
        };
        let v = match exceptions.next_if(|(j, _)| *j == i) {
            Some((_, raw)) => raw,
            None => unscale(int, e),
        };
        f(Sample::new(t, v));
    }
    Ok(n)
}
