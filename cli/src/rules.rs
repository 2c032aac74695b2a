//! `stratus rules load FILE...`: Prometheus rule files into a running
//! Stratus, as `mimirtool rules load` puts them into Mimir.
//!
//! Each file is checked here first (the checks of `promtool check rules`,
//! errors with their line), then sent whole to `POST
//! /api/v1/rules/<namespace>`, which stores its groups in one write. The
//! namespace is `--namespace`, else the file's `namespace:` (mimirtool's
//! rule files carry one), else the file name without `.yml`/`.yaml`. With
//! `--delete-absent`, groups of the namespace that the file does not
//! name are deleted afterwards.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Client, Method, StatusCode, Url};
use stratus_ruler::rulefile::parse_rule_file;

/// Largest rule file read: the server's default body limit (16 MiB).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Subcommand)]
pub enum RulesCommand {
    /// Load Prometheus rule files (`groups: [...]`) into a running Stratus,
    /// one namespace per file, replacing the groups of the same name
    Load(LoadArgs),
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Rule files, as Prometheus reads them (`groups:`), optionally with
    /// mimirtool's `namespace:`
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Where Stratus (or its ruler) listens
    #[arg(long, env = "STRATUS_ADDRESS", default_value = "http://127.0.0.1:9494")]
    address: String,
    /// Tenant the rules belong to (sent as X-Scope-OrgID); none for the
    /// server's default tenant
    #[arg(long, env = "STRATUS_TENANT_ID")]
    id: Option<String>,
    /// Namespace of every file, in place of its `namespace:` or its name
    #[arg(long)]
    namespace: Option<String>,
    /// Also delete the namespace's groups that the file does not name
    #[arg(long)]
    delete_absent: bool,
}

/// One file, checked and ready to send.
struct RuleFile {
    namespace: String,
    groups: Vec<String>,
    /// The file as sent: `groups:` alone.
    body: String,
}

pub async fn run(cmd: RulesCommand) -> anyhow::Result<()> {
    match cmd {
        RulesCommand::Load(args) => load(args).await,
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let base = Url::parse(&args.address)
        .with_context(|| format!("--address {:?} is not a URL", args.address))?;
    if !matches!(base.scheme(), "http" | "https") {
        bail!(
            "--address must be an http or https URL, got {:?}",
            args.address
        );
    }
    // Every file is checked before anything is sent.
    let files = args
        .files
        .iter()
        .map(|f| read(f, args.namespace.as_deref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = Client::builder().timeout(REQUEST_TIMEOUT).build()?;
    let api = Api {
        client,
        base,
        tenant: args.id,
    };
    for f in files {
        api.send(Method::POST, &[&f.namespace], Some(f.body.clone()))
            .await?;
        println!(
            "{}: loaded {} group(s): {}",
            f.namespace,
            f.groups.len(),
            f.groups.join(", ")
        );
        if args.delete_absent {
            let stored = api.group_names(&f.namespace).await?;
            for g in stored.iter().filter(|g| !f.groups.contains(g)) {
                api.send(Method::DELETE, &[&f.namespace, g], None).await?;
                println!("{}: deleted group {g}, absent from the file", f.namespace);
            }
        }
    }
    Ok(())
}

fn read(path: &Path, namespace: Option<&str>) -> anyhow::Result<RuleFile> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        bail!(
            "{}: {size} bytes, more than the {MAX_FILE_BYTES} a rule file may have",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text)
        .with_context(|| format!("{name}: expected a YAML rule file"))?;
    // mimirtool's `namespace:`, taken off before the file is checked.
    let own = match doc.as_mapping_mut() {
        Some(m) => match m.remove("namespace") {
            None => None,
            Some(serde_yaml::Value::String(s)) => Some(s),
            Some(other) => bail!("{name}: expected `namespace` to be a string, got {other:?}"),
        },
        None => None,
    };
    let body = if own.is_some() {
        serde_yaml::to_string(&doc)?
    } else {
        text
    };
    let rf = parse_rule_file(&name, &body).map_err(|e| anyhow::anyhow!("{e}"))?;
    if rf.groups.is_empty() {
        bail!("{name}: no rule groups (`groups:` is empty or absent)");
    }
    let namespace = match (namespace, own) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n,
        (None, None) => file_namespace(path)?,
    };
    Ok(RuleFile {
        namespace,
        groups: rf.groups.into_iter().map(|g| g.name).collect(),
        body,
    })
}

/// The file's name without `.yml` or `.yaml`.
fn file_namespace(path: &Path) -> anyhow::Result<String> {
    let name = path.file_name().and_then(|n| n.to_str()).with_context(|| {
        format!(
            "{}: no UTF-8 file name to take the namespace from; give --namespace",
            path.display()
        )
    })?;
    let stem = name
        .strip_suffix(".yml")
        .or_else(|| name.strip_suffix(".yaml"))
        .unwrap_or(name);
    Ok(stem.to_string())
}

struct Api {
    client: Client,
    base: Url,
    tenant: Option<String>,
}

impl Api {
    /// `/api/v1/rules/<segments...>` under the address, each segment
    /// percent-encoded.
    fn url(&self, segments: &[&str]) -> anyhow::Result<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| anyhow::anyhow!("--address {} cannot have a path", self.base))?;
            path.pop_if_empty().extend(["api", "v1", "rules"]);
            path.extend(segments);
        }
        Ok(url)
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<String>,
    ) -> anyhow::Result<String> {
        let url = self.url(segments)?;
        let mut req = self.client.request(method.clone(), url.clone());
        if let Some(t) = &self.tenant {
            req = req.header("X-Scope-OrgID", t);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/yaml").body(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {url}: {status}: {}", text.trim_end());
        }
        Ok(text)
    }

    /// The groups stored in `namespace`; none when it does not exist.
    async fn group_names(&self, namespace: &str) -> anyhow::Result<Vec<String>> {
        let url = self.url(&[namespace])?;
        let mut req = self.client.get(url.clone());
        if let Some(t) = &self.tenant {
            req = req.header("X-Scope-OrgID", t);
        }
        let resp = req.send().await.with_context(|| format!("GET {url}"))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {}", text.trim_end());
        }
        // `<namespace>: [<group>...]`, as Mimir answers.
        let stored: std::collections::BTreeMap<String, Vec<stratus_ruler::rulefile::RuleGroup>> =
            serde_yaml::from_str(&text).with_context(|| format!("GET {url}: not a namespace"))?;
        Ok(stored.into_values().flatten().map(|g| g.name).collect())
    }
}
