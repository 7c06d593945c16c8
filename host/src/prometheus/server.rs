//! Serving `/metrics`: plain HTTP, or HTTPS (rustls) with an optional basic
//! auth or bearer token check, like any Prometheus exporter that shows what
//! a node runs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::{SharedStats, render};
use crate::config::{Auth, Metrics, SecretError, Tls};
use crate::maps::MapRegistry;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot serve Prometheus metrics on {addr}: {reason}. Pick a free address in [output] prometheus, or remove it"
    )]
    Bind { addr: SocketAddr, reason: String },
    #[error("cannot serve Prometheus metrics over TLS: {0}. Fix [output.prometheus_tls]")]
    Tls(String),
    #[error("cannot check Prometheus scrapes' credentials: {0}. Fix [output.prometheus_auth]")]
    Secret(SecretError),
}

/// Starts serving on the current tokio runtime. A scrape renders on a
/// blocking thread from a snapshot of the maps, so it holds no lock that a
/// plugin or the reader needs while it formats.
pub fn serve(metrics: &Metrics, maps: MapRegistry, stats: SharedStats) -> Result<(), ServeError> {
    let addr = metrics.listen;
    let fail = |e: std::io::Error| ServeError::Bind {
        addr,
        reason: e.to_string(),
    };
    let tls = metrics.tls.as_ref().map(server_config).transpose()?;
    let gate = metrics.auth.as_ref().map(Gate::new).transpose()?;
    if gate.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "the Prometheus endpoint on {addr} is open to anyone who can reach it, and shows this node's commands \
             and paths: set [output.prometheus_auth] (and [output.prometheus_tls]), or listen on 127.0.0.1"
        );
    }
    let listener = std::net::TcpListener::bind(addr).map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    let mut app = axum::Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "wasmtrace: metrics are at /metrics\n") })
        .with_state((maps, stats));
    if let Some(gate) = gate {
        app = app.layer(axum::middleware::from_fn_with_state(Arc::new(gate), check));
    }
    match tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(fail)?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("the Prometheus endpoint stopped: {e}");
                }
            });
        }
        Some(config) => {
            let server = axum_server::from_tcp_rustls(listener, config).map_err(fail)?;
            tokio::spawn(async move {
                if let Err(e) = server.serve(app.into_make_service()).await {
                    tracing::error!("the Prometheus endpoint stopped: {e}");
                }
            });
        }
    }
    Ok(())
}

async fn scrape(State((maps, stats)): State<(MapRegistry, SharedStats)>) -> impl IntoResponse {
    let text = tokio::task::spawn_blocking(move || {
        let published = stats.lock().expect("stats lock").clone();
        render(&maps.snapshot(), &published)
    })
    .await
    .unwrap_or_else(|e| format!("# wasmtrace: rendering failed: {e}\n"));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The certificate chain and key, with rustls's ring provider.
fn server_config(tls: &Tls) -> Result<axum_server::tls_rustls::RustlsConfig, ServeError> {
    let pem_error = |path: &Path, what: &str, e: &dyn std::fmt::Display| {
        ServeError::Tls(format!("cannot read {what} from {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error(&tls.cert_file, "a PEM certificate", &e))?;
    if certs.is_empty() {
        return Err(pem_error(&tls.cert_file, "a PEM certificate", &"it holds none"));
    }
    let key =
        PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|e| pem_error(&tls.key_file, "a PEM private key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::Tls(format!(
                "the key {} does not fit the certificate {}: {e}",
                tls.key_file.display(),
                tls.cert_file.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)))
}

/// What a scrape's `Authorization` header must be, kept as a digest so that
/// comparing it takes the same time wherever the given value differs.
struct Gate {
    expected: [u8; 32],
    challenge: HeaderValue,
}

impl Gate {
    fn new(auth: &Auth) -> Result<Gate, ServeError> {
        let (value, challenge) = match auth {
            Auth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.read().map_err(ServeError::Secret)?);
                (
                    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)),
                    "Basic realm=\"wasmtrace\"",
                )
            }
            Auth::Bearer { token } => (
                format!("Bearer {}", token.read().map_err(ServeError::Secret)?),
                "Bearer realm=\"wasmtrace\"",
            ),
        };
        Ok(Gate {
            expected: Sha256::digest(value.as_bytes()).into(),
            challenge: HeaderValue::from_static(challenge),
        })
    }
}

async fn check(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    if given.is_some_and(|g| <[u8; 32]>::from(Sha256::digest(g)) == gate.expected) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, gate.challenge.clone())],
        "wasmtrace: this endpoint needs credentials\n",
    )
        .into_response()
}
