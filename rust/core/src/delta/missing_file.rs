//! A Delta scan whose data file is gone (removed after the scan was planned)
//! fails with an error naming the table and version, not a raw I/O error.

use std::error::Error;
use std::sync::Arc;

use datafusion_common::DataFusionError;
use datafusion_physical_plan::SendableRecordBatchStream;
use datafusion_physical_plan::stream::RecordBatchStreamAdapter;
use futures::TryStreamExt;

use super::scan_exec::DeltaScanInfo;

/// Starts the message of a missing-file error: the server answers it with a
/// retryable status (a new query reads the table's current files).
pub const FILE_GONE_PREFIX: &str = "[flightserver.delta-file-gone]";

/// `err`, reworded when it says a file of the scan is missing.
pub fn name_missing_files(err: DataFusionError, info: &DeltaScanInfo) -> DataFusionError {
    if !is_missing_file(&err) {
        return err;
    }
    DataFusionError::Execution(format!(
        "{FILE_GONE_PREFIX} Delta table {} version {}: a data file this query reads is gone \
         (removed after the query was planned); run the query again to read the table's \
         current version. Cause: {err}",
        info.table_root, info.record.version
    ))
}

/// `stream` with its missing-file errors reworded by `name_missing_files`.
pub fn stream_naming_missing_files(
    stream: SendableRecordBatchStream,
    info: Arc<DeltaScanInfo>,
) -> SendableRecordBatchStream {
    let schema = stream.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        stream.map_err(move |err| name_missing_files(err, &info)),
    ))
}

fn is_missing_file(err: &DataFusionError) -> bool {
    let mut cause: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(store) = current.downcast_ref::<object_store::Error>()
            && matches!(store, object_store::Error::NotFound { .. })
        {
            return true;
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::NotFound
        {
            return true;
        }
        cause = current.source();
    }
    // Errors that crossed a boundary as text only.
    let text = err.to_string();
    text.contains("No such file or directory") || text.contains("NotFound")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::ScanRecord;

    fn info() -> DeltaScanInfo {
        DeltaScanInfo {
            table_root: "file:///lake/events/".to_owned(),
            record: ScanRecord {
                sequence: 1,
                version: 7,
                files: vec!["a.parquet".to_owned()],
                candidate_files: 1,
            },
            bytes: 10,
        }
    }

    #[test]
    fn a_missing_object_names_the_table_and_version() {
        let gone = object_store::Error::NotFound {
            path: "/lake/events/a.parquet".to_owned(),
            source: "No such file".into(),
        };
        let err = name_missing_files(DataFusionError::ObjectStore(Box::new(gone)), &info());
        let text = err.to_string();
        assert!(text.contains(FILE_GONE_PREFIX), "{text}");
        assert!(text.contains("file:///lake/events/ version 7"), "{text}");
    }

    #[test]
    fn other_errors_pass_unchanged() {
        let err = name_missing_files(DataFusionError::Execution("boom".to_owned()), &info());
        assert_eq!(err.to_string(), "Execution error: boom");
    }
}
