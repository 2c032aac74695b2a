//! `stratus bench ...`: benchmarks that print their figures, and a ratio to
//! a peer measured in the same run.

use clap::Subcommand;

mod compact;
mod dataset;
mod ingest;
mod procstat;
mod promtool;
mod query;
mod recent;
mod servers;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Remote_write throughput, CPU per sample, ack latency and bytes per
    /// sample on a node-exporter-like load; `--compare-prometheus` runs the
    /// same load against Prometheus's receiver
    Ingest(ingest::IngestArgs),
    /// Query latency of dashboard queries on the same data in Stratus and,
    /// with `--compare-prometheus`, in Prometheus
    Query(query::QueryArgs),
    /// Bytes per sample of the compactor's 2 h and 24 h blocks and the CPU
    /// to build them; `--compare-prometheus` builds Prometheus blocks of the
    /// same data with promtool
    Compact(compact::CompactArgs),
    /// Queries over recent data while a node-exporter-like load is being
    /// written, warm and cold, with freshness; `--compare-prometheus`
    /// writes and queries Prometheus's head in the same run
    Recent(recent::RecentArgs),
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(args) => ingest::run(args).await,
        BenchCommand::Query(args) => query::run(args).await,
        BenchCommand::Compact(args) => compact::run(args).await,
        BenchCommand::Recent(args) => recent::run(args).await,
    }
}
