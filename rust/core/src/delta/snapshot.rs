//! One version of a Delta table, read through `delta_kernel`: its schema, its
//! partition columns and its active files with their statistics.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion_common::{DataFusionError, Result};
use delta_kernel::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use delta_kernel::arrow::compute::{concat_batches, filter_record_batch};
use delta_kernel::engine::arrow_conversion::TryIntoArrow;
use delta_kernel::engine::arrow_data::ArrowEngineData;
use delta_kernel::scan::state::{DvInfo, ScanFile};
use delta_kernel::scan::{PartitionValuesOptions, StatsOptions};
use delta_kernel::snapshot::Snapshot;
use delta_kernel::table_features::ColumnMappingMode;
use delta_kernel_default_engine::DefaultEngine;
use delta_kernel_default_engine::executor::tokio::TokioMultiThreadExecutor;
use delta_kernel_default_engine::storage::store_from_url;
use object_store::ObjectStore;
use tokio::runtime::Handle;
use url::Url;

use super::files::ActiveFiles;

/// A loaded Delta snapshot: everything a scan needs, read once.
#[derive(Debug)]
pub struct DeltaSnapshot {
    table_root: Url,
    version: u64,
    /// The table's columns in Delta's order, as the provider shows them.
    schema: SchemaRef,
    /// The columns stored in the data files, in file-schema order, by their
    /// physical names.
    file_schema: SchemaRef,
    /// The partition columns, in the table's partition order, by their physical names.
    partition_fields: Vec<Arc<Field>>,
    /// Logical column name to the name the files and statistics use (they
    /// differ under column mapping).
    physical_names: HashMap<String, String>,
    files: Arc<ActiveFiles>,
    store: Arc<dyn ObjectStore>,
    reader_features: Vec<String>,
    unsupported: Vec<String>,
}

