//! A checksum trailer for the small text objects of the ruler and the
//! notifier (JSON state, YAML rule files): the text, then one last line
//! `# crc32c xxxxxxxx` holding the CRC-32C of every byte before that line,
//! as 8 lowercase hex digits.
//!
//! A reader checks the trailer before parsing, so a torn or bit-flipped
//! object is reported instead of half-used. The trailer is a comment in
//! YAML, so a sealed rule file still passes `promtool check rules`; JSON
//! readers strip it first ([`open`]).

/// What comes between the text and the checksum.
const MARK: &[u8] = b"\n# crc32c ";
/// `MARK`, 8 hex digits, `\n`.
const TRAILER_LEN: usize = MARK.len() + 8 + 1;

/// `text` with its checksum trailer.
pub fn seal(text: &[u8]) -> bytes::Bytes {
    let mut out = Vec::with_capacity(text.len() + TRAILER_LEN);
    out.extend_from_slice(text);
    out.extend_from_slice(MARK);
    out.extend_from_slice(format!("{:08x}\n", crc32c::crc32c(text)).as_bytes());
    out.into()
}

/// Why [`open`] refused an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("expected a last line \"# crc32c <8 hex digits>\", the object has none (not written by Stratus, or cut short)")]
    NoTrailer,
    #[error("checksum mismatch: the trailer says {stored:08x}, the content hashes to {computed:08x} (the object is damaged)")]
    Mismatch { stored: u32, computed: u32 },
}

/// The text of a sealed object, once its checksum matches.
pub fn open(sealed: &[u8]) -> Result<&[u8], SealError> {
    let Some(split) = sealed.len().checked_sub(TRAILER_LEN) else {
        return Err(SealError::NoTrailer);
    };
    let (text, trailer) = sealed.split_at(split);
    if !trailer.starts_with(MARK) || trailer.last() != Some(&b'\n') {
        return Err(SealError::NoTrailer);
    }
    let hex = std::str::from_utf8(&trailer[MARK.len()..TRAILER_LEN - 1])
        .map_err(|_| SealError::NoTrailer)?;
    let stored = u32::from_str_radix(hex, 16).map_err(|_| SealError::NoTrailer)?;
    let computed = crc32c::crc32c(text);
    if stored != computed {
        return Err(SealError::Mismatch { stored, computed });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let s = seal(br#"{"version":1}"#);
        assert!(s.ends_with(b"\n"));
        assert_eq!(open(&s), Ok(&br#"{"version":1}"#[..]));
        let mut bad = s.to_vec();
        bad[3] ^= 1;
        assert!(matches!(open(&bad), Err(SealError::Mismatch { .. })));
        assert_eq!(open(br#"{"version":1}"#), Err(SealError::NoTrailer));
        assert_eq!(open(&s[..s.len() - 2]), Err(SealError::NoTrailer));
        assert_eq!(open(b""), Err(SealError::NoTrailer));
        // Empty text seals too.
        assert_eq!(open(&seal(b"")), Ok(&b""[..]));
    }

    #[test]
    fn a_sealed_yaml_file_is_still_yaml() {
        let s = seal(b"groups:\n- name: a\n  rules: []\n");
        let v: serde_yaml::Value = serde_yaml::from_slice(&s).expect("YAML");
        assert_eq!(v["groups"][0]["name"], "a");
    }
}
