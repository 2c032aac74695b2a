//! Prometheus's side of the block benchmarks: the text exposition of the
//! dataset, `promtool tsdb create-blocks-from openmetrics` in the
//! background, and the size of the blocks it made.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use stratus_model::{Labels, Sample};

/// The series' labels in the text exposition format: `name{a="b",...}`.
pub fn exposition_name(labels: &Labels) -> String {
    let mut out = labels.metric_name().unwrap_or("").to_string();
    let rest: Vec<String> = labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| {
            let v = l
                .value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{}=\"{v}\"", l.name)
        })
        .collect();
    if !rest.is_empty() {
        out.push('{');
        out.push_str(&rest.join(","));
        out.push('}');
    }
    out
}

/// Writes one window as OpenMetrics text, series after series (each in
/// time order), timestamps in seconds.
pub fn write_openmetrics(
    path: &Path,
    names: &[String],
    order: &[usize],
    data: &[Vec<Sample>],
) -> anyhow::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for &i in order {
        for s in &data[i] {
            let v = s.v;
            ensure!(v.is_finite(), "the dataset has no NaN or Inf values");
            // Whole seconds are exact in Go's float parse.
            ensure!(s.t % 1000 == 0, "timestamps are whole seconds");
            // `{}` prints the shortest decimal that parses back to `v`.
            writeln!(w, "{} {v} {}", names[i], s.t / 1000)?;
        }
    }
    w.write_all(b"# EOF\n")?;
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// A promtool run in the background.
pub struct Promtool {
    child: Child,
    input: PathBuf,
    started: Instant,
    window: usize,
}

impl Promtool {
    pub fn start(bin: &Path, input: PathBuf, out: &Path, window: usize) -> anyhow::Result<Self> {
        let child = Command::new(bin)
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(&input)
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            child,
            input,
            started: Instant::now(),
            window,
        })
    }

    pub fn wait(self) -> anyhow::Result<()> {
        let out = self.child.wait_with_output()?;
        std::fs::remove_file(&self.input)?;
        if !out.status.success() {
            bail!(
                "promtool failed on window {}: {}{}",
                self.window,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        println!(
            "  promtool: window {} done in {:.1} s",
            self.window,
            self.started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Size and samples of the Prometheus blocks in `dir`.
#[derive(Debug, Default)]
pub struct PromBlocks {
    pub blocks: usize,
    pub samples: u64,
    pub chunk_bytes: u64,
    pub index_bytes: u64,
    pub other_bytes: u64,
}

impl PromBlocks {
    pub fn total(&self) -> u64 {
        self.chunk_bytes + self.index_bytes + self.other_bytes
    }
}

fn dir_size(dir: &Path) -> anyhow::Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let meta = e.metadata()?;
        n += if meta.is_dir() {
            dir_size(&e.path())?
        } else {
            meta.len()
        };
    }
    Ok(n)
}

pub fn prometheus_blocks(dir: &Path) -> anyhow::Result<PromBlocks> {
    let mut out = PromBlocks::default();
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let meta_path = path.join("meta.json");
        if !meta_path.exists() {
            continue;
        }
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path)?)?;
        out.samples += meta["stats"]["numSamples"]
            .as_u64()
            .context("meta.json without stats.numSamples")?;
        out.blocks += 1;
        out.chunk_bytes += dir_size(&path.join("chunks"))?;
        out.index_bytes += std::fs::metadata(path.join("index"))?.len();
        let all = dir_size(&path)?;
        out.other_bytes +=
            all - dir_size(&path.join("chunks"))? - std::fs::metadata(path.join("index"))?.len();
    }
    Ok(out)
}

pub fn promtool_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.split_whitespace().nth(2).map(str::to_string)
        })
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b\\c"), ("i", "x")])
            .expect("labels");
        assert_eq!(exposition_name(&l), r#"up{i="x",job="a\"b\\c"}"#);
    }
}
