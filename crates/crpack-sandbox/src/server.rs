//! The listener: one loopback address for both services, dispatched by the SigV4 credential
//! scope's service name. Clean Rooms signatures are verified here; S3 signatures are verified by
//! s3s inside the S3 endpoint.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cleanrooms::CleanRoomsEndpoint;
use super::s3::S3Endpoint;
use super::{Body, full_body, sigv4};

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Persist state here (objects under `s3/`, Clean Rooms state in `cleanrooms.json`) so a
    /// restart keeps it. `None`: Clean Rooms state in memory, objects in a temporary directory
    /// removed when the sandbox stops.
    pub data_dir: Option<PathBuf>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
        }
    }
}

/// A running sandbox. Dropping it stops the listener.
pub struct Sandbox {
    addr: SocketAddr,
    services: Arc<Services>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

struct Services {
    s3: S3Endpoint,
    cleanrooms: CleanRoomsEndpoint,
}

impl Sandbox {
    /// Binds the listener and starts serving on the current tokio runtime.
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let endpoint = format!("http://{addr}");
        let (temp, s3_root, state_file) = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (None, dir.join("s3"), Some(dir.join("cleanrooms.json")))
            }
            None => {
                let temp = tempfile::Builder::new().prefix("crpack-sandbox-").tempdir()?;
                let root = temp.path().join("s3");
                (Some(temp), root, None)
            }
        };
        std::fs::create_dir_all(&s3_root)?;
        let services = Arc::new(Services {
            s3: S3Endpoint::open(&s3_root)?,
            cleanrooms: CleanRoomsEndpoint::open(state_file, endpoint)?,
        });
        let (shutdown, mut stop) = watch::channel(false);
        let shared = services.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(conn) => conn,
                        Err(_) => continue,
                    },
                    _ = stop.changed() => break,
                };
                let services = services.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let services = services.clone();
                        async move { Ok::<_, Infallible>(dispatch(&services, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => conn.as_mut().graceful_shutdown(),
                    }
                });
            }
        });
        Ok(Sandbox {
            addr,
            services: shared,
            shutdown,
            task: Some(task),
            _temp: temp,
        })
    }

    /// The address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Clean Rooms endpoint (for reading what the service pinned).
    pub fn cleanrooms(&self) -> &CleanRoomsEndpoint {
        &self.services.cleanrooms
    }

    /// The endpoint URL for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the listener to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn dispatch(services: &Services, req: http::Request<Incoming>) -> http::Response<Body> {
    match sigv4::scope_service(&req).as_deref() {
        Some("cleanrooms") => {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) => {
                    return rest_json_error(400, "SerializationException", &err.to_string());
                }
            };
            let req = http::Request::from_parts(parts, body);
            match sigv4::verify(&req, &req.body()[..]) {
                Ok(caller) => services.cleanrooms.handle(caller, req).await,
                Err(err) => rest_json_error(403, err.code(), &err.to_string()),
            }
        }
        Some("s3") | None => services.s3.handle(req).await,
        Some(other) => rest_json_error(
            400,
            "UnknownServiceException",
            &format!("the sandbox serves the s3 and cleanrooms services, not {other:?}"),
        ),
    }
}

/// A REST-JSON error as the AWS services send it: the type in `x-amzn-ErrorType`, `message` in
/// the body.
pub(crate) fn rest_json_error(status: u16, code: &str, message: &str) -> http::Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", code)
        .body(full_body(Bytes::from(body)))
        .expect("valid error response")
}
