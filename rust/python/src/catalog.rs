//! `SwapSchema`: flightserver's schema provider as Python sees it, registered
//! with `Catalog.register_schema` through its `__datafusion_schema_provider__`
//! capsule. DDL and the Delta registrations replace tables in it in one step
//! (see `flightserver_core::catalog`).

use std::sync::Arc;

use datafusion_ffi::schema_provider::FFI_SchemaProvider;
use flightserver_core::catalog::{MARKER_TABLE, STAGING_PREFIX, SwapSchemaProvider};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::delta::logical_codec;
use crate::runtime;

#[pyclass(frozen, module = "flightserver._native")]
pub struct SwapSchema {
    schema: Arc<SwapSchemaProvider>,
}

#[pymethods]
impl SwapSchema {
    #[new]
    fn new() -> Self {
        Self {
            schema: Arc::new(SwapSchemaProvider::new()),
        }
    }

    /// The prefix of staging names (tables DDL is building, not listed).
    #[classattr]
    fn staging_prefix() -> &'static str {
        STAGING_PREFIX
    }

    /// The name only this schema claims to hold (`Schema.table_exist` tells ours apart).
    #[classattr]
    fn marker() -> &'static str {
        MARKER_TABLE
    }

    fn __datafusion_schema_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = logical_codec(&session)?;
        let provider = Arc::clone(&self.schema) as Arc<dyn datafusion_catalog::SchemaProvider>;
        let ffi = FFI_SchemaProvider::new_with_ffi_codec(provider, Some(runtime::handle()), codec);
        PyCapsule::new(py, ffi, Some(c"datafusion_schema_provider".to_owned()))
    }

    fn __repr__(&self) -> String {
        format!("SwapSchema(tables={})", self.schema.len())
    }
}
