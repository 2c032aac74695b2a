//! Another engine reads the blocks: DuckDB, through its Python package
//! (installed by `scripts/install-test-deps.sh` into `.tools/py`).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use stratus_block::*;
use stratus_model::{Labels, Sample, TenantId};

fn python() -> PathBuf {
    let path = std::env::var_os("STRATUS_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py/bin/python"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "no Python with DuckDB at {}: run scripts/install-test-deps.sh \
         (or set STRATUS_PYTHON to a python that can `import duckdb`)",
        path.display()
    );
    path
}

/// Runs `sql` in DuckDB and returns what `fetchall()` prints.
fn duckdb(sql: &str) -> String {
    let script = format!(
        "import duckdb; print(duckdb.sql({}).fetchall())",
        py_quote(sql)
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// A Python string literal.
fn py_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[test]
fn duckdb_reads_a_raw_block() {
    let mut d = node_exporter(3, 480, 7_200_000, 5);
    // A series without a metric name and one with a label no other has.
    d.series.push((
        Labels::from_pairs([("job", "odd"), ("zone", "eu")]).expect("labels"),
        vec![Sample::new(7_200_000, 1.0)],
    ));
    sort_series(&mut d.series);
    let file = write_raw_block(
        &TenantId::new("team-a").expect("tenant"),
        7_200_000,
        7_200_000 + 2 * HOUR,
        d.series.iter().map(|(l, s)| (l, s.as_slice())),
        &BlockOptions::default(),
    )
    .expect("write");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("block.parquet");
    std::fs::write(&path, &file).expect("write file");
    let path = path.display().to_string();

    let series = d.series.len();
    let names: std::collections::BTreeSet<_> = d
        .series
        .iter()
        .filter_map(|(l, _)| l.metric_name())
        .collect();
    let samples: usize = d.series.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(
        duckdb(&format!(
            "select count(*), count(distinct __name__), sum(__samples) from '{path}'"
        )),
        format!("[({series}, {}, {samples})]", names.len())
    );
    // Labels are plain nullable strings; times are timestamps.
    assert_eq!(
        duckdb(&format!(
            "select job, zone, __name__ is null, epoch_ms(__min_time), typeof(__min_time) \
             from '{path}' where zone = 'eu'"
        )),
        "[('odd', 'eu', True, 7200000, 'TIMESTAMP WITH TIME ZONE')]"
    );
    assert_eq!(
        duckdb(&format!(
            "select count(*) from '{path}' where __name__ = 'node_load1' and __chunk_0 is not null"
        )),
        "[(3,)]"
    );
}

#[test]
fn duckdb_reads_a_downsampled_block() {
    let d = node_exporter(2, 480, 0, 5);
    let points: Vec<(Labels, Vec<AggrPoint>)> = d
        .series
        .iter()
        .map(|(l, s)| (l.clone(), downsample(s, 300_000)))
        .collect();
    let file = write_downsampled_block(
        &TenantId::new("team-a").expect("tenant"),
        0,
        2 * HOUR,
        300_000,
        points.iter().map(|(l, p)| (l, p.as_slice())),
        &BlockOptions::default(),
    )
    .expect("write");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("block.parquet");
    std::fs::write(&path, &file).expect("write file");
    let path = path.display().to_string();
    let n: usize = points.iter().map(|(_, p)| p.len()).sum();
    assert_eq!(
        duckdb(&format!(
            "select count(*), sum(__samples), count(__drops_3) from '{path}'"
        )),
        format!("[({}, {n}, {})]", points.len(), points.len())
    );
}
