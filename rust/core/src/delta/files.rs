//! A snapshot's active files with the statistics Delta keeps for each, and
//! their use for file pruning by DataFusion's `PruningPredicate`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use datafusion_common::pruning::PruningStatistics;
use datafusion_common::{Column, DataFusionError, Result, ScalarValue};
use delta_kernel::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt64Array, new_null_array,
};
use delta_kernel::arrow::datatypes::Int64Type;
use object_store::path::Path;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use url::Url;

use super::snapshot::struct_child;

/// One data file of the snapshot.
#[derive(Debug, Clone)]
pub struct DeltaFile {
    /// The path as the Delta log records it (relative to the table root, URL-encoded).
    pub path: String,
    /// Where the file lives in the table's object store.
    pub location: Path,
    pub size: u64,
    /// One value per partition column, in the table's partition order.
    pub partition_values: Vec<ScalarValue>,
    pub num_records: Option<u64>,
    pub has_deletion_vector: bool,
    /// The rows the file's deletion vector keeps (None: every row).
    pub selection: Option<Arc<RowSelection>>,
}

/// The active files and, column by column, their statistics (one row per file).
#[derive(Debug, Default)]
pub struct ActiveFiles {
    files: Vec<DeltaFile>,
    row_counts: Option<ArrayRef>,
    min_values: HashMap<String, ArrayRef>,
    max_values: HashMap<String, ArrayRef>,
    null_counts: HashMap<String, ArrayRef>,
}

impl ActiveFiles {
    /// Reads the kernel's scan rows (`path`, `size`, `deletionVector`,
    /// `stats_parsed`, `partitionValues_parsed`).
    pub(crate) fn try_new(
        table_root: &Url,
        rows: &RecordBatch,
        file_schema: &Schema,
        partition_fields: &[Arc<Field>],
    ) -> Result<Self> {
        if rows.num_rows() == 0 {
            return Ok(Self::default());
        }
        let column = |name: &str| {
            rows.column_by_name(name).ok_or_else(|| {
                DataFusionError::Internal(format!("Delta scan rows have no {name} column"))
            })
        };
        let paths = column("path")?.as_string::<i32>();
        let sizes = column("size")?.as_primitive::<Int64Type>();
        let deletion_vectors = column("deletionVector")?;
        let stats = rows.column_by_name("stats_parsed");
        let row_counts: Option<ArrayRef> = stats
            .and_then(|stats| struct_child(stats.as_ref(), "numRecords"))
            .map(|counts| Arc::new(to_u64(counts.as_ref())) as ArrayRef);

        let mut min_values = HashMap::new();
        let mut max_values = HashMap::new();
        let mut null_counts = HashMap::new();
        if let Some(stats) = stats {
            let mins = struct_child(stats.as_ref(), "minValues");
            let maxs = struct_child(stats.as_ref(), "maxValues");
            let nulls = struct_child(stats.as_ref(), "nullCount");
            for field in file_schema.fields() {
                let name = field.name();
                if let Some(min) = mins.as_ref().and_then(|m| struct_child(m.as_ref(), name)) {
                    min_values.insert(name.clone(), min);
                }
                // Delta stores timestamp statistics truncated to milliseconds,
                // so a maximum may lie below the file's true maximum: unusable.
                let exact_max = !matches!(field.data_type(), DataType::Timestamp(..));
                if let Some(max) = maxs.as_ref().and_then(|m| struct_child(m.as_ref(), name))
                    && exact_max
                {
                    max_values.insert(name.clone(), max);
                }
                if let Some(count) = nulls.as_ref().and_then(|n| struct_child(n.as_ref(), name))
                    && count.data_type() == &DataType::Int64
                {
                    null_counts.insert(name.clone(), Arc::new(to_u64(count.as_ref())) as ArrayRef);
                }
            }
        }

        let partitions = rows.column_by_name("partitionValues_parsed");
        let mut partition_columns = Vec::with_capacity(partition_fields.len());
        for field in partition_fields {
            let values = partitions
                .and_then(|p| struct_child(p.as_ref(), field.name()))
                .ok_or_else(|| {
                    DataFusionError::Internal(format!(
                        "Delta scan rows have no value for partition column {}",
                        field.name()
                    ))
                })?;
            // A partition column holds one value per file: it is its min and max.
            min_values.insert(field.name().clone(), Arc::clone(&values));
            max_values.insert(field.name().clone(), Arc::clone(&values));
            let nulls: UInt64Array = (0..values.len())
                .map(|row| {
                    if values.is_null(row) {
                        row_counts
                            .as_ref()
                            .and_then(|c| {
                                c.as_primitive_opt::<delta_kernel::arrow::datatypes::UInt64Type>()
                            })
                            .filter(|c| c.is_valid(row))
                            .map(|c| c.value(row))
                    } else {
                        Some(0)
                    }
                })
                .collect();
            null_counts.insert(field.name().clone(), Arc::new(nulls) as ArrayRef);
            partition_columns.push(values);
        }

        let mut files = Vec::with_capacity(rows.num_rows());
        for row in 0..rows.num_rows() {
            let path = paths.value(row).to_owned();
            let url = table_root.join(&path).map_err(|err| {
                DataFusionError::Execution(format!("bad Delta file path {path:?}: {err}"))
            })?;
            let location = Path::from_url_path(url.path())
                .map_err(|err| DataFusionError::External(Box::new(err)))?;
            let partition_values = partition_columns
                .iter()
                .map(|values| ScalarValue::try_from_array(values, row))
                .collect::<Result<Vec<_>>>()?;
            let num_records = row_counts
                .as_ref()
                .and_then(|counts| {
                    counts.as_primitive_opt::<delta_kernel::arrow::datatypes::UInt64Type>()
                })
                .filter(|counts| counts.is_valid(row))
                .map(|counts| counts.value(row));
            files.push(DeltaFile {
                path,
                location,
                size: u64::try_from(sizes.value(row)).unwrap_or_default(),
                partition_values,
                num_records,
                has_deletion_vector: deletion_vectors.is_valid(row),
                selection: None,
            });
        }
        Ok(Self {
            files,
            row_counts,
            min_values,
            max_values,
            null_counts,
        })
    }

