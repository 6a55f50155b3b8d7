//! The Delta provider as Python sees it: `DeltaProvider(uri, version=None)`,
//! registered with `SessionContext.register_table` through its
//! `__datafusion_table_provider__` capsule.

use std::sync::Arc;

use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::table_provider::FFI_TableProvider;
use flightserver_core::delta::{
    DeltaSnapshot, DeltaTableProvider, ScanRecord, file_set_hash, live_versions,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::runtime;

/// A Delta table pinned to one snapshot version (and optionally to an exact
/// file set), read by flightserver's own pruning provider.
#[pyclass(frozen, module = "flightserver._native")]
pub struct DeltaProvider {
    uri: String,
    pub(crate) provider: Arc<DeltaTableProvider>,
}

#[pymethods]
impl DeltaProvider {
    /// Loads the snapshot of the table at `uri` (a path or URL) at `version`,
    /// or at its latest version.
    #[new]
    #[pyo3(signature = (uri, version = None))]
    fn new(py: Python<'_>, uri: String, version: Option<u64>) -> PyResult<Self> {
        let handle = runtime::handle();
        let snapshot = py
            .detach(|| DeltaSnapshot::load(&uri, version, handle))
            .map_err(|err| PyRuntimeError::new_err(format!("Delta table {uri}: {err}")))?;
        Ok(Self {
            uri,
            provider: Arc::new(DeltaTableProvider::new(Arc::new(snapshot))),
        })
    }

    #[getter]
    fn uri(&self) -> &str {
        &self.uri
    }

    /// The snapshot version every scan reads.
    #[getter]
    fn version(&self) -> u64 {
        self.provider.snapshot().version()
    }

    /// The paths (as the Delta log names them) scans may read, sorted: the
    /// snapshot's active files, or the pinned set.
    #[getter]
    fn files(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .provider
            .candidate_files()
            .iter()
            .map(|file| file.path.clone())
            .collect();
        paths.sort_unstable();
        paths
    }

    #[getter]
    fn file_count(&self) -> usize {
        self.provider.candidate_files().len()
    }

    /// SHA-256 (hex) of the sorted `files`, one per line.
    #[getter]
    fn files_hash(&self) -> String {
        file_set_hash(&self.files())
    }

    #[getter]
    fn pinned(&self) -> bool {
        self.provider.is_pinned()
    }

    #[getter]
    fn reader_features(&self) -> Vec<String> {
        self.provider.snapshot().reader_features().to_vec()
    }

    /// Features of this snapshot the provider cannot read yet; scanning it
    /// fails while this is not empty.
    #[getter]
    fn unsupported_features(&self) -> Vec<String> {
        self.provider.snapshot().unsupported_features().to_vec()
    }

    /// The files with a deletion vector: path -> (rows it deletes, rows in the file).
    #[getter]
    fn deletion_vectors(&self) -> std::collections::BTreeMap<String, (u64, u64)> {
        self.provider
            .snapshot()
            .files()
            .files()
            .iter()
            .filter_map(|file| {
                let selection = file.selection.as_ref()?;
                let rows = file.num_records?;
                let kept = u64::try_from(selection.row_count()).unwrap_or(rows);
                Some((file.path.clone(), (rows.saturating_sub(kept), rows)))
            })
            .collect()
    }

    /// A provider over the same snapshot that reads exactly `paths` (the
    /// Delta log's paths); raises ValueError for a path not in the snapshot.
    fn pin_files(&self, paths: Vec<String>) -> PyResult<Self> {
        let pinned = self
            .provider
            .with_pinned_files(&paths)
            .map_err(|err| PyValueError::new_err(err.to_string()))?;
        Ok(Self {
            uri: self.uri.clone(),
            provider: Arc::new(pinned),
        })
    }

    /// How many scans this provider has planned.
    #[getter]
    fn scan_count(&self) -> u64 {
        self.provider.scan_log().scan_count()
    }

    /// The most recent scan, or None before the first.
    fn last_scan(&self) -> Option<DeltaScan> {
        self.provider.last_scan().map(DeltaScan)
    }

    /// The recent scans with a sequence number above `sequence`, oldest first.
    fn scans_since(&self, sequence: u64) -> Vec<DeltaScan> {
        self.provider
            .scan_log()
            .since(sequence)
            .into_iter()
            .map(DeltaScan)
            .collect()
    }

    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = logical_codec(&session)?;
        let provider = Arc::clone(&self.provider) as Arc<dyn datafusion_catalog::TableProvider>;
        // Our runtime: the plans this provider creates run in this library.
        let ffi =
            FFI_TableProvider::new_with_ffi_codec(provider, true, Some(runtime::handle()), codec);
        PyCapsule::new(py, ffi, Some(c"datafusion_table_provider".to_owned()))
    }

    fn __repr__(&self) -> String {
        format!(
            "DeltaProvider({:?}, version={}, files={}{})",
            self.uri,
            self.version(),
            self.file_count(),
            if self.pinned() { ", pinned" } else { "" }
        )
    }
}

/// The versions of the Delta table at `uri` that some provider of this
/// process reads now (pinned, held by a query or prepared statement), ascending.
#[pyfunction]
pub fn live_delta_versions(uri: &str) -> PyResult<Vec<u64>> {
    live_versions(uri).map_err(|err| PyValueError::new_err(err.to_string()))
}

/// The files one scan read.
#[pyclass(frozen, module = "flightserver._native")]
pub struct DeltaScan(ScanRecord);

#[pymethods]
impl DeltaScan {
    #[getter]
    fn sequence(&self) -> u64 {
        self.0.sequence
    }

    #[getter]
    fn version(&self) -> u64 {
        self.0.version
    }

    /// The scanned paths, sorted.
    #[getter]
    fn files(&self) -> Vec<String> {
        self.0.files.clone()
    }

    #[getter]
    fn file_count(&self) -> usize {
        self.0.file_count()
    }

    #[getter]
    fn files_hash(&self) -> String {
        self.0.files_hash()
    }

    /// How many files the scan could have read before pruning.
    #[getter]
    fn candidate_files(&self) -> usize {
        self.0.candidate_files
    }

    fn __repr__(&self) -> String {
        format!(
            "DeltaScan(sequence={}, version={}, files={}/{})",
            self.0.sequence,
            self.0.version,
            self.0.file_count(),
            self.0.candidate_files
        )
    }
}

/// The session's logical extension codec, which the FFI provider needs to
/// decode the filters DataFusion hands it.
pub(crate) fn logical_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    let attribute = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(attribute)? {
        session.getattr(attribute)?.call0()?
    } else {
        session.clone()
    };
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(c"datafusion_logical_extension_codec"))?;
    // SAFETY: a capsule with this name holds an FFI_LogicalExtensionCodec
    // (datafusion's convention, same major as checked at import).
    let codec = unsafe { pointer.cast::<FFI_LogicalExtensionCodec>().as_ref() };
    Ok(codec.clone())
}
