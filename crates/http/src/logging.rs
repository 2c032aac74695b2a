//! The log filter of every Stratus process.

use tracing_subscriber::EnvFilter;

/// Libraries whose `info` lines say nothing an operator acts on (foyer
/// announces at every start that a cache without a disk tier has none);
/// they log at `warn` unless the filter names them.
const QUIET: [&str; 1] = ["foyer_storage=warn"];

/// `level` as a tracing filter (`info`, `debug`, `stratus_query=debug`,
/// ...; an unparsable one is `info`), with [`QUIET`] libraries at `warn`.
pub fn log_filter(level: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    for directive in QUIET {
        let target = directive.split('=').next().unwrap_or(directive);
        if !level.contains(target) {
            if let Ok(d) = directive.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    filter
}
