//! Scale-out spike (issue 15), feature `distributed`: the coordinator session
//! of `flightserver-distributed` (option 2), its worker service, and the
//! option 1 probe (a pass-through FFI query planner), as Python sees them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::execution::TaskContextProvider;
use datafusion::execution::context::QueryPlanner;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use datafusion_ffi::query_planner::FFI_QueryPlanner;
use datafusion_proto::logical_plan::DefaultLogicalExtensionCodec;
use datafusion_proto::physical_plan::DefaultPhysicalExtensionCodec;
use flightserver_distributed::coordinator::{display, is_distributed};
use flightserver_distributed::{Coordinator, CoordinatorOptions, NativeReplanner, WorkerService};
use futures::StreamExt;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use tokio::runtime::Handle;

use crate::delta::DeltaProvider;
use crate::rulepack::PhysicalRule;
use crate::runtime;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DistributedSession>()?;
    m.add_class::<PlannedQuery>()?;
    m.add_class::<Worker>()?;
    m.add_function(wrap_pyfunction!(start_worker, m)?)?;
    m.add_class::<NativeReplannerProbe>()?;
    Ok(())
}

fn engine_error(err: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(err.to_string())
}

/// A native session planning with datafusion-distributed (option 2).
#[pyclass(frozen, module = "flightserver._native")]
pub struct DistributedSession {
    coordinator: Arc<Coordinator>,
}

#[pymethods]
impl DistributedSession {
    #[new]
    #[pyo3(signature = (workers, settings, rules = Vec::new(), bytes_per_partition = 16 * 1024 * 1024))]
    fn new(
        workers: Vec<String>,
        settings: HashMap<String, String>,
        rules: Vec<PyRef<'_, PhysicalRule>>,
        bytes_per_partition: usize,
    ) -> PyResult<Self> {
        let options = CoordinatorOptions {
            workers,
            settings: settings.into_iter().collect(),
            rules: rules.iter().map(|rule| Arc::clone(&rule.rule)).collect(),
            bytes_per_partition,
        };
        let coordinator =
            Coordinator::new(options).map_err(|err| PyValueError::new_err(err.to_string()))?;
        Ok(Self {
            coordinator: Arc::new(coordinator),
        })
    }

    /// Runs DDL (the catalog loader's `CREATE EXTERNAL TABLE` text).
    fn execute_ddl(&self, py: Python<'_>, sql: String) -> PyResult<()> {
        let coordinator = Arc::clone(&self.coordinator);
        py.detach(|| runtime::handle().block_on(async move { coordinator.execute_ddl(&sql).await }))
            .map_err(engine_error)
    }

    /// Registers the same Delta provider (`Arc`) the wheel's context holds.
    fn register_delta(&self, name: &str, provider: PyRef<'_, DeltaProvider>) -> PyResult<()> {
        let provider =
            Arc::clone(&provider.provider) as Arc<dyn datafusion::catalog::TableProvider>;
        self.coordinator
            .register_table(name, provider)
            .map_err(engine_error)
    }

    /// Plans `sql` (SQL to physical plan, as `DataFrame.execution_plan()` does in the wheel).
    fn plan(&self, py: Python<'_>, sql: String) -> PyResult<PlannedQuery> {
        let coordinator = Arc::clone(&self.coordinator);
        let plan = py
            .detach(|| runtime::handle().block_on(async move { coordinator.plan(&sql).await }))
            .map_err(engine_error)?;
        Ok(PlannedQuery {
            coordinator: Arc::clone(&self.coordinator),
            plan,
        })
    }
}

/// A physical plan of a [`DistributedSession`].
#[pyclass(frozen, module = "flightserver._native")]
pub struct PlannedQuery {
    coordinator: Arc<Coordinator>,
    plan: Arc<dyn ExecutionPlan>,
}

#[pymethods]
impl PlannedQuery {
    /// Whether datafusion-distributed distributed it (else it stays local).
    #[getter]
    fn distributed(&self) -> bool {
        is_distributed(&self.plan)
    }

    /// The plan, with stages and tasks when distributed.
    fn display(&self) -> String {
        display(&self.plan)
    }

    /// Executes the plan; the result as an Arrow C stream (`pa.RecordBatchReader.from_stream`).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let handle = runtime::handle();
        let stream = {
            let _entered = handle.enter();
            self.coordinator
                .execute(Arc::clone(&self.plan))
                .map_err(engine_error)?
        };
        let reader = BlockingReader {
            schema: stream.schema(),
            stream,
            handle,
        };
        let ffi = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new(py, ffi, Some(c"arrow_array_stream".to_owned()))
    }
}

/// A DataFusion stream read batch by batch on the extension's runtime.
struct BlockingReader {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    handle: Handle,
}

impl Iterator for BlockingReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.handle
            .block_on(self.stream.next())
            .map(|batch| batch.map_err(|err| ArrowError::ExternalError(Box::new(err))))
    }
}

impl RecordBatchReader for BlockingReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// A worker service running on the extension's runtime.
#[pyclass(frozen, module = "flightserver._native")]
pub struct Worker {
    address: String,
    service: Mutex<Option<WorkerService>>,
}

#[pymethods]
impl Worker {
    /// `HOST:PORT` the service listens on.
    #[getter]
    fn address(&self) -> &str {
        &self.address
    }

    fn stop(&self) {
        if let Some(mut service) = self.service.lock().expect("worker lock").take() {
            service.stop();
        }
    }
}

/// Starts datafusion-distributed's worker service on `host:port` (0: any free port).
#[pyfunction]
#[pyo3(signature = (host = "127.0.0.1".to_owned(), port = 0))]
fn start_worker(py: Python<'_>, host: String, port: u16) -> PyResult<Worker> {
    let service = py
        .detach(|| runtime::handle().block_on(flightserver_distributed::start_worker(&host, port)))
        .map_err(engine_error)?;
    Ok(Worker {
        address: service.address.to_string(),
        service: Mutex::new(Some(service)),
    })
}

/// Option 1's probe: `SessionContext.set_query_planner(NativeReplannerProbe())`
/// makes every plan of that session cross into this library and back.
#[pyclass(frozen, module = "flightserver._native")]
pub struct NativeReplannerProbe {
    // FFI_TaskContextProvider holds it weakly: it must live as long as the planner.
    task_ctx_provider: Arc<SessionContext>,
}

#[pymethods]
impl NativeReplannerProbe {
    #[new]
    fn new() -> Self {
        Self {
            task_ctx_provider: Arc::new(SessionContext::new()),
        }
    }

    #[pyo3(signature = (session = None))]
    fn __datafusion_query_planner__<'py>(
        &self,
        py: Python<'py>,
        session: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = session;
        let planner: Arc<dyn QueryPlanner + Send + Sync> = Arc::new(NativeReplanner);
        let ffi = FFI_QueryPlanner::new(
            planner,
            Some(runtime::handle()),
            &(Arc::clone(&self.task_ctx_provider) as Arc<dyn TaskContextProvider>),
            Arc::new(DefaultLogicalExtensionCodec {}),
            Arc::new(DefaultPhysicalExtensionCodec {}),
        );
        PyCapsule::new(py, ffi, Some(c"datafusion_query_planner".to_owned()))
    }
}
