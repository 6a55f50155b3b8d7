//! Coordinator ↔ worker authentication by a shared secret: every request a
//! coordinator or worker sends carries it in a header, and a worker refuses
//! every request without it (before any plan is decoded).

use http::HeaderValue;
use tonic::{Request, Status};

/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-flightserver-worker-secret";

/// A secret as the header value to send; refuses one a header cannot carry.
pub fn secret_header(secret: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(secret)
        .map_err(|_| "the worker secret must be visible ASCII (no newlines)".to_owned())
}

/// The configured secret, if any, as the header value to send.
pub fn secret_header_for(secret: Option<&str>) -> datafusion::common::Result<Option<HeaderValue>> {
    secret
        .map(secret_header)
        .transpose()
        .map_err(datafusion::common::DataFusionError::Configuration)
}

/// The worker side: a tonic interceptor accepting only requests carrying `secret`.
#[derive(Clone)]
pub struct RequireSecret {
    secret: Option<Vec<u8>>,
}

impl RequireSecret {
    /// `None`: no secret configured, every request is accepted.
    pub fn new(secret: Option<&str>) -> Self {
        Self {
            secret: secret.map(|secret| secret.as_bytes().to_vec()),
        }
    }

    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.secret else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get(SECRET_HEADER)
            .map(|value| value.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "flightserver worker: the request does not carry this worker's secret",
            ))
        }
    }
}

/// Compares without stopping at the first difference, so the time taken does
/// not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(secret: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(secret) = secret {
            request
                .metadata_mut()
                .insert(SECRET_HEADER, secret.parse().unwrap());
        }
        request
    }

    #[test]
    fn refuses_missing_and_wrong_secrets() {
        let check = RequireSecret::new(Some("s3cret"));
        assert!(check.check(request(Some("s3cret"))).is_ok());
        let refused = check.check(request(Some("s3cres"))).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(check.check(request(None)).is_err());
        assert!(check.check(request(Some("s3cret-longer"))).is_err());
    }

    #[test]
    fn no_secret_accepts_all() {
        assert!(RequireSecret::new(None).check(request(None)).is_ok());
    }
}
