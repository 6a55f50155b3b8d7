//! Scale-out (issue 15): the coordinator of `flightserver-distributed` (native
//! sessions planning with datafusion-distributed, one catalog shared with the
//! wheel's context by registration through the same calls) and its worker
//! service, as Python sees them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::catalog::TableProvider;
use datafusion::common::Result as DataFusionResult;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use flightserver_distributed::channels::ChannelTimeouts;
use flightserver_distributed::coordinator::{self, display, is_distributed};
use flightserver_distributed::fanout::{FanOutExec, Outlets, fan_out};
use flightserver_distributed::workers::{Probing, WorkerSource};
use flightserver_distributed::{
    Coordinator, CoordinatorOptions, StageLog, WorkerOptions, WorkerService,
};
use futures::StreamExt;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedReceiver;
use url::Url;

use crate::delta::DeltaProvider;
use crate::rulepack::PhysicalRule;
use crate::runtime;

/// Errors of a worker that failed or vanished mid-query start with this
/// (the server answers them UNAVAILABLE).
pub const WORKER_UNAVAILABLE_PREFIX: &str = "flightserver: worker unavailable:";

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DistributedCoordinator>()?;
    m.add_class::<DistributedSession>()?;
    m.add_class::<DistributedPlan>()?;
    m.add_class::<EndpointStream>()?;
    m.add_class::<Worker>()?;
    m.add_function(wrap_pyfunction!(start_worker, m)?)?;
    m.add("WORKER_UNAVAILABLE_PREFIX", WORKER_UNAVAILABLE_PREFIX)?;
    Ok(())
}

fn engine_error(err: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(err.to_string())
}

fn seconds(value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|err| PyValueError::new_err(err.to_string()))
}

fn qualified(name: &(String, String, String)) -> [&str; 3] {
    [name.0.as_str(), name.1.as_str(), name.2.as_str()]
}

/// The coordinator: the worker pool, and the catalog its sessions share.
#[pyclass(frozen, module = "flightserver._native")]
pub struct DistributedCoordinator {
    coordinator: Arc<Coordinator>,
}

