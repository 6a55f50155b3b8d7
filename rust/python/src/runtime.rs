//! The extension's own tokio runtime. Plans our providers create execute
//! inside this library, which has its own copy of tokio: tasks they spawn (file
//! I/O, the Delta log) must find a runtime of this copy, so the FFI wrappers
//! are handed this one.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// A handle to the runtime, created on first use (multi-threaded, one worker
/// per core).
pub fn handle() -> Handle {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .thread_name("flightserver-native")
                .enable_all()
                .build()
                .expect("the tokio runtime of flightserver._native could not start")
        })
        .handle()
        .clone()
}
