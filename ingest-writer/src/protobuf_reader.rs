//! A minimal protobuf wire-format reader over a borrowed buffer, for the
//! hot decode path of remote_write: it yields slices of the request instead
//! of building messages, so decoding allocates nothing per label. Every
//! read is bounds-checked; malformed input is an error, never a panic.

/// Wire types of the protobuf encoding.
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

pub type Result<T> = std::result::Result<T, WireError>;

#[derive(Debug, Clone)]
pub struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Field number and wire type of the next field.
    #[inline]
    pub fn key(&mut self) -> Result<(u32, u8)> {
        let at = self.pos;
        let k = self.varint()?;
        let field = u32::try_from(k >> 3)
            .map_err(|_| WireError(format!("field number too large at byte {at}")))?;
        if field == 0 {
            return Err(WireError(format!("field number 0 at byte {at}")));
        }
        Ok((field, (k & 7) as u8))
    }

    #[inline]
    pub fn varint(&mut self) -> Result<u64> {
        // Most varints of remote_write (keys, lengths) are one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(WireError(format!("truncated varint at byte {}", self.pos)));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(WireError(format!(
                    "varint overflows 64 bits at byte {}",
                    self.pos - 1
                )));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError(format!(
            "varint longer than 10 bytes at byte {}",
            self.pos
        )))
    }

    pub fn fixed64(&mut self) -> Result<u64> {
        let end = self.pos.checked_add(8).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(WireError(format!("truncated fixed64 at byte {}", self.pos)));
        };
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(u64::from_le_bytes(b))
    }

    /// A length-delimited field's bytes.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let at = self.pos;
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(WireError(format!(
                "length {len} at byte {at} runs past the end of the message ({} bytes)",
                self.buf.len()
            )));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Skips a field of wire type `wt`.
    /// Skips a field this reader does not read, unless it is one of
    /// `declared` (the message's fields of message or string type): there
    /// a wire type other than length-delimited is an error, as in Go's
    /// generated decoders, not a field to pass over.
    pub fn skip_unread(&mut self, field: u32, wt: u8, declared: &[u32]) -> Result<()> {
        if declared.contains(&field) && wt != LEN {
            return Err(WireError(format!(
                "field {field} has wire type {wt}, expected {LEN} (length-delimited) before byte {}",
                self.pos
            )));
        }
        self.skip(wt)
    }

    pub fn skip(&mut self, wt: u8) -> Result<()> {
        match wt {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.fixed64().map(|_| ()),
            LEN => self.bytes().map(|_| ()),
            FIXED32 => {
                if self.buf.len().saturating_sub(self.pos) < 4 {
                    return Err(WireError(format!("truncated fixed32 at byte {}", self.pos)));
                }
                self.pos += 4;
                Ok(())
            }
            other => Err(WireError(format!(
                "unsupported wire type {other} at byte {}",
                self.pos
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varints_like_go() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            prost::encoding::encode_varint(v, &mut buf);
            assert_eq!(Wire::new(&buf).varint(), Ok(v));
        }
        assert!(Wire::new(&[0x80]).varint().is_err());
        assert!(Wire::new(&[0xff; 11]).varint().is_err());
        assert!(
            Wire::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
    }

    #[test]
    fn length_past_the_end_is_an_error() {
        let mut w = Wire::new(&[0x05, 1, 2]);
        assert!(w.bytes().is_err());
        let mut w = Wire::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(w.bytes().is_err());
    }

    #[test]
    fn field_zero_and_bad_wire_types_are_errors() {
        assert!(Wire::new(&[0x00]).key().is_err());
        let mut w = Wire::new(&[0x0b]); // field 1, wire type 3 (group)
        let (_, wt) = w.key().expect("key");
        assert!(w.skip(wt).is_err());
    }
}
