//! Chunk cells: the bytes of one `__chunk_<k>` (or aggregate) cell. A cell
//! starts with a tag byte naming its encoding, and the writer picks, cell
//! by cell, whichever encoding is smaller:
//!
//! * `0x00` `xor`: a chunk in the format of `docs/format/chunk.md`, for
//!   values XOR encodes well (repeats, arbitrary floats);
//! * `0x01` `packed` ([`packed`]): delta-of-delta timestamps and
//!   decimal-scaled integer values, bit-packed, for integers and decimals
//!   with few digits;
//! * `0x02` `ref`, downsampled blocks only: the cell is byte for byte the
//!   cell of an earlier aggregate of the same sub-range (a counter's
//!   `counter` is its `last`, a one-sample window's `min`, `max` and `last`
//!   are its `sum`), named by its index.
//!
//! Both encodings are bit-exact for every `f64` and any `i64` timestamps.

use std::fmt;

use stratus_codec::{encode_chunk, ChunkIter, CodecError};
use stratus_model::Sample;

pub(crate) mod packed;

pub(crate) const TAG_XOR: u8 = 0x00;
pub(crate) const TAG_PACKED: u8 = 0x01;
pub(crate) const TAG_REF: u8 = 0x02;

/// Why a cell does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CellError {
    /// A zero-length cell (a present cell holds at least the tag).
    Empty,
    UnknownTag(u8),
    /// The XOR chunk after tag `0x00`.
    Xor(CodecError),
    /// The packed encoding after tag `0x01`.
    Packed(String),
    /// A `ref` cell that does not name an earlier non-`ref` cell of its
    /// sub-range, or one where none may be (raw blocks).
    BadRef(String),
}

impl fmt::Display for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellError::Empty => write!(f, "the cell has no bytes, expected an encoding tag"),
            CellError::UnknownTag(t) => write!(
                f,
                "unknown cell encoding tag {t:#04x}, expected 0x00 (xor) or 0x01 (packed)"
            ),
            CellError::Xor(e) => write!(f, "xor cell: {e}"),
            CellError::Packed(e) => write!(f, "packed cell: {e}"),
            CellError::BadRef(e) => write!(f, "ref cell: {e}"),
        }
    }
}

/// Encodes `samples` as the smaller of the two encodings into a new cell
/// (packed on a tie). `base` is the start of the cell's sub-range (packed
/// timestamps are relative to it).
pub(crate) fn encode_cell(samples: &[Sample], base: i64) -> Vec<u8> {
    let mut packed = Vec::with_capacity(samples.len() * 2 + 16);
    packed.push(TAG_PACKED);
    let packed_ok = packed::encode(samples, base, &mut packed);
    // Most packed cells are smaller than any XOR chunk could be: skip
    // encoding it then (same choice, less work).
    if packed_ok && packed.len() <= xor_lower_bound(samples) {
        return packed;
    }
    let mut xor = Vec::with_capacity(samples.len() * 2 + 16);
    xor.push(TAG_XOR);
    encode_chunk(samples, &mut xor);
    if packed_ok && packed.len() <= xor.len() {
        packed
    } else {
        xor
    }
}

/// Bytes an XOR cell of `samples` takes at least: tag, count, first
/// timestamp and value, and per further sample a bit of timestamp and a
/// bit for an unchanged value, or 2 bits and the significant bits of the
/// XOR (leading zeros capped at 31, as the chunk format does).
fn xor_lower_bound(samples: &[Sample]) -> usize {
    let mut bits = 0u64;
    for w in samples.windows(2) {
        let x = w[0].v.to_bits() ^ w[1].v.to_bits();
        bits += if x == 0 {
            2
        } else {
            3 + u64::from(64 - x.leading_zeros().min(31) - x.trailing_zeros())
        };
    }
    1 + stratus_codec::varint::uvarint_len(samples.len() as u64) + 1 + 8 + (bits / 8) as usize
}

/// Decodes a cell, calling `f` for each sample; returns the number of
/// samples. Never panics, whatever the bytes.
pub(crate) fn decode_cell(
    bytes: &[u8],
    base: i64,
    mut f: impl FnMut(Sample),
) -> Result<usize, CellError> {
    match bytes.split_first() {
        None => Err(CellError::Empty),
        Some((&TAG_XOR, rest)) => {
            let iter = ChunkIter::new(rest).map_err(CellError::Xor)?;
            let n = iter.num_samples();
            for s in iter {
                f(s.map_err(CellError::Xor)?);
            }
            Ok(n)
        }
        Some((&TAG_PACKED, rest)) => packed::decode(rest, base, f).map_err(CellError::Packed),
        Some((&TAG_REF, _)) => Err(CellError::BadRef(
            "only the aggregates of downsampled blocks may refer to another cell".to_string(),
        )),
        Some((&tag, _)) => Err(CellError::UnknownTag(tag)),
    }
}

/// Replaces every cell equal to an earlier cell of the same sub-range (the
/// aggregates of one downsampled sub-range, in column order) with a `ref`
/// cell naming the first such cell.
pub(crate) fn dedupe(cells: &mut [Option<Vec<u8>>]) {
    for j in 1..cells.len() {
        let Some(cell) = &cells[j] else { continue };
        let same = (0..j).find(|&i| {
            cells[i]
                .as_ref()
                .is_some_and(|c| c[0] != TAG_REF && c == cell)
        });
        if let Some(i) = same {
            cells[j] = Some(vec![TAG_REF, i as u8]);
        }
    }
}

/// The bytes to decode for cell `j` of a sub-range: the cell itself, or
/// for a `ref` cell the earlier cell it names (which must not be a `ref`).
pub(crate) fn resolve<B: AsRef<[u8]>>(
    cells: &[Option<B>],
    j: usize,
) -> Result<Option<&[u8]>, CellError> {
    let Some(cell) = cells[j].as_ref().map(AsRef::as_ref) else {
        return Ok(None);
    };
    if cell.first() != Some(&TAG_REF) {
        return Ok(Some(cell));
    }
    let target = match cell {
        [_, i] if usize::from(*i) < j => usize::from(*i),
        _ => {
            return Err(CellError::BadRef(format!(
                "{} bytes {cell:02x?} do not name an earlier aggregate than {j}",
                cell.len()
            )))
        }
    };
    match cells[target].as_ref().map(AsRef::as_ref) {
        Some(c) if c.first() != Some(&TAG_REF) => Ok(Some(c)),
        _ => Err(CellError::BadRef(format!(
            "aggregate {j} refers to aggregate {target}, which is null or a ref cell"
        ))),
    }
}

#[cfg(test)]
mod tests;
