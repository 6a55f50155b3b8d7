//! The worker: datafusion-distributed's gRPC worker service on a port, served
//! from the caller's tokio runtime (the extension's own).

use std::net::SocketAddr;

use datafusion::common::{DataFusionError, Result};
use datafusion_distributed::Worker;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

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
pub async fn start_worker(host: &str, port: u16) -> Result<WorkerService> {
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|err| DataFusionError::External(Box::new(err)))?;
    let address = listener
        .local_addr()
        .map_err(|err| DataFusionError::External(Box::new(err)))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::default();
    tokio::spawn(async move {
        let served = Server::builder()
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
