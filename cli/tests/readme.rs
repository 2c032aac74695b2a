//! Every shell example of the README runs here (issue 16), so none rots:
//! the ```sh blocks, in README order, each with `bash -euo pipefail` in one
//! folder (the README's `./data`), against a real `stratus all`, with
//! `stratus` on the PATH and `curl` failing on an HTTP error
//! (`--fail-with-body`).
//!
//! A block that cannot run here starts with the visible line
//! `# Not run by the README test: <reason>`. What the harness does in
//! place of the README, and why:
//! - `cargo build --release -p stratus-cli` is skipped: the binary under
//!   test is the one cargo built for this test (no release builds here);
//! - a `stratus all ...` line starts the server (stopping the one before)
//!   on a free port with that line's flags, plus `--enable-admin-api` for
//!   the delete example; `127.0.0.1:9494` in the scripts becomes that port;
//! - before the block that inspects a block, one compactor pass runs as of
//!   an hour ahead, so the data pushed by the earlier examples is in a
//!   block (a real server compacts segments once they are 5 minutes old).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stratus_tests::stratus::StratusProcess;

const BIN: &str = env!("CARGO_BIN_EXE_stratus");
const MARKER: &str = "# Not run by the README test: ";
/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lines: Vec<String>,
}

fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, l) in readme.lines().enumerate() {
        match (&mut current, l.trim_end()) {
            (None, "```sh") => {
                current = Some(Block {
                    line: i + 1,
                    lines: Vec::new(),
                })
            }
            (Some(_), "```") => out.extend(current.take()),
            (Some(b), _) => b.lines.push(l.to_string()),
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block");
    out
}

/// The command of a line, without its trailing comment.
fn command(line: &str) -> &str {
    line.split(" #").next().unwrap_or("").trim()
}

/// The flags of a line that starts the server, if it is one.
fn server_start(line: &str) -> Option<Vec<String>> {
    let c = command(line);
    let rest = c
        .strip_prefix("./target/release/stratus all")
        .or_else(|| c.strip_prefix("stratus all"))?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

struct Harness {
    dir: PathBuf,
    bin_dir: PathBuf,
    server: Option<StratusProcess>,
}

impl Harness {
    fn start(&mut self, flags: &[String], at: usize) {
        if let Some(mut s) = self.server.take() {
            s.child
                .terminate(Duration::from_secs(30))
                .expect("stop the previous server");
        }
        let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
        args.push("--enable-admin-api");
        let s = StratusProcess::start_in(
            Path::new(BIN),
            &self.dir,
            &self.dir.join(format!("stratus-{at}.log")),
            &args,
        )
        .unwrap_or_else(|e| panic!("README line {at}: starting stratus all {flags:?}: {e:#}"));
        self.server = Some(s);
    }

    fn run(&self, script: &str, at: usize) {
        let port = self
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("README line {at}: an example runs before any `stratus all`"))
            .port;
        let script = script
            .replace("./target/release/stratus", "stratus")
            .replace("127.0.0.1:9494", &format!("127.0.0.1:{port}"));
        let prelude =
            "curl() { command curl --fail-with-body --show-error --max-time 30 \"$@\"; }\n";
        let path = format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out: Output = Command::new("timeout")
            .arg(BLOCK_TIMEOUT.as_secs().to_string())
            .args(["bash", "-euo", "pipefail", "-c"])
            .arg(format!("{prelude}{script}"))
            .current_dir(&self.dir)
            .env("PATH", path)
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "README line {at}: the example failed ({}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One compactor pass as of an hour ahead: every segment is old enough.
    fn compact(&self, at: usize) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let out = Command::new(BIN)
            .args(["compactor", "--once", "--now", &(now + 3600).to_string()])
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .current_dir(&self.dir)
            .output()
            .expect("run the compactor");
        assert!(
            out.status.success(),
            "README line {at}: compactor pass: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The first ```yaml block of the README that scrapes and remote_writes:
/// the quick start's complete `prometheus.yml`.
fn prometheus_yml(readme: &str) -> Option<String> {
    let mut blocks = readme.split("```yaml\n").skip(1);
    blocks.find_map(|b| {
        let body = b.split("```").next()?;
        (body.contains("scrape_configs:") && body.contains("remote_write:"))
            .then(|| body.to_string())
    })
}

/// The quick start's `prometheus.yml` is one Prometheus loads as it is.
#[test]
fn the_readme_prometheus_yml_is_complete() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("read README.md");
    let yml = prometheus_yml(&readme).expect("a complete prometheus.yml in the README");
    let promtool =
        stratus_tests::process::find_tool("STRATUS_PROMTOOL", "promtool", &["/usr/bin/promtool"])
            .expect("promtool is installed (Debian prometheus; scripts/install-test-deps.sh)");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, yml).expect("write prometheus.yml");
    let out = Command::new(promtool)
        .args(["check", "config"])
        .arg(&file)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_shell_example_of_the_readme_runs() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("read README.md");
    let blocks = sh_blocks(&readme);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).expect("bin dir");
    std::os::unix::fs::symlink(BIN, bin_dir.join("stratus")).expect("link stratus");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("work dir");
    let mut h = Harness {
        dir: work,
        bin_dir,
        server: None,
    };
    let (mut ran, mut marked) = (0, 0);
    for b in &blocks {
        if let Some(reason) = b.lines.first().and_then(|l| l.strip_prefix(MARKER)) {
            assert!(
                reason.trim().len() > 10,
                "README line {}: a block not run must say why",
                b.line
            );
            marked += 1;
            continue;
        }
        let mut script = String::new();
        for (i, line) in b.lines.iter().enumerate() {
            let at = b.line + 1 + i;
            if command(line) == "cargo build --release -p stratus-cli" {
                continue;
            }
            assert!(
                !command(line).starts_with("cargo "),
                "README line {at}: {line:?} cannot run in a test; mark the block with {MARKER:?} and the reason"
            );
            if let Some(flags) = server_start(line) {
                if !script.trim().is_empty() {
                    h.run(&script, at);
                }
                script.clear();
                h.start(&flags, at);
                continue;
            }
            if line.contains("stratus admin inspect") && !script.contains("# compacted") {
                if !script.trim().is_empty() {
                    h.run(&script, at);
                }
                script.clear();
                h.compact(at);
                script.push_str("# compacted\n");
            }
            script.push_str(line);
            script.push('\n');
        }
        if !script.trim().is_empty() {
            h.run(&script, b.line);
        }
        ran += 1;
    }
    assert!(
        ran >= 7,
        "{ran} examples ran: the README lost its examples?"
    );
    assert!(marked <= 4, "{marked} examples are not run: too many");
}
