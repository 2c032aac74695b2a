//! `stratus`: a Prometheus-compatible metrics backend whose only state is
//! an object-storage bucket.

use clap::{Parser, Subcommand};

mod admin;
mod alloc;
mod bench;
mod rules;
mod server;
mod settings;

use settings::Settings;

#[derive(clap::Args)]
struct CompactorArgs {
    /// Run one complete pass and exit
    #[arg(long)]
    once: bool,
    /// Run as of this time (RFC 3339 or Unix seconds) for merges, rollups and
    /// retention; segments are old enough by the later of this and the clock
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Parser)]
#[command(
    name = "stratus",
    version,
    about = "Prometheus-compatible metrics backend whose only state is an object-storage bucket",
    long_about = "Prometheus-compatible metrics backend whose only state is an object-storage bucket.\n\n\
        Every setting can be given as a flag (--data-dir), an environment variable \
        (STRATUS_DATA_DIR) or a key in the TOML file of --config-file (data_dir); \
        flags and variables win over the file."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every component in one process, storing in ./data by default
    All(Settings),
    /// Only the write path (remote_write, push)
    Ingest(Settings),
    /// Only the read path (the Prometheus HTTP API for Grafana)
    Query(Settings),
    /// Only compaction: segments to blocks, rollups, retention, deletes
    Compactor(CompactorArgs),
    /// Only the ruler and the notifier (and the rules/alerts/silences APIs)
    Ruler(Settings),
    /// Look into the bucket: catalogs, blocks
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Rule files into a running Stratus (like `mimirtool rules`)
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Benchmarks that print their figures
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn init_logging(filter: &str) {
    let filter = stratus_http::log_filter(filter);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn serve(
    runtime: &tokio::runtime::Runtime,
    s: Settings,
    components: server::Components,
) -> anyhow::Result<()> {
    let cfg = s.load()?.resolve()?;
    start_service(&cfg.log_level);
    cfg.log_features();
    runtime.block_on(server::run(cfg, components))
}

/// Logging, the panic hook and the open-files limit of a long-running
/// command.
fn start_service(log_level: &str) {
    init_logging(log_level);
    stratus_http::install_panic_hook();
    // As the Go runtime does: a server needs a descriptor per connection,
    // and the soft limit is often 1 024 under a much higher hard limit.
    match stratus_http::raise_open_files_limit() {
        Ok(limit) => tracing::debug!(open_files_limit = limit, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "raising the open-files limit failed"),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    stratus_query::pool::set_after_evaluation(alloc::release_free_memory);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::All(s) => serve(
            &runtime,
            s,
            server::Components {
                ingest: true,
                query: true,
                compactor: true,
                ruler: true,
            },
        ),
        Command::Ingest(s) => serve(
            &runtime,
            s,
            server::Components {
                ingest: true,
                query: false,
                compactor: false,
                ruler: false,
            },
        ),
        Command::Query(s) => serve(
            &runtime,
            s,
            server::Components {
                ingest: false,
                query: true,
                compactor: false,
                ruler: false,
            },
        ),
        Command::Ruler(s) => serve(
            &runtime,
            s,
            server::Components {
                ingest: false,
                query: false,
                compactor: false,
                ruler: true,
            },
        ),
        Command::Compactor(a) => {
            let cfg = a.settings.load()?.resolve()?;
            start_service(&cfg.log_level);
            cfg.log_features();
            runtime.block_on(server::compactor(cfg, a.once, a.now.as_deref()))
        }
        Command::Admin(a) => {
            init_logging("warn");
            runtime.block_on(admin::run(a))
        }
        Command::Rules(r) => {
            init_logging("warn");
            runtime.block_on(rules::run(r))
        }
        Command::Bench(b) => {
            init_logging("warn");
            runtime.block_on(bench::run(b))
        }
    }
}
