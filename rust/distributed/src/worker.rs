//! The worker: datafusion-distributed's gRPC worker service on a port, served
//! from the caller's tokio runtime (the extension's own). It decodes our Delta
//! scans, reads other workers' stages with the shared secret, and refuses
//! every request that does not carry it.

use std::net::SocketAddr;
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::InterceptorLayer;
use tonic::transport::Server;

use crate::auth::{RequireSecret, secret_header_for};
use crate::channels::{ChannelTimeouts, WorkerChannels};
use crate::delta::DeltaScanCodec;

/// How a worker runs.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// The shared secret every request must carry (`None`: no check).
    pub secret: Option<String>,
    pub timeouts: ChannelTimeouts,
    /// Reported by the worker's `GetWorkerInfo` (coordinator and workers must match).
    pub version: String,
}

/// A running worker service; dropping it stops the server.
pub struct WorkerService {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl WorkerService {
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for WorkerService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `host:port` (port 0: any free port) and serves the worker service on
/// the current tokio runtime.
pub async fn start_worker(host: &str, port: u16, options: WorkerOptions) -> Result<WorkerService> {
    let header = secret_header_for(options.secret.as_deref())?;
    let channels = WorkerChannels::new(header, options.timeouts);
    let session = move |ctx: WorkerQueryContext| {
        let channels = channels.clone();
        async move { Ok::<SessionState, DataFusionError>(worker_session(ctx, channels)) }
    };
    let worker = Worker::from_session_builder(session).with_version(options.version.clone());
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|err| DataFusionError::External(Box::new(err)))?;
    let address = listener
        .local_addr()
        .map_err(|err| DataFusionError::External(Box::new(err)))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let check = Arc::new(RequireSecret::new(options.secret.as_deref()));
    tokio::spawn(async move {
        let served = Server::builder()
            .layer(InterceptorLayer::new(move |request| check.check(request)))
            .add_service(worker.into_worker_server())
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            })
            .await;
        if let Err(err) = served {
            eprintln!("flightserver worker on {address}: {err}");
        }
    });
    Ok(WorkerService {
        address,
        stop: Some(stop),
    })
}

fn worker_session(ctx: WorkerQueryContext, channels: WorkerChannels) -> SessionState {
    ctx.builder
        .with_distributed_user_codec(DeltaScanCodec)
        .with_distributed_channel_resolver(channels)
        .build()
}
