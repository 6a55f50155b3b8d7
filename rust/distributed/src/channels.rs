//! How the coordinator (and a worker reading another worker's stage) dials
//! workers: one cached channel per URL, with a bounded connect time, HTTP/2
//! keep-alives so a worker that vanishes mid-query is noticed, and the shared
//! secret on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::common::{DataFusionError, Result};
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{ChannelResolver, WorkerChannel};
use http::HeaderValue;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;
use url::Url;

use crate::auth::SECRET_HEADER;

/// Timeouts of the connection to a worker.
#[derive(Debug, Clone, Copy)]
pub struct ChannelTimeouts {
    /// Connecting (TCP and HTTP/2) to a worker.
    pub connect: Duration,
    /// Without an answer to an HTTP/2 ping for this long, a worker is gone.
    pub keepalive: Duration,
}

impl Default for ChannelTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
        }
    }
}

/// Our `ChannelResolver`.
#[derive(Clone)]
pub struct WorkerChannels {
    secret: Option<HeaderValue>,
    timeouts: ChannelTimeouts,
    channels: Arc<Mutex<HashMap<Url, Channel>>>,
}

impl WorkerChannels {
    pub fn new(secret: Option<HeaderValue>, timeouts: ChannelTimeouts) -> Self {
        Self {
            secret,
            timeouts,
            channels: Arc::default(),
        }
    }

    /// The channel to `url`, made once: tonic reconnects a lazy channel by itself
    /// when a worker comes back.
    fn channel(&self, url: &Url) -> Result<Channel> {
        let mut channels = self.channels.lock().expect("worker channels lock");
        if let Some(channel) = channels.get(url) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|err| DataFusionError::Configuration(format!("worker {url}: {err}")))?
            .connect_timeout(self.timeouts.connect)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.timeouts.keepalive / 2)
            .keep_alive_timeout(self.timeouts.keepalive)
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_lazy();
        channels.insert(url.clone(), channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl ChannelResolver for WorkerChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let channel = self.channel(url)?;
        let secret = self.secret.clone();
        let authenticated = ServiceBuilder::new()
            .map_request(move |mut request: http::Request<tonic::body::Body>| {
                if let Some(secret) = &secret {
                    request.headers_mut().insert(SECRET_HEADER, secret.clone());
                }
                request
            })
            .service(channel);
        Ok(create_worker_client(BoxCloneSyncChannel::new(
            authenticated,
        )))
    }
}
