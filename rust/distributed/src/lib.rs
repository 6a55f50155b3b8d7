//! Scale-out spike (issue 15, option 2): a native DataFusion session of our
//! own that plans statements with datafusion-distributed's query planner and
//! ships stages to `flightserver worker` processes over its gRPC worker
//! service. Nothing here knows about Python; `rust/python` (feature
//! `distributed`) exports it.
//!
//! Also holds [`NativeReplanner`], the probe used to measure option 1 (an FFI
//! query planner installed into the datafusion wheel's session).

pub mod coordinator;
pub mod native_replanner;
pub mod worker;

pub use coordinator::{Coordinator, CoordinatorOptions, StaticWorkers};
pub use native_replanner::NativeReplanner;
pub use worker::{WorkerService, start_worker};
