//! Which rows of which row group a read touches: made by planning, used
//! by reading.

use std::ops::Range;

/// The rows to read in one row group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowGroupSelection {
    pub row_group: usize,
    /// Ascending, disjoint, row-group-relative.
    pub rows: Vec<Range<usize>>,
}
