//! Delta Lake tables, read by flightserver's own provider: snapshots and their
//! file lists come from `delta_kernel`; scans prune files by partition values
//! and Delta statistics and read the rest with DataFusion's Parquet source.
//! A provider is pinned to one snapshot version and can be pinned further to
//! an exact file set; every scan records the files it read.

mod files;
mod live;
mod missing_file;
mod provider;
mod scan_exec;
mod scan_log;
mod snapshot;

pub use files::{ActiveFiles, DeltaFile};
pub use live::{LiveRead, live_versions};
pub use missing_file::FILE_GONE_PREFIX;
pub use provider::DeltaTableProvider;
pub use scan_exec::{DeltaScanExec, DeltaScanInfo};
pub use scan_log::{ScanLog, ScanRecord, file_set_hash};
pub use snapshot::DeltaSnapshot;
