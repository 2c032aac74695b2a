//! Parquet blocks: every series of one tenant for one time range, one row
//! per series, raw samples as chunk columns (each cell XOR or bit-packed,
//! whichever is smaller) or downsampled aggregates.
//! The layout is specified in `docs/format/block.md`.
//!
//! Pure functions over bytes, no IO. Writing takes sorted series and
//! returns the file. Reading goes in phases so the caller does the IO:
//!
//! 1. fetch [`FOOTER_HINT`] bytes from the end and [`BlockFooter::parse`]
//!    them (on [`BlockError::NeedMore`], fetch that many and parse again);
//! 2. [`BlockFooter::plan`] the byte ranges for a query;
//! 3. fetch `plan.ranges` (or [`ReadPlan::coalesce`]d ones) into a
//!    [`Fetched`] and [`read_raw`] or [`read_downsampled`]; or, for
//!    selective queries, fetch only `plan.label_ranges`, narrow the plan to
//!    the matching rows with [`BlockFooter::refine`], fetch
//!    [`Fetched::missing`] ranges and read with the refined plan.
//!
//! Label lookups without matchers skip the rows:
//! [`BlockFooter::label_names`] answers from the footer, and the values of
//! one label are [`read_label_values`] of the dictionary pages at
//! [`BlockFooter::label_values_ranges`]; both say `None` where only the
//! label pages can tell.

mod cell;
mod dictionary;
mod downsample;
mod error;
mod fetch;
mod fingerprint;
mod footer;
mod inspect;
mod options;
mod plan;
mod read;
mod schema;
mod selection;
mod write;

pub use dictionary::read_label_values;
pub use downsample::{downsample, raw_increase, window_end, AggrPoint, WindowEdges};
pub use error::{BlockError, Result};
pub use fetch::Fetched;
pub use fingerprint::fingerprint;
pub use footer::{BlockFooter, FOOTER_HINT};
pub use inspect::{
    inspect, read_all, read_all_downsampled, BlockStats, ColumnStats, RowGroupStats,
};
pub use options::{BlockInfo, BlockOptions, BLOCK_VERSION, BLOCK_VERSION_2};
pub use plan::ReadPlan;
pub use read::{read_downsampled, read_raw, read_series_labels};
pub use schema::{Resolution, AGGREGATES, AGGREGATES_V2};
pub use write::{write_downsampled_block, write_raw_block, RawBlockWriter};

/// One series of a raw block: its labels and samples in time order.
pub type RawSeries = (stratus_model::Labels, Vec<stratus_model::Sample>);

/// One series of a downsampled block: its labels and points in time order.
pub type DownsampledSeries = (stratus_model::Labels, Vec<AggrPoint>);
