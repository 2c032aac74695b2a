//! Two values for one series and timestamp in one request: the first is
//! kept, as Prometheus keeps it. Prometheus's head appends a request's
//! samples in order at commit and drops one whose timestamp its series
//! already has, without failing the request (2.42 and 3.x answer 204). The
//! same series may come once with a repeated timestamp or several times in
//! one request (two `timeseries` entries, two JSON push metrics).

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use stratus_model::Sample;

use super::WriteBatch;

impl WriteBatch<'_> {
    /// Drops every sample whose series and timestamp an earlier sample of
    /// this batch has; returns how many. A batch without any (the usual
    /// case) is left as it is after one pass over its series.
    pub fn keep_first_per_timestamp(&mut self) -> u64 {
        // The first series of each label set; series are compared by their
        // strings, since remote_write 2.0 tables may hold a string twice.
        // Most requests have neither repeats nor disorder: one pass.
        let mut first: HashTable<u32> = HashTable::with_capacity(self.series.len());
        let mut owner: Vec<u32> = Vec::with_capacity(self.series.len());
        let mut repeated = false;
        for j in 0..self.series.len() {
            let hash = self.labels_hash(j);
            let same = |&i: &u32| self.same_labels(i as usize, j);
            let o = match first.find(hash, same) {
                Some(&i) => {
                    repeated = true;
                    i
                }
                None => {
                    let i = j as u32;
                    first.insert_unique(hash, i, |&i| self.labels_hash(i as usize));
                    i
                }
            };
            owner.push(o);
            // Out of order alone is kept as it came; only a series whose
            // times do not all rise may repeat one.
            let s = &self.samples[self.series[j].1.clone()];
            repeated |= !s.windows(2).all(|p| p[0].t < p[1].t);
        }
        if !repeated {
            return 0;
        }
        // Each label set's samples in arrival order, without those whose
        // timestamp an earlier one of the set has.
        let mut groups: Vec<Vec<Sample>> = vec![Vec::new(); self.series.len()];
        for (j, &o) in owner.iter().enumerate() {
            let r = self.series[j].1.clone();
            groups[o as usize].extend_from_slice(&self.samples[r]);
        }
        let mut dropped = 0u64;
        let mut samples = Vec::with_capacity(self.samples.len());
        let mut series = Vec::with_capacity(self.series.len());
        let mut order: Vec<u32> = Vec::new();
        let mut keep: Vec<bool> = Vec::new();
        for (j, g) in groups.into_iter().enumerate() {
            if owner[j] as usize != j {
                continue;
            }
            // Positions by (time, arrival): the first of each time is kept.
            order.clear();
            order.extend(0..g.len() as u32);
            order.sort_unstable_by_key(|&i| (g[i as usize].t, i));
            keep.clear();
            keep.resize(g.len(), true);
            for w in order.windows(2) {
                if g[w[0] as usize].t == g[w[1] as usize].t {
                    keep[w[1] as usize] = false;
                    dropped += 1;
                }
            }
            let start = samples.len();
            samples.extend(g.iter().zip(&keep).filter(|(_, &k)| k).map(|(s, _)| *s));
            series.push((self.series[j].0.clone(), start..samples.len()));
        }
        self.samples = samples;
        self.series = series;
        dropped
    }

    /// A hash of a series' labels: of its refs where each string has one
    /// id (interned), of the strings where the request's table may repeat
    /// one.
    fn labels_hash(&self, j: usize) -> u64 {
        let refs = &self.refs[self.series[j].0.clone()];
        if !self.own_table {
            return self.hasher.hash_one(refs);
        }
        let mut h = self.hasher.build_hasher();
        for &r in refs {
            h.write(self.resolve(r).as_bytes());
            h.write_u8(0xff);
        }
        h.finish()
    }

    fn same_labels(&self, a: usize, b: usize) -> bool {
        let (ra, rb) = (
            &self.refs[self.series[a].0.clone()],
            &self.refs[self.series[b].0.clone()],
        );
        ra.len() == rb.len()
            && ra
                .iter()
                .zip(rb)
                .all(|(&x, &y)| x == y || self.resolve(x) == self.resolve(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use crate::validate::Limits;

    const NOW: i64 = 1_700_000_000_000;

    fn values(b: &WriteBatch<'_>) -> Vec<(String, Vec<(i64, f64)>)> {
        b.series()
            .map(|(refs, s)| {
                let pts = s.iter().map(|x| (x.t - NOW, x.v)).collect();
                (b.labels(refs).to_string(), pts)
            })
            .collect()
    }

    #[test]
    fn the_first_value_of_a_series_and_timestamp_is_kept() {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        let (l, now) = (&Limits::default(), NOW);
        let up = [("__name__", "up"), ("job", "a")];
        let s = |t: i64, v: f64| Sample::new(NOW + t, v);
        // One series with a repeated timestamp, out of order.
        b.accept_pairs(&up, &[s(0, 1.0), s(-5, 9.0), s(0, 2.0)], l, now, &mut r);
        // The same series again, labels in another order.
        b.accept_pairs(&[up[1], up[0]], &[s(0, 3.0), s(5, 4.0)], l, now, &mut r);
        b.accept_pairs(&[("__name__", "other")], &[s(0, 7.0)], l, now, &mut r);
        assert_eq!(b.keep_first_per_timestamp(), 2);
        assert_eq!(
            values(&b),
            [
                (
                    r#"up{job="a"}"#.to_string(),
                    vec![(0, 1.0), (-5, 9.0), (5, 4.0)]
                ),
                ("other{}".to_string(), vec![(0, 7.0)]),
            ]
        );
    }

    #[test]
    fn a_table_holding_a_string_twice_still_finds_the_series() {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        let ids: Vec<u32> = ["__name__", "up", "__name__", "up"]
            .iter()
            .map(|s| b.push_symbol(s.as_bytes()))
            .collect();
        let (l, now) = (&Limits::default(), NOW);
        b.accept(
            &[(ids[0], ids[1])],
            &[Sample::new(NOW, 1.0)],
            l,
            now,
            &mut r,
        );
        b.accept(
            &[(ids[2], ids[3])],
            &[Sample::new(NOW, 2.0)],
            l,
            now,
            &mut r,
        );
        assert_eq!(b.keep_first_per_timestamp(), 1);
        assert_eq!(values(&b), [("up{}".to_string(), vec![(0, 1.0)])]);
    }

    #[test]
    fn a_batch_without_repeats_is_left_alone() {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        let (l, now) = (&Limits::default(), NOW);
        b.accept_pairs(
            &[("__name__", "a")],
            &[Sample::new(NOW, 1.0)],
            l,
            now,
            &mut r,
        );
        b.accept_pairs(
            &[("__name__", "b")],
            &[Sample::new(NOW, 2.0)],
            l,
            now,
            &mut r,
        );
        assert_eq!(b.keep_first_per_timestamp(), 0);
        assert_eq!(b.num_series(), 2);
    }
}
