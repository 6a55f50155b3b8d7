//! Which workers a query may use: a static list, or a file re-read as workers
//! come and go, each name resolved through DNS (one name may stand for several
//! workers). A background task probes every worker; planning uses only those
//! that answered the last probe, so a query plans around a worker that is down.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::common::{DataFusionError, Result};
use datafusion_distributed::WorkerResolver;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use url::Url;

/// Where the worker list comes from.
#[derive(Debug, Clone)]
pub enum WorkerSource {
    /// `HOST:PORT` entries (or URLs).
    Static(Vec<String>),
    /// A file of `HOST:PORT` entries, one per line (`#` comments), re-read every probe.
    File(PathBuf),
}

/// How often workers are probed, and how long a probe waits.
#[derive(Debug, Clone, Copy)]
pub struct Probing {
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Every worker the source names (resolved), sorted.
    known: Vec<Url>,
    /// Those that answered the last probe.
    up: Vec<Url>,
    /// Why the source could not be read, if it could not.
    error: Option<String>,
}

/// The worker pool: a `WorkerResolver` whose answer a background task keeps current.
#[derive(Debug, Clone)]
pub struct WorkerPool {
    state: Arc<RwLock<State>>,
    probe_timeout: Duration,
}

impl WorkerResolver for WorkerPool {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        Ok(self.state.read().expect("worker pool lock").up.clone())
    }
}

impl WorkerPool {
    /// Probes once now (so the first query sees the workers), then every
    /// `probing.interval` on `runtime`, for as long as the pool exists.
    pub async fn start(source: WorkerSource, probing: Probing, runtime: &Handle) -> Self {
        let pool = Self {
            state: Arc::default(),
            probe_timeout: probing.timeout,
        };
        pool.probe(&source, probing.timeout).await;
        let weak = Arc::downgrade(&pool.state);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(probing.interval).await;
                let Some(state) = weak.upgrade() else { break };
                let pool = WorkerPool {
                    state,
                    probe_timeout: probing.timeout,
                };
                pool.probe(&source, probing.timeout).await;
            }
        });
        pool
    }

    /// A pool of fixed URLs that are never probed (tests of planning).
    pub fn fixed(urls: Vec<Url>) -> Self {
        let state = State {
            known: urls.clone(),
            up: urls,
            error: None,
        };
        Self {
            state: Arc::new(RwLock::new(state)),
            probe_timeout: Duration::from_secs(1),
        }
    }

    /// Every worker the source names.
    pub fn known(&self) -> Vec<Url> {
        self.state.read().expect("worker pool lock").known.clone()
    }

    /// The workers that answered the last probe.
    pub fn up(&self) -> Vec<Url> {
        self.get_urls().unwrap_or_default()
    }

    /// Why the worker source could not be read at the last probe.
    pub fn error(&self) -> Option<String> {
        self.state.read().expect("worker pool lock").error.clone()
    }

    /// Whether `url` accepts a connection now.
    pub async fn answers(&self, url: &Url) -> bool {
        reachable(url, self.probe_timeout).await
    }

    /// Marks `url` down until the next probe finds it (a query just failed on it).
    pub fn mark_down(&self, url: &Url) {
        self.state
            .write()
            .expect("worker pool lock")
            .up
            .retain(|up| up != url);
    }

    async fn probe(&self, source: &WorkerSource, timeout: Duration) {
        let (entries, error) = match read_source(source) {
            Ok(entries) => (entries, None),
            Err(err) => (Vec::new(), Some(err)),
        };
        let mut known = BTreeSet::new();
        for entry in entries {
            match resolve(&entry).await {
                Ok(urls) => known.extend(urls),
                Err(err) => log_once(&format!("worker {entry}: {err}")),
            }
        }
        let known: Vec<Url> = known.into_iter().collect();
        let mut up = Vec::new();
        for url in &known {
            if reachable(url, timeout).await {
                up.push(url.clone());
            }
        }
        let mut state = self.state.write().expect("worker pool lock");
        *state = State { known, up, error };
    }
}

fn read_source(source: &WorkerSource) -> Result<Vec<String>, String> {
    match source {
        WorkerSource::Static(entries) => Ok(entries.clone()),
        WorkerSource::File(path) => std::fs::read_to_string(path)
            .map(|text| {
                text.lines()
                    .map(|line| line.split('#').next().unwrap_or("").trim().to_owned())
                    .filter(|line| !line.is_empty())
                    .collect()
            })
            .map_err(|err| format!("workers file {}: {err}", path.display())),
    }
}

/// `HOST:PORT` (or a URL) as the URLs of every address the host name resolves to.
async fn resolve(entry: &str) -> Result<Vec<Url>, String> {
    let url = worker_url(entry).map_err(|err| err.to_string())?;
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return Ok(vec![url]);
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|err| format!("cannot resolve {host}: {err}"))?
        .collect();
    let mut urls = Vec::new();
    for address in addresses {
        let mut resolved = url.clone();
        resolved
            .set_ip_host(address.ip())
            .map_err(|()| format!("cannot address {address}"))?;
        urls.push(resolved);
    }
    Ok(urls)
}

async fn reachable(url: &Url, timeout: Duration) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}

fn log_once(message: &str) {
    static SEEN: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    if SEEN.lock().expect("log lock").insert(message.to_owned()) {
        eprintln!("flightserver coordinator: {message}");
    }
}

/// `HOST:PORT` as the `http://HOST:PORT` URL datafusion-distributed dials;
/// URLs pass unchanged.
pub fn worker_url(worker: &str) -> Result<Url> {
    let text = if worker.contains("://") {
        worker.to_owned()
    } else {
        format!("http://{worker}")
    };
    let url = Url::parse(&text)
        .map_err(|err| DataFusionError::Configuration(format!("worker {worker:?}: {err}")))?;
    if url.port_or_known_default().is_none() || url.host_str().is_none() {
        return Err(DataFusionError::Configuration(format!(
            "worker {worker:?}: expected HOST:PORT"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_urls() {
        assert_eq!(
            worker_url("127.0.0.1:5000").unwrap().as_str(),
            "http://127.0.0.1:5000/"
        );
        assert!(worker_url("no port here:").is_err());
    }

    #[tokio::test]
    async fn file_source_and_probe() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = listener.local_addr().unwrap();
        let dead = {
            let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            gone.local_addr().unwrap()
        };
        let path = std::env::temp_dir().join(format!("fs-workers-{}", std::process::id()));
        std::fs::write(&path, format!("# workers\n{live}\n\n{dead}  # down\n")).unwrap();
        let probing = Probing {
            interval: Duration::from_secs(3600),
            timeout: Duration::from_millis(500),
        };
        let pool = WorkerPool::start(
            WorkerSource::File(path.clone()),
            probing,
            &Handle::current(),
        )
        .await;
        assert_eq!(pool.known().len(), 2);
        assert_eq!(pool.up(), vec![worker_url(&live.to_string()).unwrap()]);
        pool.mark_down(&worker_url(&live.to_string()).unwrap());
        assert!(pool.up().is_empty());
        std::fs::remove_file(&path).unwrap();
        pool.probe(&WorkerSource::File(path), probing.timeout).await;
        assert!(pool.error().unwrap().contains("workers file"));
        drop(listener);
    }
}
