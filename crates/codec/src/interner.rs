//! String interning: each distinct label string is stored once and named
//! by a dense `u32` id. Used by the ingest batch and the segment builder so
//! label strings are hashed once per distinct value, not once per sample.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Strings with dense ids in insertion order.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    strings: Vec<Box<str>>,
    table: HashTable<u32>,
    hasher: RandomState,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `s`, adding it if it is new.
    pub fn intern(&mut self, s: &str) -> u32 {
        let hash = self.hasher.hash_one(s);
        let strings = &self.strings;
        if let Some(&id) = self.table.find(hash, |&id| &*strings[id as usize] == s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        let (strings, hasher) = (&self.strings, &self.hasher);
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(&*strings[id as usize]));
        id
    }

    /// The id of `s` if it was interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(s);
        self.table
            .find(hash, |&id| &*self.strings[id as usize] == s)
            .copied()
    }

    /// Bytes held (estimated: strings, ids and table).
    pub fn bytes(&self) -> usize {
        self.strings.iter().map(|s| s.len() + 16).sum::<usize>() + self.table.capacity() * 4
    }

    /// The string of `id`. Panics on an id this interner did not hand out.
    pub fn resolve(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }

    /// The string of `id`, or `None` for an unknown id.
    pub fn try_resolve(&self, id: u32) -> Option<&str> {
        self.strings.get(id as usize).map(|s| &**s)
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// All strings, indexed by id.
    pub fn strings(&self) -> &[Box<str>] {
        &self.strings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_stable() {
        let mut i = Interner::new();
        assert_eq!(i.intern("job"), 0);
        assert_eq!(i.intern("node"), 1);
        assert_eq!(i.intern("job"), 0);
        assert_eq!(i.intern(""), 2);
        assert_eq!(i.len(), 3);
        assert_eq!(i.resolve(1), "node");
        assert_eq!(i.get("node"), Some(1));
        assert_eq!(i.get("nope"), None);
        assert_eq!(i.try_resolve(9), None);
    }

    #[test]
    fn survives_growth() {
        let mut i = Interner::new();
        let ids: Vec<u32> = (0..10_000).map(|n| i.intern(&n.to_string())).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(i.get(&n.to_string()), Some(*id));
            assert_eq!(i.resolve(*id), n.to_string());
        }
    }
}