#[pymethods]
impl DistributedCoordinator {
    /// `workers` (`HOST:PORT`), or `workers_file` (one per line, re-read at every
    /// probe); `settings`: the wheel's DataFusion settings.
    #[new]
    #[pyo3(signature = (
        settings, workers = Vec::new(), workers_file = None, secret = None,
        bytes_per_partition = 16 * 1024 * 1024, connect_timeout = 5.0, keepalive_timeout = 10.0,
        probe_interval = 2.0, probe_timeout = 1.0, max_endpoints = 1,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        settings: HashMap<String, String>,
        workers: Vec<String>,
        workers_file: Option<PathBuf>,
        secret: Option<String>,
        bytes_per_partition: usize,
        connect_timeout: f64,
        keepalive_timeout: f64,
        probe_interval: f64,
        probe_timeout: f64,
        max_endpoints: usize,
    ) -> PyResult<Self> {
        let source = match workers_file {
            Some(path) => WorkerSource::File(path),
            None => WorkerSource::Static(workers),
        };
        let options = CoordinatorOptions {
            workers: source,
            probing: Probing {
                interval: seconds(probe_interval)?,
                timeout: seconds(probe_timeout)?,
            },
            secret,
            timeouts: ChannelTimeouts {
                connect: seconds(connect_timeout)?,
                keepalive: seconds(keepalive_timeout)?,
            },
            settings: settings.into_iter().collect(),
            bytes_per_partition: bytes_per_partition.max(1),
            max_endpoints: max_endpoints.max(1),
        };
        let handle = runtime::handle();
        let coordinator = py
            .detach(|| handle.block_on(Coordinator::new(options, &runtime::handle())))
            .map_err(|err| PyValueError::new_err(err.to_string()))?;
        Ok(Self { coordinator })
    }

    /// A session planning with `rule` (a role's rulepack, `Rulepack.rule()`).
    #[pyo3(signature = (rule = None))]
    fn session(
        &self,
        py: Python<'_>,
        rule: Option<PyRef<'_, PhysicalRule>>,
    ) -> PyResult<DistributedSession> {
        let rules = rule
            .map(|rule| vec![Arc::clone(&rule.rule)])
            .unwrap_or_default();
        let coordinator = Arc::clone(&self.coordinator);
        let ctx = py
            .detach(|| runtime::handle().block_on(async move { coordinator.session(rules).await }))
            .map_err(engine_error)?;
        Ok(DistributedSession {
            coordinator: Arc::clone(&self.coordinator),
            ctx: Arc::new(ctx),
        })
    }

    /// Registers the table the DDL text (fully qualified) creates, as the wheel did.
    fn register_ddl(
        &self,
        py: Python<'_>,
        name: (String, String, String),
        ddl: String,
    ) -> PyResult<()> {
        let coordinator = Arc::clone(&self.coordinator);
        py.detach(|| {
            runtime::handle()
                .block_on(async move { coordinator.register_ddl(qualified(&name), &ddl).await })
        })
        .map_err(engine_error)
    }

    /// Registers the same Delta provider (`Arc`) the wheel's context holds.
    fn register_delta(
        &self,
        py: Python<'_>,
        name: (String, String, String),
        provider: PyRef<'_, DeltaProvider>,
    ) -> PyResult<()> {
        let provider = Arc::clone(&provider.provider) as Arc<dyn TableProvider>;
        let coordinator = Arc::clone(&self.coordinator);
        py.detach(|| {
            runtime::handle().block_on(async move {
                coordinator.register_table(qualified(&name), provider).await
            })
        })
        .map_err(engine_error)
    }

    fn deregister(&self, name: (String, String, String)) -> PyResult<()> {
        self.coordinator
            .deregister(qualified(&name))
            .map_err(engine_error)
    }

    /// Whether `sql` is worth distributing: `(distributable, largest scan bytes,
    /// threshold bytes, workers up, reason)`.
    fn route(&self, py: Python<'_>, sql: String) -> (bool, u64, u64, usize, String) {
        let coordinator = Arc::clone(&self.coordinator);
        let route =
            py.detach(|| runtime::handle().block_on(async move { coordinator.route(&sql).await }));
        (
            route.distributable,
            route.largest_scan_bytes,
            route.threshold_bytes,
            route.workers_up,
            route.reason,
        )
    }
}

/// A native session of the coordinator (one per rulepack).
#[pyclass(frozen, module = "flightserver._native")]
pub struct DistributedSession {
    coordinator: Arc<Coordinator>,
    ctx: Arc<SessionContext>,
}

#[pymethods]
impl DistributedSession {
    /// Plans `sql`: distributed when datafusion-distributed finds it worth it.
    /// The rulepack's rules run here; their manifest is this thread's, as after
    /// the wheel's planning.
    fn plan(&self, py: Python<'_>, sql: String) -> PyResult<DistributedPlan> {
        let ctx = Arc::clone(&self.ctx);
        let plan = py
            .detach(|| {
                runtime::handle().block_on(async move { coordinator::plan(&ctx, &sql).await })
            })
            .map_err(engine_error)?;
        Ok(DistributedPlan {
            coordinator: Arc::clone(&self.coordinator),
            ctx: Arc::clone(&self.ctx),
            plan,
            log: Arc::new(StageLog::default()),
            driver: Mutex::new(None),
        })
    }
}

/// A physical plan of a [`DistributedSession`].
#[pyclass(frozen, module = "flightserver._native")]
pub struct DistributedPlan {
    coordinator: Arc<Coordinator>,
    ctx: Arc<SessionContext>,
    plan: Arc<dyn ExecutionPlan>,
    log: Arc<StageLog>,
    /// The execution feeding the endpoints, started by the first endpoint read.
    driver: Mutex<Option<Arc<Driver>>>,
}

