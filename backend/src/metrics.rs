//! Numbers for operators: one registry, every metric in it, one small function per event
//! (so that a call site stays one line), and the `/metrics` listener of `--metrics-addr`.
//!
//! One process is one server, so the registry belongs to the process. Counting costs an
//! atomic add; nothing here allocates per event. What takes a lock to read (the database
//! pool) is read only when `/metrics` is scraped. The names and labels are listed in
//! `docs/operations.md`.

use std::sync::LazyLock;
use std::time::Duration;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::store::Store;

/// Scrapes served at once; more wait in the accept queue. The listener is private, but
/// a misconfigured scraper must not cost memory without bound.
const MAX_SCRAPES: usize = 16;
/// Longest a scraper may take to send its request.
const SCRAPE_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bounds of the commit-latency buckets, in seconds: 0.5 ms to 10 s.
const COMMIT_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabel {
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapLabel {
    cap: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    state: &'static str,
}

/// Every metric of the process, registered once.
struct Metrics {
    registry: Registry,
    connections: Gauge,
    connections_refused: Family<CapLabel, Counter>,
    sockets: Family<EndpointLabel, Gauge>,
    sockets_opened: Family<EndpointLabel, Counter>,
    accepted: Counter,
    refused: Family<CodeLabel, Counter>,
    deliveries: Counter,
    closes: Family<CloseLabel, Counter>,
    queued_bytes: Gauge,
    commit_seconds: Histogram,
    hash_waiting: Gauge,
    hash_running: Gauge,
    hash_busy: Counter,
    pool: Family<PoolLabel, Gauge>,
    servers_alive: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::register);

impl Metrics {
    fn register() -> Self {
        let mut registry = Registry::with_prefix("chat");
        let metrics = Metrics {
            connections: Gauge::default(),
            connections_refused: Family::default(),
            sockets: Family::default(),
            sockets_opened: Family::default(),
            accepted: Counter::default(),
            refused: Family::default(),
            deliveries: Counter::default(),
            closes: Family::default(),
            queued_bytes: Gauge::default(),
            commit_seconds: Histogram::new(COMMIT_BUCKETS),
            hash_waiting: Gauge::default(),
            hash_running: Gauge::default(),
            hash_busy: Counter::default(),
            pool: Family::default(),
            servers_alive: Gauge::default(),
            registry: Registry::default(),
        };
        let m = &metrics;
        // Known label values start at zero, so a dashboard has a line before the first event.
        for endpoint in ["chat", "echo"] {
            let _ = m.sockets.get_or_create(&EndpointLabel { endpoint });
            let _ = m.sockets_opened.get_or_create(&EndpointLabel { endpoint });
        }
        for cap in ["total", "per_addr"] {
            let _ = m.connections_refused.get_or_create(&CapLabel { cap });
        }
        let r = &mut registry;
        r.register(
            "connections",
            "Open TCP connections (HTTP and WebSocket), each holding a slot under the caps",
            m.connections.clone(),
        );
        r.register(
            "connections_refused",
            "Connections closed at once because a cap (total or per address) was reached",
            m.connections_refused.clone(),
        );
        r.register("sockets", "Open WebSockets by endpoint", m.sockets.clone());
        r.register(
            "sockets_opened",
            "WebSockets opened by endpoint",
            m.sockets_opened.clone(),
        );
        r.register(
            "messages_accepted",
            "Chat messages stored and broadcast",
            m.accepted.clone(),
        );
        r.register(
            "messages_refused",
            "Client frames answered with an error, by its code",
            m.refused.clone(),
        );
        r.register(
            "deliveries",
            "Stored events queued for a socket (one per receiving socket)",
            m.deliveries.clone(),
        );
        r.register(
            "socket_closes",
            "WebSockets the server closed, by close code",
            m.closes.clone(),
        );
        r.register(
            "queued_bytes",
            "Outgoing bytes queued for sockets and not yet taken by them",
            m.queued_bytes.clone(),
        );
        r.register(
            "commit_seconds",
            "Time to commit one batch of the hub's writes",
            m.commit_seconds.clone(),
        );
        r.register(
            "password_hash_waiting",
            "Password hashes waiting for a hashing thread",
            m.hash_waiting.clone(),
        );
        r.register(
            "password_hash_running",
            "Password hashes being computed",
            m.hash_running.clone(),
        );
        r.register(
            "password_hash_busy",
            "Requests turned away with 503 because the hash queue was full",
            m.hash_busy.clone(),
        );
        r.register(
            "db_pool_connections",
            "PostgreSQL connections of the request pool, in use or idle",
            m.pool.clone(),
        );
        r.register(
            "servers_alive",
            "Servers sharing the database whose heartbeat is recent, this one included",
            m.servers_alive.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

fn m() -> &'static Metrics {
    &METRICS
}

/// A connection took a slot under the caps; the returned guard gives it back.
pub fn connection_opened() -> Open {
    Open::inc(&m().connections)
}

/// A connection was turned away by `cap` (`"total"` or `"per_addr"`).
pub fn connection_refused(cap: &'static str) {
    m().connections_refused
        .get_or_create(&CapLabel { cap })
        .inc();
}

/// A WebSocket on `endpoint` (`"chat"`, `"echo"`) is open until the guard is dropped.
pub fn socket_opened(endpoint: &'static str) -> Open {
    let label = EndpointLabel { endpoint };
    m().sockets_opened.get_or_create(&label).inc();
    Open::inc(&m().sockets.get_or_create(&label))
}

/// `n` chat messages were stored (and so will be broadcast).
pub fn messages_accepted(n: u64) {
    m().accepted.inc_by(n);
}

/// A client frame was answered with an `error` of `code`.
pub fn message_refused(code: &shared::ErrorCode) {
    // Known codes only: the label's values stay a short, fixed list.
    let code = shared::ErrorCode::ALL
        .iter()
        .find(|known| *known == code)
        .map_or("other", |known| known.as_str());
    m().refused.get_or_create(&CodeLabel { code }).inc();
}

/// `n` stored events were queued for sockets (a broadcast to 10 sockets is 10).
pub fn delivered(n: u64) {
    m().deliveries.inc_by(n);
}

/// The server closed a WebSocket with `code`.
pub fn socket_closed(code: u16) {
    m().closes.get_or_create(&CloseLabel { code }).inc();
}

/// `n` outgoing bytes were queued for a socket.
pub fn bytes_queued(n: usize) {
    m().queued_bytes.inc_by(to_i64(n));
}

/// `n` queued bytes were taken by their socket, or dropped with it.
pub fn bytes_unqueued(n: usize) {
    m().queued_bytes.dec_by(to_i64(n));
}

/// One batch of the hub's writes took `took` to commit.
pub fn commit(took: Duration) {
    m().commit_seconds.observe(took.as_secs_f64());
}

/// A password hash waits for a thread until the guard is dropped.
pub fn hash_waiting() -> Open {
    Open::inc(&m().hash_waiting)
}

/// A password hash is being computed until the guard is dropped.
pub fn hash_running() -> Open {
    Open::inc(&m().hash_running)
}

/// A request was turned away because the hash queue was full.
pub fn hash_busy() {
    m().hash_busy.inc();
}

/// `n` servers (this one included) share the database and have a recent heartbeat.
pub fn servers_alive(n: usize) {
    m().servers_alive.set(to_i64(n));
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Something counted in a gauge while it lasts: the gauge goes down when this is dropped.
#[must_use = "the gauge goes down as soon as this is dropped"]
pub struct Open(Gauge);

impl Open {
    fn inc(gauge: &Gauge) -> Self {
        gauge.inc();
        Open(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Every metric in Prometheus's text format, the database pool read now.
pub fn render(store: &Store) -> String {
    let (in_use, idle) = store.postgres().map_or((0, 0), |pool| pool.usage());
    let pool = &m().pool;
    pool.get_or_create(&PoolLabel { state: "in_use" })
        .set(to_i64(in_use));
    pool.get_or_create(&PoolLabel { state: "idle" })
        .set(to_i64(idle));
    let mut out = String::new();
    // Writing into a `String` cannot fail.
    let _ = prometheus_text::encode(&mut out, &m().registry);
    out
}

/// Serves `GET /metrics` on `listener` until the task is dropped; any other request gets
/// `404`. Plain HTTP, no caps beyond [`MAX_SCRAPES`]: bind it where only scrapers reach.
pub async fn serve(listener: TcpListener, store: Store) {
    let scrapes = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(SCRAPE_HEADER_TIMEOUT);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let Ok(permit) = scrapes.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::debug!(%err, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let store = store.clone();
        let builder = builder.clone();
        // Finished tasks are reaped here, so the set stays as small as the open scrapes.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req: Request<Incoming>| {
                let res = answer(&req, &store);
                async move { Ok::<_, std::convert::Infallible>(res) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(err) = tokio::time::timeout(SCRAPE_HEADER_TIMEOUT * 6, conn).await {
                tracing::debug!(%err, "metrics listener: a scrape took too long");
            }
        });
    }
}

fn answer<B>(req: &Request<B>, store: &Store) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (
        req.method() == Method::GET || req.method() == Method::HEAD,
        req.uri().path(),
    ) {
        (true, "/metrics") => (StatusCode::OK, prometheus_text::CONTENT_TYPE, render(store)),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "only GET /metrics is served here\n".to_owned(),
        ),
    };
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_in_the_text_format_with_its_prefix() {
        socket_closed(4001);
        message_refused(&shared::ErrorCode::Other("made_up".into()));
        let text = render(&Store::open_in_memory().unwrap());
        for name in [
            "chat_connections gauge",
            "chat_connections_refused_total counter",
            "chat_sockets gauge",
            "chat_sockets_opened_total counter",
            "chat_messages_accepted_total counter",
            "chat_messages_refused_total counter",
            "chat_deliveries_total counter",
            "chat_socket_closes_total counter",
            "chat_queued_bytes gauge",
            "chat_commit_seconds histogram",
            "chat_password_hash_waiting gauge",
            "chat_password_hash_running gauge",
            "chat_password_hash_busy_total counter",
            "chat_db_pool_connections gauge",
            "chat_servers_alive gauge",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name}\n")),
                "{name}:\n{text}"
            );
        }
        assert!(
            text.contains("chat_socket_closes_total{code=\"4001\"} "),
            "{text}"
        );
        // A code this build does not know is counted, under a fixed label value.
        assert!(
            text.contains("chat_messages_refused_total{code=\"other\"} "),
            "{text}"
        );
        assert!(
            text.contains("chat_db_pool_connections{state=\"in_use\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn a_guard_takes_back_what_it_counted() {
        let gauge = Gauge::default();
        let open = Open::inc(&gauge);
        let again = Open::inc(&gauge);
        assert_eq!(gauge.get(), 2);
        drop(open);
        drop(again);
        assert_eq!(gauge.get(), 0);
    }
}
