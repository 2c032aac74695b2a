//! The column layout of a block: which column holds what, the Parquet
//! schema built from it, and the check that a file's schema is exactly the
//! layout its metadata announces.

use std::sync::Arc;

use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::schema::types::{SchemaDescriptor, Type, TypePtr};
use stratus_model::METRIC_NAME;

use crate::error::{BlockError, Result};

/// Name of the Parquet root group.
pub(crate) const SCHEMA_NAME: &str = "stratus_block";

pub const FINGERPRINT_COLUMN: &str = "__fingerprint";
pub const MIN_TIME_COLUMN: &str = "__min_time";
pub const MAX_TIME_COLUMN: &str = "__max_time";
pub const SAMPLES_COLUMN: &str = "__samples";

/// The aggregates of a downsampled block of version 3, in column order
/// within one sub-range.
pub const AGGREGATES: [&str; 8] = [
    "count", "sum", "min", "max", "last", "first", "span", "drops",
];

/// The aggregates of a downsampled block of version 2: no window edges
/// (`first`, `span`, `drops`), and a stored `counter`, which version 3
/// derives from the edges.
pub const AGGREGATES_V2: [&str; 6] = ["count", "sum", "min", "max", "last", "counter"];

/// Raw samples or downsampled aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    Raw,
    /// One aggregate point per `step_ms` window.
    Downsampled {
        step_ms: i64,
    },
}

impl Resolution {
    /// `0` for raw blocks, the window length otherwise.
    pub fn step_ms(self) -> i64 {
        match self {
            Resolution::Raw => 0,
            Resolution::Downsampled { step_ms } => step_ms,
        }
    }

    pub fn is_raw(self) -> bool {
        self == Resolution::Raw
    }
}

/// Where each column of a block is.
///
/// Columns, in file order:
/// `0..L` label columns (`__name__` first, then the other names in byte
/// order), then `__fingerprint`, `__min_time`, `__max_time`, `__samples`,
/// then per sub-range `k` its chunk columns followed by `__crc_<k>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub raw: bool,
    pub label_names: Vec<String>,
    pub num_chunks: usize,
    /// The aggregate columns of a downsampled block ([`AGGREGATES`] or,
    /// in version 2, [`AGGREGATES_V2`]); ignored for raw blocks.
    pub aggregates: &'static [&'static str],
}

impl Layout {
    pub fn num_labels(&self) -> usize {
        self.label_names.len()
    }

    pub fn fingerprint(&self) -> usize {
        self.num_labels()
    }

    pub fn min_time(&self) -> usize {
        self.num_labels() + 1
    }

    pub fn max_time(&self) -> usize {
        self.num_labels() + 2
    }

    pub fn samples(&self) -> usize {
        self.num_labels() + 3
    }

    fn first_chunk_column(&self) -> usize {
        self.num_labels() + 4
    }

    /// Chunk columns per sub-range (1 raw, 8 or 6 downsampled).
    pub fn chunks_per_range(&self) -> usize {
        if self.raw {
            1
        } else {
            self.aggregates.len()
        }
    }

    /// Chunk columns of sub-range `k`, in order.
    pub fn chunk_columns(&self, k: usize) -> std::ops::Range<usize> {
        let start = self.first_chunk_column() + k * (self.chunks_per_range() + 1);
        start..start + self.chunks_per_range()
    }

    /// The checksum column of sub-range `k`.
    pub fn crc_column(&self, k: usize) -> usize {
        self.chunk_columns(k).end
    }

    pub fn num_columns(&self) -> usize {
        self.first_chunk_column() + self.num_chunks * (self.chunks_per_range() + 1)
    }