/// A running execution of a plan served as several endpoints; dropping the
/// last handle (or `abort`) stops it, and with it every stage on the workers.
struct Driver {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Driver {
    fn abort(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.abort();
    }
}

impl DistributedPlan {
    fn driver(&self, outlets: &Arc<Outlets>) -> Arc<Driver> {
        let mut driver = self.driver.lock().expect("driver lock");
        if let Some(running) = driver.as_ref() {
            return Arc::clone(running);
        }
        let handle = runtime::handle();
        let stream = {
            let _entered = handle.enter();
            coordinator::execute(&self.ctx, Arc::clone(&self.plan), Arc::clone(&self.log))
        };
        let task = match stream {
            Ok(mut stream) => {
                let outlets = Arc::clone(outlets);
                Some(handle.spawn(async move {
                    while let Some(next) = stream.next().await {
                        if let Err(err) = next {
                            outlets.fail(&err);
                            return;
                        }
                    }
                    outlets.close();
                }))
            }
            Err(err) => {
                outlets.fail(&err);
                None
            }
        };
        let running = Arc::new(Driver { task });
        *driver = Some(Arc::clone(&running));
        running
    }
}

#[pymethods]
impl DistributedPlan {
    /// Whether datafusion-distributed distributed it (else it runs locally, natively).
    #[getter]
    fn distributed(&self) -> bool {
        is_distributed(&self.plan)
    }

    /// The plan, with its stages and tasks when distributed.
    fn display(&self) -> String {
        display(&self.plan)
    }

    /// How many Flight endpoints serve the result (a fan-out head's outlets), else 1.
    #[getter]
    fn endpoints(&self) -> usize {
        fan_out(&self.plan).map_or(1, FanOutExec::endpoints)
    }

    /// Endpoint `index`'s stream (a plan of several endpoints), once; the first
    /// endpoint read starts the execution.
    fn endpoint(&self, index: usize) -> PyResult<EndpointStream> {
        let fan = fan_out(&self.plan)
            .ok_or_else(|| PyValueError::new_err("the plan is served as one endpoint"))?;
        let receiver = fan.outlets().take(index).ok_or_else(|| {
            PyValueError::new_err(format!(
                "endpoint {index} does not exist or was read already"
            ))
        })?;
        let driver = self.driver(fan.outlets());
        Ok(EndpointStream {
            stream: Mutex::new(Some((receiver, driver))),
            schema: self.plan.schema(),
            coordinator: Arc::clone(&self.coordinator),
            log: Arc::clone(&self.log),
        })
    }

    /// Where each stage's tasks went, once executing: `(stage head, [worker URL])`.
    fn stages(&self) -> Vec<(String, Vec<String>)> {
        self.log
            .stages
            .lock()
            .expect("stage log lock")
            .iter()
            .map(|(name, urls)| (name.clone(), urls.iter().map(Url::to_string).collect()))
            .collect()
    }

    /// The result's schema (`pa.schema(plan)`).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema =
            FFI_ArrowSchema::try_from(self.plan.schema().as_ref()).map_err(engine_error)?;
        PyCapsule::new(py, schema, Some(c"arrow_schema".to_owned()))
    }

    /// Executes the plan; the result as an Arrow C stream
    /// (`pa.RecordBatchReader.from_stream`). Dropping it stops the stages.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let stream = {
            let _entered = runtime::handle().enter();
            coordinator::execute(&self.ctx, Arc::clone(&self.plan), Arc::clone(&self.log))
                .map_err(engine_error)?
        };
        BlockingReader::new(stream, &self.coordinator, &self.log, None).into_capsule(py)
    }
}

/// An endpoint's batches, as the fan-out head sends them.
type Outlet = UnboundedReceiver<DataFusionResult<RecordBatch>>;

/// One endpoint of a result served as several.
#[pyclass(frozen, module = "flightserver._native")]
pub struct EndpointStream {
    stream: Mutex<Option<(Outlet, Arc<Driver>)>>,
    schema: SchemaRef,
    coordinator: Arc<Coordinator>,
    log: Arc<StageLog>,
}

#[pymethods]
impl EndpointStream {
    /// The endpoint's batches as an Arrow C stream, once. Closing it before its
    /// end stops the whole query.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let (receiver, driver) = self
            .stream
            .lock()
            .expect("endpoint lock")
            .take()
            .ok_or_else(|| PyValueError::new_err("the endpoint's stream was taken already"))?;
        let batches = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|batch| (batch, receiver))
        });
        let stream = Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        ));
        BlockingReader::new(stream, &self.coordinator, &self.log, Some(driver)).into_capsule(py)
    }
}