impl DeltaSnapshot {
    /// Loads `location` (a path or URL) at `version`, or at its latest version.
    ///
    /// Blocks on `runtime` for the log's I/O; call it from outside that runtime.
    pub fn load(location: &str, version: Option<u64>, runtime: Handle) -> Result<Self> {
        let table_root = table_url(location)?;
        let store = store_from_url(&table_root).map_err(kernel_error)?;
        let engine = DefaultEngine::builder(Arc::clone(&store))
            .with_task_executor(Arc::new(TokioMultiThreadExecutor::new(runtime)))
            .build();
        let mut builder = Snapshot::builder_for(table_root.as_str());
        if let Some(version) = version {
            builder = builder.at_version(version);
        }
        let snapshot = builder.build(&engine).map_err(kernel_error)?;
        let config = snapshot.table_configuration();

        let kernel_schema: Schema = snapshot.schema().as_ref().try_into_arrow()?;
        let mode = config.column_mapping_mode();
        let mut unsupported = Vec::new();
        match mode {
            ColumnMappingMode::None => {}
            // Parquet columns found by field id: DataFusion reads by name.
            ColumnMappingMode::Id => unsupported.push("columnMapping (id mode)".to_owned()),
            ColumnMappingMode::Name => {
                // Nested fields have physical names of their own inside the files.
                if kernel_schema
                    .fields()
                    .iter()
                    .any(|f| has_struct(f.data_type()))
                {
                    unsupported.push("columnMapping (nested columns)".to_owned());
                }
            }
        }
        // Across the FFI a plan executes with a fresh object-store registry that
        // knows local files only, so scans of remote tables could not open them.
        if table_root.scheme() != "file" {
            unsupported.push(format!("{} storage", table_root.scheme()));
        }
        let physical_name = |field: &Field| match mode {
            ColumnMappingMode::None => field.name().clone(),
            _ => field
                .metadata()
                .get(PHYSICAL_NAME_KEY)
                .cloned()
                .unwrap_or_else(|| field.name().clone()),
        };
        // Delta's field metadata (column mapping, comments) is not part of the
        // data: the provider's schema is plain.
        let schema = Arc::new(Schema::new(
            kernel_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_metadata(Default::default()))
                .collect::<Vec<_>>(),
        ));
        let physical_names: HashMap<String, String> = kernel_schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), physical_name(f)))
            .collect();
        // Fields as the data files (and the log's statistics) name them.
        let physical_field = |field: &Field| {
            Arc::new(Field::new(
                physical_name(field),
                field.data_type().clone(),
                field.is_nullable(),
            ))
        };
        let partition_columns = config.logical_partition_columns().to_vec();
        let partition_fields = partition_columns
            .iter()
            .map(|name| {
                kernel_schema
                    .field_with_name(name)
                    .map(physical_field)
                    .map_err(|_| {
                        DataFusionError::Execution(format!(
                            "partition column {name} is not in the schema"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let file_schema = Arc::new(Schema::new(
            kernel_schema
                .fields()
                .iter()
                .filter(|field| !partition_columns.contains(field.name()))
                .map(|field| physical_field(field))
                .collect::<Vec<_>>(),
        ));

        let reader_features = config
            .protocol()
            .reader_features()
            .unwrap_or_default()
            .iter()
            .map(|feature| feature.as_ref().to_owned())
            .collect();

        let (batch, vectors) = scan_file_rows(&snapshot, &engine)?;
        let mut files = ActiveFiles::try_new(&table_root, &batch, &file_schema, &partition_fields)?;
        // Deletion vectors are read once, here: scans of the pinned snapshot
        // apply them as row selections.
        let applied = files.apply_deletion_vectors(|file| {
            let vector = vectors.get(&file.path).ok_or_else(|| {
                DataFusionError::Internal(format!("no deletion vector found for {}", file.path))
            })?;
            Ok(vector
                .get_row_indexes(&engine, &table_root)
                .map_err(kernel_error)?
                .unwrap_or_default())
        });
        if let Err(DataFusionError::NotImplemented(reason)) = &applied {
            unsupported.push(format!("deletionVectors ({reason})"));
        } else {
            applied?;
        }
        Ok(Self {
            table_root,
            version: snapshot.version(),
            schema,
            file_schema,
            partition_fields,
            physical_names,
            files: Arc::new(files),
            store,
            reader_features,
            unsupported,
        })
    }

    pub fn table_root(&self) -> &Url {
        &self.table_root
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn file_schema(&self) -> &SchemaRef {
        &self.file_schema
    }

    pub fn partition_fields(&self) -> &[Arc<Field>] {
        &self.partition_fields
    }

    /// The name the data files and statistics use for logical column `name`.
    pub fn physical_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.physical_names.get(name).map_or(name, String::as_str)
    }

    pub fn files(&self) -> &Arc<ActiveFiles> {
        &self.files
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The reader features the table's protocol declares (`deletionVectors`, ...).
    pub fn reader_features(&self) -> &[String] {
        &self.reader_features
    }

    /// Features this snapshot uses that the provider cannot read yet. The
    /// provider refuses to scan such a snapshot rather than return wrong rows.
    pub fn unsupported_features(&self) -> &[String] {
        &self.unsupported
    }
}

/// The kernel's scan rows (one per active file) with typed statistics and
/// partition values, as one Arrow batch; and the deletion vectors by file path.
fn scan_file_rows(
    snapshot: &Arc<Snapshot>,
    engine: &dyn delta_kernel::Engine,
) -> Result<(RecordBatch, HashMap<String, DvInfo>)> {
    let scan = Arc::clone(snapshot)
        .scan_builder()
        .with_stats(StatsOptions::all_struct())
        .with_partition_values(PartitionValuesOptions::with_struct())
        .build()
        .map_err(kernel_error)?;
    let mut batches = Vec::new();
    let mut vectors = HashMap::new();
    for metadata in scan.scan_metadata(engine).map_err(kernel_error)? {
        let metadata = metadata.map_err(kernel_error)?;
        vectors = metadata
            .visit_scan_files(vectors, keep_deletion_vector)
            .map_err(kernel_error)?;
        let (data, mut selection) = metadata.scan_files.into_parts();
        let batch: RecordBatch = ArrowEngineData::try_from_engine_data(data)
            .map_err(kernel_error)?
            .into();
        // Rows past the selection vector's end are selected.
        selection.resize(batch.num_rows(), true);
        batches.push(filter_record_batch(&batch, &BooleanArray::from(selection))?);
    }
    let rows = match batches.first() {
        Some(first) => concat_batches(&first.schema(), &batches)?,
        None => RecordBatch::new_empty(Arc::new(delta_kernel::arrow::datatypes::Schema::empty())),
    };
    Ok((rows, vectors))
}

fn keep_deletion_vector(vectors: &mut HashMap<String, DvInfo>, file: ScanFile) {
    if file.dv_info.has_vector() {
        vectors.insert(file.path, file.dv_info);
    }
}

/// The Arrow field metadata key under which the kernel passes a column's physical name.
const PHYSICAL_NAME_KEY: &str = "delta.columnMapping.physicalName";

/// Whether `data_type` is or contains a struct.
fn has_struct(data_type: &DataType) -> bool {
    match data_type {
        DataType::Struct(_) => true,
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            has_struct(item.data_type())
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) => fields.iter().any(|f| has_struct(f.data_type())),
            _ => false,
        },
        _ => false,
    }
}

/// A table location as the directory URL the kernel expects.
pub(crate) fn table_url(location: &str) -> Result<Url> {
    let invalid = |reason: String| {
        DataFusionError::Configuration(format!(
            "invalid Delta table location {location:?}: {reason}"
        ))
    };
    let mut url = if location.contains("://") {
        Url::parse(location).map_err(|err| invalid(err.to_string()))?
    } else {
        let path = std::fs::canonicalize(location).map_err(|err| invalid(err.to_string()))?;
        Url::from_directory_path(&path).map_err(|()| invalid("not an absolute path".to_owned()))?
    };
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

pub(crate) fn kernel_error(err: delta_kernel::KernelError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}

/// Rows of a struct column, with the struct's own nulls applied to them.
pub(crate) fn struct_child(
    parent: &dyn Array,
    name: &str,
) -> Option<delta_kernel::arrow::array::ArrayRef> {
    let parent = parent.as_struct_opt()?;
    let child = parent.column_by_name(name)?;
    let nulls = delta_kernel::arrow::buffer::NullBuffer::union(parent.nulls(), child.nulls());
    let data = child.to_data().into_builder().nulls(nulls).build().ok()?;
    Some(delta_kernel::arrow::array::make_array(data))
}