    /// The name of every column, in order.
    pub fn column_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.label_names.iter().map(|n| label_column(n)).collect();
        names.extend(
            [
                FINGERPRINT_COLUMN,
                MIN_TIME_COLUMN,
                MAX_TIME_COLUMN,
                SAMPLES_COLUMN,
            ]
            .map(String::from),
        );
        for k in 0..self.num_chunks {
            if self.raw {
                names.push(format!("__chunk_{k}"));
            } else {
                names.extend(self.aggregates.iter().map(|a| format!("__{a}_{k}")));
            }
            names.push(format!("__crc_{k}"));
        }
        names
    }

    /// The Parquet schema of this layout.
    pub fn schema(&self) -> Result<TypePtr> {
        let mut fields: Vec<TypePtr> = Vec::with_capacity(self.num_columns());
        for name in &self.label_names {
            fields.push(Arc::new(
                Type::primitive_type_builder(&label_column(name), PhysicalType::BYTE_ARRAY)
                    .with_repetition(Repetition::OPTIONAL)
                    .with_logical_type(Some(LogicalType::String))
                    .build()?,
            ));
        }
        fields.push(Arc::new(
            Type::primitive_type_builder(FINGERPRINT_COLUMN, PhysicalType::INT64)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::integer(64, false)))
                .build()?,
        ));
        for name in [MIN_TIME_COLUMN, MAX_TIME_COLUMN] {
            fields.push(Arc::new(
                Type::primitive_type_builder(name, PhysicalType::INT64)
                    .with_repetition(Repetition::REQUIRED)
                    .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::MILLIS)))
                    .build()?,
            ));
        }
        fields.push(Arc::new(
            Type::primitive_type_builder(SAMPLES_COLUMN, PhysicalType::INT64)
                .with_repetition(Repetition::REQUIRED)
                .build()?,
        ));
        let names = self.column_names();
        for name in &names[fields.len()..] {
            let field = if name.starts_with("__crc_") {
                Type::primitive_type_builder(name, PhysicalType::INT32)
                    .with_repetition(Repetition::OPTIONAL)
                    .with_logical_type(Some(LogicalType::integer(32, false)))
                    .build()?
            } else {
                Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                    .with_repetition(Repetition::OPTIONAL)
                    .build()?
            };
            fields.push(Arc::new(field));
        }
        Ok(Arc::new(
            Type::group_type_builder(SCHEMA_NAME)
                .with_fields(fields)
                .build()?,
        ))
    }

    /// Reads the layout back from a file's schema: the label columns are
    /// the columns before `__fingerprint`. Fails unless the schema is
    /// exactly [`Layout::schema`] of the result.
    pub fn from_schema(
        schema: &SchemaDescriptor,
        raw: bool,
        num_chunks: usize,
        aggregates: &'static [&'static str],
    ) -> Result<Self> {
        let label_names: Vec<String> = schema
            .columns()
            .iter()
            .map(|c| c.name())
            .take_while(|n| *n != FINGERPRINT_COLUMN)
            .map(label_name)
            .collect();
        let layout = Layout {
            raw,
            label_names,
            num_chunks,
            aggregates,
        };
        layout.check_label_names()?;
        let expected = layout.schema()?;
        if schema.root_schema() != expected.as_ref() {
            let found: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
            return Err(BlockError::InvalidSchema(format!(
                "expected columns {:?} with their block types, found {:?}",
                layout.column_names(),
                found
            )));
        }
        Ok(layout)
    }

    /// `__name__` first, then strictly ascending label names.
    fn check_label_names(&self) -> Result<()> {
        if self.label_names.first().map(String::as_str) != Some(METRIC_NAME) {
            return Err(BlockError::InvalidSchema(format!(
                "expected {METRIC_NAME:?} as the first column, found {:?}",
                self.label_names.first()
            )));
        }
        let rest = &self.label_names[1..];
        if let Some(w) = rest.windows(2).find(|w| w[0] >= w[1]) {
            return Err(BlockError::InvalidSchema(format!(
                "label columns must be in ascending order, found {:?} before {:?}",
                w[0], w[1]
            )));
        }
        Ok(())
    }
}

/// Prefix of the columns of labels whose names start with `__` (other
/// than `__name__`), so they can never collide with the fixed columns.
const ESCAPED_LABEL_PREFIX: &str = "__label__";

/// The column holding label `name`: the name itself, or
/// `__label__<name>` for names starting with `__` other than `__name__`.
pub fn label_column(name: &str) -> String {
    if name == METRIC_NAME || !name.starts_with("__") {
        name.to_string()
    } else {
        format!("{ESCAPED_LABEL_PREFIX}{name}")
    }
}

/// The label name of a label column (the inverse of [`label_column`]).
pub fn label_name(column: &str) -> String {
    column
        .strip_prefix(ESCAPED_LABEL_PREFIX)
        .unwrap_or(column)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_looking_label_names_get_their_own_columns() {
        for name in [
            "__name__",
            "job",
            "__address__",
            "__fingerprint",
            "__label__x",
            "__chunk_0",
        ] {
            let col = label_column(name);
            assert_eq!(label_name(&col), name);
            if name != "__name__" && name.starts_with("__") {
                assert!(col.starts_with("__label__"), "{col}");
            }
        }
        let l = Layout {
            raw: true,
            label_names: vec![
                "__name__".into(),
                "__address__".into(),
                "__fingerprint".into(),
                "job".into(),
            ],
            num_chunks: 2,
            aggregates: &AGGREGATES,
        };
        let schema = SchemaDescriptor::new(l.schema().expect("schema"));
        assert_eq!(
            Layout::from_schema(&schema, true, 2, &AGGREGATES).expect("layout"),
            l
        );
    }

    #[test]
    fn column_positions_match_names() {
        for raw in [true, false] {
            let l = Layout {
                raw,
                label_names: vec!["__name__".into(), "instance".into(), "job".into()],
                num_chunks: 3,
                aggregates: &AGGREGATES,
            };
            let names = l.column_names();
            assert_eq!(names.len(), l.num_columns());
            assert_eq!(names[l.fingerprint()], FINGERPRINT_COLUMN);
            assert_eq!(names[l.samples()], SAMPLES_COLUMN);
            assert_eq!(names[l.crc_column(2)], "__crc_2");
            let first = l.chunk_columns(1).start;
            assert_eq!(names[first], if raw { "__chunk_1" } else { "__count_1" });
            let schema = SchemaDescriptor::new(l.schema().expect("schema"));
            let all = &AGGREGATES;
            assert_eq!(
                Layout::from_schema(&schema, raw, 3, all).expect("layout"),
                l
            );
            assert!(Layout::from_schema(&schema, !raw, 3, all).is_err());
            assert!(Layout::from_schema(&schema, raw, 2, all).is_err());
            if !raw {
                assert!(Layout::from_schema(&schema, raw, 3, &AGGREGATES_V2).is_err());
            }
        }
    }
}