/// A DataFusion stream read batch by batch on the extension's runtime.
struct BlockingReader {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    handle: Handle,
    coordinator: Arc<Coordinator>,
    log: Arc<StageLog>,
    /// An endpoint's: the execution feeding it, stopped if the reader goes early.
    driver: Option<Arc<Driver>>,
    ended: bool,
}

impl BlockingReader {
    fn new(
        stream: SendableRecordBatchStream,
        coordinator: &Arc<Coordinator>,
        log: &Arc<StageLog>,
        driver: Option<Arc<Driver>>,
    ) -> Self {
        Self {
            schema: stream.schema(),
            stream,
            handle: runtime::handle(),
            coordinator: Arc::clone(coordinator),
            log: Arc::clone(log),
            driver,
            ended: false,
        }
    }

    /// The reader as an Arrow C stream capsule (`pa.RecordBatchReader.from_stream`).
    fn into_capsule(self, py: Python<'_>) -> PyResult<Bound<'_, PyCapsule>> {
        let ffi = FFI_ArrowArrayStream::new(Box::new(self));
        PyCapsule::new(py, ffi, Some(c"arrow_array_stream".to_owned()))
    }
}

impl Drop for BlockingReader {
    fn drop(&mut self) {
        if !self.ended
            && let Some(driver) = &self.driver
        {
            driver.abort();
        }
    }
}

impl Iterator for BlockingReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some(next) = self.handle.block_on(self.stream.next()) else {
            self.ended = true;
            return None;
        };
        Some(next.map_err(|err| {
            let message = err.to_string();
            let named =
                self.handle
                    .block_on(name_failed_worker(&self.coordinator, &self.log, &message));
            ArrowError::ExternalError(named.unwrap_or(message).into())
        }))
    }
}

impl RecordBatchReader for BlockingReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// Messages of gRPC transport failures (tonic, hyper, h2) between coordinator and workers.
const TRANSPORT_FAILURES: [&str; 9] = [
    "transport error",
    "Unavailable",
    "tcp connect error",
    "Connection refused",
    "Connection reset",
    "broken pipe",
    "h2 protocol error",
    "error reading a body",
    "operation was canceled",
];

/// For a transport failure: the workers of the query that no longer answer
/// (marked down, so the next query plans around them), named in the error.
async fn name_failed_worker(
    coordinator: &Coordinator,
    log: &StageLog,
    message: &str,
) -> Option<String> {
    if !TRANSPORT_FAILURES
        .iter()
        .any(|marker| message.contains(marker))
    {
        return None;
    }
    let mut used: Vec<Url> = log
        .stages
        .lock()
        .expect("stage log lock")
        .iter()
        .flat_map(|(_, urls)| urls.iter().cloned())
        .collect();
    used.sort();
    used.dedup();
    let mut failed = Vec::new();
    for url in &used {
        if !coordinator.pool().answers(url).await {
            coordinator.pool().mark_down(url);
            failed.push(url.to_string());
        }
    }
    let named = if failed.is_empty() {
        format!(
            "one of {}",
            used.iter().map(Url::as_str).collect::<Vec<_>>().join(", ")
        )
    } else {
        failed.join(", ")
    };
    Some(format!("{WORKER_UNAVAILABLE_PREFIX} {named}: {message}"))
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

/// Starts datafusion-distributed's worker service on `host:port` (0: any free
/// port), refusing requests without `secret` when one is given.
#[pyfunction]
#[pyo3(signature = (host = "127.0.0.1".to_owned(), port = 0, secret = None, version = String::new(), connect_timeout = 5.0, keepalive_timeout = 10.0))]
fn start_worker(
    py: Python<'_>,
    host: String,
    port: u16,
    secret: Option<String>,
    version: String,
    connect_timeout: f64,
    keepalive_timeout: f64,
) -> PyResult<Worker> {
    let options = WorkerOptions {
        secret,
        timeouts: ChannelTimeouts {
            connect: seconds(connect_timeout)?,
            keepalive: seconds(keepalive_timeout)?,
        },
        version,
    };
    let service = py
        .detach(|| {
            runtime::handle().block_on(flightserver_distributed::start_worker(&host, port, options))
        })
        .map_err(engine_error)?;
    Ok(Worker {
        address: service.address.to_string(),
        service: Mutex::new(Some(service)),
    })
}
