//! Scale-out (issue 15): native DataFusion sessions of our own that plan
//! statements with datafusion-distributed's query planner and ship stages to
//! `flightserver worker` processes over its gRPC worker service. Nothing here
//! knows about Python; `rust/python` exports it.

pub mod auth;
pub mod channels;
pub mod coordinator;
pub mod delta;
pub mod fanout;
pub mod whole_files;
pub mod worker;
pub mod workers;

pub use coordinator::{Coordinator, CoordinatorOptions, Route, StageLog};
pub use worker::{WorkerOptions, WorkerService, start_worker};
