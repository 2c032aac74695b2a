//! The series fingerprint stored in `__fingerprint`.

use stratus_model::Labels;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a (64 bit) over every label in order: the name's UTF-8 bytes, a
/// `0xff` byte, the value's bytes, a `0xff` byte. `0xff` never occurs in
/// UTF-8, so different label sets give different byte strings. The value is
/// part of the format: it never changes between processes or versions.
pub fn fingerprint(labels: &Labels) -> u64 {
    let mut h = FNV_OFFSET;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    };
    for l in labels {
        eat(l.name.as_bytes());
        eat(&[0xff]);
        eat(l.value.as_bytes());
        eat(&[0xff]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // FNV-1a of the empty input is the offset basis.
        assert_eq!(fingerprint(&Labels::default()), FNV_OFFSET);
        // FNV-1a over `__name__ ff up ff job ff node ff`, computed outside
        // Rust. Pinned: a change here breaks every stored block.
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]).expect("labels");
        assert_eq!(fingerprint(&l), 0x7bfe_d626_35f6_4858);
    }

    #[test]
    fn separators_keep_label_sets_apart() {
        let a = Labels::from_pairs([("a", "bc")]).expect("labels");
        let b = Labels::from_pairs([("ab", "c")]).expect("labels");
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
