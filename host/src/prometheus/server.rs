//! Serving `/metrics`: plain HTTP, or HTTPS (rustls) with an optional basic
//! auth or bearer token check, like any Prometheus exporter that shows what
//! a node runs.
//!
//! The endpoint is bounded against whoever reaches it (`Limits`): a few
//! connections, of which the one that has gone longest without a request in
//! progress gives way to a new one; a connection without a request in
//! progress for the idle timeout is closed (a request head that is still
//! arriving counts as none, so a slowloris holds nothing for long); two
//! renders at once; small request heads. Each bound counts what it closes or
//! refuses in `wasmtrace_endpoint_*`.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsAcceptor;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use super::{Counters, SharedStats, render};
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

/// What the endpoint allows whoever reaches it. Every bound counts what it
/// closes, refuses or leaves out, and each scrape shows the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes one scrape's text may take; map families past it are
    /// left out whole (`wasmtrace_scrape_truncated_total`). Each connection
    /// holds at most one scrape's text, so the endpoint's memory is bounded
    /// by `connections` times this.
    pub scrape_bytes: usize,
    /// Connections open at once. A new one past it takes the place of the
    /// one that has gone longest without a request in progress; when every
    /// one has a scrape in progress, the new one is closed at once.
    pub connections: usize,
    /// Scrapes rendering at once (a render takes a copy of every map and a
    /// CPU for a while); others wait for one, up to `idle`, then get `503`.
    pub renders: usize,
    /// How long a connection may go without a request in progress (a request
    /// head still arriving, a TLS handshake, keep-alive between scrapes), and
    /// how long a response may wait for the client to take a byte.
    pub idle: Duration,
    /// The largest request head (request line and headers; HTTP/2's header
    /// list); bodies are never read.
    pub request_bytes: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        scrape_bytes: 32 << 20,
        connections: 16,
        renders: 2,
        idle: Duration::from_secs(10),
        request_bytes: 16 << 10,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// Starts serving on the current tokio runtime. A scrape renders on a
/// blocking thread from a snapshot of the maps, so it holds no lock that a
/// plugin or the reader needs while it formats.
pub fn serve(metrics: &Metrics, maps: MapRegistry, stats: SharedStats) -> Result<(), ServeError> {
    let addr = metrics.listen;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| ServeError::Bind {
        addr,
        reason: e.to_string(),
    })?;
    start(listener, metrics, maps, stats, Limits::DEFAULT).map(drop)
}

/// What every connection and scrape of the endpoint shares.
struct Endpoint {
    maps: MapRegistry,
    stats: SharedStats,
    limits: Limits,
    renders: Arc<Semaphore>,
    conns: Arc<Conns>,
    counters: Arc<Counters>,
}

/// Serves on `listener` within `limits`.
fn start(
    listener: std::net::TcpListener,
    metrics: &Metrics,
    maps: MapRegistry,
    stats: SharedStats,
    limits: Limits,
) -> Result<Arc<Endpoint>, ServeError> {
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
    listener.set_nonblocking(true).map_err(fail)?;
    let counters = Arc::new(Counters::default());
    let conns = Arc::new(Conns {
        most: limits.connections.max(1),
        open: Mutex::new(Vec::new()),
        counters: counters.clone(),
    });
    let endpoint = Arc::new(Endpoint {
        maps,
        stats,
        limits,
        renders: Arc::new(Semaphore::new(limits.renders.max(1))),
        conns: conns.clone(),
        counters,
    });
    let mut app = axum::Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "wasmtrace: metrics are at /metrics\n") })
        .with_state(endpoint.clone());
    if let Some(gate) = gate {
        app = app.layer(axum::middleware::from_fn_with_state(Arc::new(gate), check));
    }
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let admit = Admit {
        conns,
        idle: limits.idle,
    };
    let server = axum_server::from_tcp(listener).map_err(fail)?;
    match tls {
        None => {
            let server = bounded(server.acceptor(admit), &limits);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!("the Prometheus endpoint stopped: {e}");
                }
            });
        }
        Some(config) => {
            let acceptor = RustlsAcceptor::new(config)
                .handshake_timeout(limits.idle)
                .acceptor(admit);
            let server = bounded(server.acceptor(acceptor), &limits);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!("the Prometheus endpoint stopped: {e}");
                }
            });
        }
    }
    Ok(endpoint)
}