    pub fn files(&self) -> &[DeltaFile] {
        &self.files
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn has_deletion_vectors(&self) -> bool {
        self.files.iter().any(|file| file.has_deletion_vector)
    }

    /// Applies deletion vectors: `deleted(path)` gives the sorted row indexes
    /// a file's vector deletes. A file needs its row count (`numRecords`) for
    /// the selection to cover it; without one this fails, naming the file.
    pub(crate) fn apply_deletion_vectors(
        &mut self,
        mut deleted: impl FnMut(&DeltaFile) -> Result<Vec<u64>>,
    ) -> Result<()> {
        for file in self.files.iter_mut().filter(|f| f.has_deletion_vector) {
            let rows = file.num_records.ok_or_else(|| {
                DataFusionError::NotImplemented(format!(
                    "deletion vector on {} whose row count (numRecords) the log does not give",
                    file.path
                ))
            })?;
            file.selection = Some(Arc::new(kept_rows(&deleted(file)?, rows, &file.path)?));
        }
        Ok(())
    }

    /// Which files (by index) have one of `paths`; errors naming a path that
    /// is not an active file of this snapshot.
    pub fn select(&self, paths: &[String]) -> Result<Vec<bool>> {
        let wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
        let selected: Vec<bool> = self
            .files
            .iter()
            .map(|file| wanted.contains(file.path.as_str()))
            .collect();
        let found: HashSet<&str> = self
            .files
            .iter()
            .filter(|file| wanted.contains(file.path.as_str()))
            .map(|file| file.path.as_str())
            .collect();
        if let Some(missing) = paths.iter().find(|path| !found.contains(path.as_str())) {
            return Err(DataFusionError::Plan(format!(
                "file {missing:?} is not an active file of this Delta snapshot"
            )));
        }
        Ok(selected)
    }
}

impl PruningStatistics for ActiveFiles {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.min_values.get(column.name()).cloned()
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.max_values.get(column.name()).cloned()
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.null_counts.get(column.name()).cloned()
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        self.row_counts.clone()
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// The selection of the `rows` rows of a file that `deleted` (sorted row
/// indexes) does not name.
pub(crate) fn kept_rows(deleted: &[u64], rows: u64, path: &str) -> Result<RowSelection> {
    let mut selectors = Vec::new();
    let mut next = 0u64;
    for &row in deleted {
        if row >= rows || row < next {
            return Err(DataFusionError::Execution(format!(
                "deletion vector of {path} names row {row}, outside its {rows} rows or out of order"
            )));
        }
        if row > next {
            selectors.push(RowSelector::select(to_usize(row - next)?));
        }
        selectors.push(RowSelector::skip(1));
        next = row + 1;
    }
    if next < rows {
        selectors.push(RowSelector::select(to_usize(rows - next)?));
    }
    Ok(RowSelection::from(selectors))
}

fn to_usize(count: u64) -> Result<usize> {
    usize::try_from(count).map_err(|_| DataFusionError::Execution(format!("{count} rows")))
}

/// Delta's counts are longs; DataFusion's pruning wants unsigned ones.
fn to_u64(counts: &dyn Array) -> UInt64Array {
    match counts.as_primitive_opt::<Int64Type>() {
        Some(counts) => counts
            .iter()
            .map(|count| count.and_then(|c| u64::try_from(c).ok()))
            .collect(),
        None => {
            let nulls = new_null_array(&DataType::UInt64, counts.len());
            nulls
                .as_primitive::<delta_kernel::arrow::datatypes::UInt64Type>()
                .clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(selection: &RowSelection) -> Vec<(bool, usize)> {
        selection
            .iter()
            .map(|selector| (selector.skip, selector.row_count))
            .collect()
    }

    #[test]
    fn kept_rows_skip_exactly_the_deleted_rows() {
        let selection = kept_rows(&[0, 1, 5, 9], 10, "f").unwrap();
        assert_eq!(
            runs(&selection),
            vec![(true, 2), (false, 3), (true, 1), (false, 3), (true, 1)]
        );
        assert_eq!(selection.row_count(), 6);
        assert_eq!(runs(&kept_rows(&[], 4, "f").unwrap()), vec![(false, 4)]);
        assert!(kept_rows(&[10], 10, "f").is_err());
        assert!(kept_rows(&[3, 2], 10, "f").is_err());
    }
}
