//! `stratus bench ...`: benchmarks that print their figures, and a ratio to
//! a peer measured in the same run.

use clap::Subcommand;

mod dataset;
mod ingest;
mod procstat;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Remote_write throughput, CPU per sample, ack latency and bytes per
    /// sample on a node-exporter-like load; `--compare-prometheus` runs the
    /// same load against Prometheus's receiver
    Ingest(ingest::IngestArgs),
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(args) => ingest::run(args).await,
    }
}