/// HTTP/1 and HTTP/2 within `limits`: small request heads, one request at a
/// time per connection.
fn bounded<A>(mut server: axum_server::Server<SocketAddr, A>, limits: &Limits) -> axum_server::Server<SocketAddr, A> {
    // hyper refuses a read buffer under 8 KiB.
    let head = limits.request_bytes.max(8 << 10);
    let builder = server.http_builder();
    builder.http1().max_buf_size(head);
    builder
        .http2()
        .max_concurrent_streams(1)
        .max_header_list_size(u32::try_from(head).unwrap_or(u32::MAX));
    server
}

/// A rendered scrape, sent as the response's body; its connection counts as
/// having a request in progress until the text is sent.
struct Sent {
    text: String,
    _busy: Option<Busy>,
}

impl AsRef<[u8]> for Sent {
    fn as_ref(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

async fn scrape(State(endpoint): State<Arc<Endpoint>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    let busy = endpoint.conns.find(peer).map(Busy::new);
    let renders = endpoint.renders.clone();
    let permit = match tokio::time::timeout(endpoint.limits.idle, renders.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            endpoint.counters.busy.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "wasmtrace: every render of the metrics endpoint stayed busy; try again\n",
            )
                .into_response();
        }
    };
    let rendering = endpoint.clone();
    let text = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let published = rendering.stats.lock().expect("stats lock").clone();
        render(
            &rendering.maps.snapshot(),
            &published,
            rendering.limits.scrape_bytes,
            &rendering.counters,
        )
    })
    .await
    .unwrap_or_else(|e| format!("# wasmtrace: rendering failed: {e}\n"));
    let body = Body::from(Bytes::from_owner(Sent { text, _busy: busy }));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// A connection's standing, shared by its stream and its requests.
struct Slot {
    peer: SocketAddr,
    /// Requests in progress: a scrape counts from its handler until its
    /// text is sent.
    busy: AtomicUsize,
    /// Since when no request has been in progress (at first, the connection's start).
    idle_since: Mutex<Instant>,
    evicted: AtomicBool,
    /// The connection's task, woken when it is evicted.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().expect("connection slot lock")
    }

    fn register(&self, waker: &Waker) {
        let mut current = self.waker.lock().expect("connection slot lock");
        if !current.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *current = Some(waker.clone());
        }
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().expect("connection slot lock").take() {
            waker.wake();
        }
    }
}

/// A request in progress on a connection, until dropped.
struct Busy(Arc<Slot>);

