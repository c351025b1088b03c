//! The job's HTTP server on 127.0.0.1 (configurable): `/` (the live dashboard, `dashboard/`),
//! `/api/state` and `/api/asset?id=` (its JSON), `/healthz` (the process is alive), `/readyz`
//! (state restored and consuming: 200, else 503) and `/metrics` (Prometheus text,
//! `prometheus.rs`). Served with hyper, one task per connection (never per reading); the runner
//! publishes its gauges into the shared [`HttpState`] as it commits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::dashboard::DashboardBook;
use crate::metrics::JobStats;
use crate::prometheus::Gauges;
use crate::PipelineError;

/// What the endpoints read.
#[derive(Clone)]
pub struct HttpState {
    /// The job's counters.
    pub stats: Arc<JobStats>,
    /// The runner's live gauges.
    pub gauges: Arc<Mutex<Gauges>>,
    /// What the dashboard shows (fed by the runner).
    pub dashboard: Arc<Mutex<DashboardBook>>,
}

impl HttpState {
    /// State over `stats` with empty gauges (not ready).
    pub fn new(stats: Arc<JobStats>) -> Self {
        HttpState {
            stats,
            gauges: Arc::new(Mutex::new(Gauges::default())),
            dashboard: Arc::new(Mutex::new(DashboardBook::default())),
        }
    }

    /// Updates the gauges.
    pub fn publish(&self, f: impl FnOnce(&mut Gauges)) {
        if let Ok(mut g) = self.gauges.lock() {
            f(&mut g);
        }
    }

    fn gauges(&self) -> Gauges {
        self.gauges.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

fn reply(status: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = ctype.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// The `/api/state` document: job, model, counters, the fleet worst first, current alerts.
pub fn state_json(state: &HttpState) -> serde_json::Value {
    let g = state.gauges();
    let st = state.stats.snapshot();
    let lag: i64 = g.lag.iter().map(|(_, _, l)| *l).sum();
    let model = g.model.as_ref().map(
        |(name, version)| serde_json::json!({"name": name, "version": version, "shadow": g.shadow}),
    );
    let (job, fleet, alerts) = match state.dashboard.lock() {
        Ok(d) => (
            d.job().to_string(),
            d.fleet(),
            serde_json::to_value(d.current_alerts()).unwrap_or_default(),
        ),
        Err(_) => (String::new(), Vec::new(), serde_json::json!([])),
    };
    serde_json::json!({
        "job": job,
        "model": model,
        "ready": g.ready,
        "stats": {
            "readings": st.readings,
            "windows": st.windows,
            "alerts": st.alerts,
            "dead_letters": st.dead_letters,
            "lag": lag,
        },
        "fleet": fleet,
        "alerts": alerts,
        "updated_at": crate::engine::now_ms(),
    })
}

/// Decodes `%XX` and `+` in a query value.
fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of query parameter `key`.
fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| unescape(v))
}

/// The response to one request (pure over the state; public for tests). `target` is the
/// path with its query.
pub fn respond(state: &HttpState, method: &Method, target: &str) -> Response<Full<Bytes>> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != Method::GET && method != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
    }
    match path {
        "/" | "/index.html" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            crate::dashboard::INDEX_HTML.to_string(),
        ),
        "/api/state" => reply(
            StatusCode::OK,
            "application/json",
            state_json(state).to_string(),
        ),
        "/api/asset" => match query_param(query, "id") {
            Some(id) => {
                let h = state
                    .dashboard
                    .lock()
                    .map(|d| d.history(&id))
                    .unwrap_or_default();
                reply(StatusCode::OK, "application/json", h.to_string())
            }
            None => reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "/api/asset needs ?id=ASSET\n".into(),
            ),
        },
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            if state.gauges().ready {
                reply(StatusCode::OK, "text/plain", "ready\n".into())
            } else {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "not ready: restoring state or waiting for partitions\n".into(),
                )
            }
        }
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            crate::prometheus::render_all(
                &state.stats.snapshot(),
                &state.gauges(),
                &crate::prometheus::Detail::of(&state.stats),
            ),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found (try /, /api/state, /healthz, /readyz, /metrics)\n".into(),
        ),
    }
}

/// Binds `addr` and serves until the runtime stops; returns the bound address (port 0 picks
/// a free one).
pub async fn serve(addr: SocketAddr, state: HttpState) -> Result<SocketAddr, PipelineError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| PipelineError::Data(format!("HTTP server cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| PipelineError::Data(format!("HTTP server: {e}")))?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    let r = respond(&state, req.method(), target);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let s = HttpState::new(Arc::new(JobStats::new()));
        assert_eq!(
            respond(&s, &Method::GET, "/healthz").status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&s, &Method::GET, "/readyz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        s.publish(|g| g.ready = true);
        assert_eq!(
            respond(&s, &Method::GET, "/readyz").status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&s, &Method::GET, "/metrics").status(),
            StatusCode::OK
        );
        assert_eq!(respond(&s, &Method::GET, "/").status(), StatusCode::OK);
        assert_eq!(
            respond(&s, &Method::GET, "/api/state").status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&s, &Method::GET, "/api/asset").status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            query_param("a=1&id=pump%2D7+x", "id").as_deref(),
            Some("pump-7 x")
        );
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(
            respond(&s, &Method::GET, "/nope").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&s, &Method::POST, "/metrics").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[tokio::test]
    async fn serves_over_tcp() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stats = Arc::new(JobStats::new());
        stats.record_decoded(7, &[]);
        let addr = serve("127.0.0.1:0".parse().expect("addr"), HttpState::new(stats))
            .await
            .expect("listen");
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut body = String::new();
        c.read_to_string(&mut body).await.expect("read");
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("vigil_readings_total 7"), "{body}");
    }
}