impl Busy {
    fn new(slot: Arc<Slot>) -> Busy {
        slot.busy.fetch_add(1, Ordering::AcqRel);
        Busy(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Before the count falls, so that an idle connection never reads an older time.
        *self.0.idle_since.lock().expect("connection slot lock") = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections.
struct Conns {
    most: usize,
    open: Mutex<Vec<Arc<Slot>>>,
    counters: Arc<Counters>,
}

impl Conns {
    /// A slot for a new connection. When every slot is taken, the connection
    /// that has gone longest without a request in progress gives its slot
    /// up (a slowloris's half-sent head is no request); when every one has a
    /// scrape in progress, there is none.
    fn admit(&self, peer: SocketAddr) -> Option<Arc<Slot>> {
        let mut open = self.open.lock().expect("connections lock");
        if open.len() >= self.most {
            let oldest = open
                .iter()
                .enumerate()
                .filter(|(_, slot)| !slot.is_busy())
                .min_by_key(|(_, slot)| slot.idle_since())
                .map(|(i, _)| i);
            let Some(oldest) = oldest else {
                self.counters.closed_full.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            open.swap_remove(oldest).evict();
            self.counters.closed_evicted.fetch_add(1, Ordering::Relaxed);
        }
        let slot = Arc::new(Slot {
            peer,
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            evicted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        open.push(slot.clone());
        Some(slot)
    }

    fn find(&self, peer: SocketAddr) -> Option<Arc<Slot>> {
        let open = self.open.lock().expect("connections lock");
        open.iter().find(|slot| slot.peer == peer).cloned()
    }

    fn leave(&self, slot: &Arc<Slot>) {
        self.open
            .lock()
            .expect("connections lock")
            .retain(|s| !Arc::ptr_eq(s, slot));
    }
}

/// Takes each accepted connection into a slot, or closes it.
#[derive(Clone)]
struct Admit {
    conns: Arc<Conns>,
    idle: Duration,
}

impl<S> Accept<TcpStream, S> for Admit {
    type Stream = Guarded<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Guarded<TcpStream>, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = stream.peer_addr().ok().and_then(|peer| self.conns.admit(peer));
        std::future::ready(match slot {
            Some(slot) => Ok((Guarded::new(stream, slot, self.conns.clone(), self.idle), service)),
            None => Err(io::Error::other("every connection has a scrape in progress")),
        })
    }
}

/// A connection's stream, failing (so that the server closes it) once the
/// connection is evicted, has gone `idle` without a request in progress
/// (whatever bytes of a request head trickle in), or has had a response wait
/// `idle` for the client to take a byte.
struct Guarded<S> {
    io: S,
    slot: Arc<Slot>,
    conns: Arc<Conns>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    last_write: Instant,
    write_waiting_since: Option<Instant>,
    closed: Option<io::ErrorKind>,
}

impl<S> Guarded<S> {
    fn new(io: S, slot: Arc<Slot>, conns: Arc<Conns>, idle: Duration) -> Guarded<S> {
        let now = Instant::now();
        Guarded {
            io,
            slot,
            conns,
            idle,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            last_write: now,
            write_waiting_since: None,
            closed: None,
        }
    }

    /// When the connection must close, as things stand.
    fn deadline(&self) -> Option<Instant> {
        if self.slot.is_busy() {
            self.write_waiting_since.map(|since| since + self.idle)
        } else {
            Some(self.slot.idle_since().max(self.last_write) + self.idle)
        }
    }

    /// The error that closes the connection, once it must close.
    fn doomed(&mut self) -> Option<io::Error> {
        if self.closed.is_none() {
            if self.slot.evicted.load(Ordering::Acquire) {
                self.closed = Some(io::ErrorKind::ConnectionAborted);
            } else if self.deadline().is_some_and(|d| d <= Instant::now()) {
                self.conns.counters.closed_idle.fetch_add(1, Ordering::Relaxed);
                self.closed = Some(io::ErrorKind::TimedOut);
            }
        }
        self.closed.map(io::Error::from)
    }

    /// Wakes the connection's task at its deadline, or when it is evicted.
    fn arm(&mut self, cx: &mut Context<'_>) {
        self.slot.register(cx.waker());
        if let Some(deadline) = self.deadline() {
            self.timer.as_mut().reset(deadline);
            if self.timer.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
    }

    fn wrote<T>(&mut self, cx: &mut Context<'_>, polled: &Poll<T>) {
        if polled.is_pending() {
            self.write_waiting_since.get_or_insert_with(Instant::now);
            self.arm(cx);
        } else {
            self.write_waiting_since = None;
            self.last_write = Instant::now();
        }
    }
}

impl<S> Drop for Guarded<S> {
    fn drop(&mut self) {
        self.conns.leave(&self.slot);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.doomed() {
            return Poll::Ready(Err(e));
        }
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if polled.is_pending() {
            this.arm(cx);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.doomed() {
            return Poll::Ready(Err(e));
        }
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.wrote(cx, &polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.doomed() {
            return Poll::Ready(Err(e));
        }
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(cx, &polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.doomed() {
            return Poll::Ready(Err(e));
        }
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.wrote(cx, &polled);
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream as Client;
    use std::time::Instant as Clock;

    use super::*;

    const SCRAPE: &str = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

    /// An endpoint on 127.0.0.1 within `limits`, on a single-threaded runtime
    /// of its own as in `wasmtrace run`.
    fn start_endpoint(limits: Limits) -> (SocketAddr, Arc<Endpoint>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let metrics = Metrics {
                    listen: addr,
                    tls: None,
                    auth: None,
                };
                let endpoint = start(
                    listener,
                    &metrics,
                    MapRegistry::default(),
                    SharedStats::default(),
                    limits,
                )
                .unwrap();
                tx.send(endpoint).unwrap();
                std::future::pending::<()>().await
            });
        });
        (addr, rx.recv().unwrap())
    }

    /// One request on a connection of its own: the status line and the body.
    fn request(addr: SocketAddr, head: &str) -> (String, String) {
        let mut client = Client::connect(addr).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = client.write_all(head.as_bytes());
        let mut response = Vec::new();
        let _ = client.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (head.lines().next().unwrap_or_default().to_string(), body.to_string())
    }

    /// How many of these (non-blocking) connections the endpoint has closed
    /// without answering.
    fn closed(clients: &mut [Client]) -> usize {
        let mut buf = [0u8; 256];
        let mut closed = 0;
        for client in clients {
            match client.read(&mut buf) {
                Ok(0) => closed += 1,
                Ok(n) => panic!(
                    "a half-sent request was answered: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => closed += 1,
            }
        }
        closed
    }

    #[test]
    fn slowloris_neither_blinds_the_endpoint_nor_outlasts_its_idle_timeout() {
        // What is asserted is the order of things, not how fast they are: the
        // idle timeout is long enough that all else happens within it even
        // on a busy machine, and deadlines only stop a test that would hang.
        let limits = Limits {
            idle: Duration::from_secs(8),
            ..Limits::DEFAULT
        };
        let deadline = limits.idle + Duration::from_secs(60);
        let (addr, _endpoint) = start_endpoint(limits);
        let opened = Clock::now();
        let mut slow: Vec<Client> = (0..100)
            .map(|_| {
                let mut client = Client::connect(addr).unwrap();
                client
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .unwrap();
                client.set_nonblocking(true).unwrap();
                client
            })
            .collect();
        // Each past the 16th takes the place of the one that has waited longest.
        while closed(&mut slow) < 84 && opened.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let at_once = closed(&mut slow);
        assert_eq!(at_once, 84);

        // A scrape is answered while the 16 are held, before any idle timeout:
        // it takes the place of one more.
        let (status, body) = request(addr, SCRAPE);
        let answered = opened.elapsed();
        assert_eq!(status, "HTTP/1.1 200 OK");
        for line in [
            "wasmtrace_endpoint_closed_total{reason=\"idle\"} 0\n",
            "wasmtrace_endpoint_closed_total{reason=\"evicted\"} 85\n",
            "wasmtrace_endpoint_closed_total{reason=\"full\"} 0\n",
        ] {
            assert!(body.contains(line), "{line}{body}");
        }

        // The 15 left are closed once idle for the timeout, and not before.
        while closed(&mut slow) < 100 && opened.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let all_closed = opened.elapsed();
        assert_eq!(closed(&mut slow), 100);
        assert!(all_closed >= limits.idle, "{all_closed:?}");
        let (_, body) = request(addr, SCRAPE);
        for line in [
            "wasmtrace_endpoint_closed_total{reason=\"idle\"} 15\n",
            "wasmtrace_endpoint_closed_total{reason=\"evicted\"} 85\n",
        ] {
            assert!(body.contains(line), "{line}{body}");
        }
        eprintln!(
            "100 connections sent half a request: {at_once} were closed at once (evicted by newer ones); a scrape \
             was answered {answered:?} after the first opened (evicting one more); the last 15 were closed \
             {all_closed:?} after it (idle timeout {:?})",
            limits.idle
        );
    }

    #[test]
    fn scrapes_wait_for_a_render_then_get_503_and_a_connection_past_the_bound_is_closed() {
        let limits = Limits {
            // Long enough that the fifth connection comes while the four wait,
            // even on a busy machine: the test checks the order, not speed.
            idle: Duration::from_secs(5),
            connections: 4,
            ..Limits::DEFAULT
        };
        let (addr, endpoint) = start_endpoint(limits);
        // Both renders taken, as by two long scrapes.
        let renders = endpoint.renders.clone().try_acquire_many_owned(2).unwrap();
        let waiting: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    let asked = Clock::now();
                    let (status, _) = request(addr, SCRAPE);
                    (status, asked.elapsed())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(1));

        // All four connections have a scrape in progress: a fifth is closed at once, unanswered.
        let (status, body) = request(addr, SCRAPE);
        assert_eq!((status.as_str(), body.as_str()), ("", ""));
        assert!(
            waiting.iter().all(|w| !w.is_finished()),
            "the fifth was closed before the four waiting were answered"
        );

        for waiter in waiting {
            let (status, waited) = waiter.join().unwrap();
            assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
            assert!(waited >= limits.idle, "{waited:?}");
        }
        drop(renders);
        let (status, body) = request(addr, SCRAPE);
        assert_eq!(status, "HTTP/1.1 200 OK");
        for line in [
            "wasmtrace_endpoint_busy_total 4\n",
            "wasmtrace_endpoint_closed_total{reason=\"full\"} 1\n",
            "wasmtrace_endpoint_closed_total{reason=\"evicted\"} 0\n",
        ] {
            assert!(body.contains(line), "{line}{body}");
        }
        eprintln!(
            "with both renders taken, 4 scrapes waited {:?} and got 503; a 5th connection was closed before them",
            limits.idle
        );
    }

    #[test]
    fn a_request_head_past_its_bound_gets_431() {
        let (addr, _endpoint) = start_endpoint(Limits::DEFAULT);
        let filler = |n: usize| {
            format!(
                "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Filler: {}\r\n\r\n",
                "a".repeat(n)
            )
        };
        assert_eq!(
            request(addr, &filler(20_000)).0,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        assert_eq!(request(addr, &filler(12_000)).0, "HTTP/1.1 200 OK");
    }
}
