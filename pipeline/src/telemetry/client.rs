//! The blocking HTTP/1.1 client the OTLP exporters post with.
//!
//! The SDK exports from its own threads (`PeriodicReader`, `BatchSpanProcessor`) and drives the
//! exporter's future with `block_on`, so a client that blocks on `std::net` is correct there and
//! spares the dependency on reqwest. Plain `http://` only: OTLP goes to a local collector.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use opentelemetry_http::{Bytes, HttpError, Request, Response};

/// Posts one request per connection (`Connection: close`) with a timeout on every step.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    /// Connect, write and read timeout.
    pub timeout: Duration,
}

/// Largest response accepted (OTLP replies are tiny).
const MAX_RESPONSE: u64 = 1 << 20;

impl BlockingClient {
    /// Sends `req` and reads the whole response.
    pub fn send(&self, req: &Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = req.uri();
        if uri.scheme_str().is_some_and(|s| s != "http") {
            return Err(format!("{uri}: only http:// endpoints are supported").into());
        }
        let host = uri.host().ok_or_else(|| format!("{uri}: no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| format!("{host}: does not resolve"))?;
        let mut s = TcpStream::connect_timeout(&addr, self.timeout)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
            req.method(),
            req.body().len()
        );
        for (k, v) in req.headers() {
            if k == "content-length" || k == "host" || k == "connection" {
                continue;
            }
            head.push_str(&format!("{k}: {}\r\n", v.to_str()?));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        s.write_all(req.body())?;
        let mut buf = Vec::new();
        s.take(MAX_RESPONSE).read_to_end(&mut buf)?;
        parse_response(&buf)
    }
}

/// Parses an HTTP/1.1 response read to the end of the connection.
fn parse_response(buf: &[u8]) -> Result<Response<Bytes>, HttpError> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the response has no end of headers")?;
    let head = std::str::from_utf8(&buf[..end])?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .ok_or("the response has no status")?
        .parse()?;
    let body = Bytes::copy_from_slice(&buf[end + 4..]);
    Ok(Response::builder().status(status).body(body)?)
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for BlockingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.send(&request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.body().as_ref(), b"{}");
        let r = parse_response(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").unwrap();
        assert_eq!(r.status(), 503);
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn refuses_https_and_unreachable_hosts() {
        let c = BlockingClient {
            timeout: Duration::from_millis(500),
        };
        let req = Request::builder()
            .method("POST")
            .uri("https://127.0.0.1:1/v1/metrics")
            .body(Bytes::new())
            .unwrap();
        assert!(c.send(&req).unwrap_err().to_string().contains("http://"));
        // port 1 on loopback: nothing listens, the connect is refused
        let req = Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:1/v1/metrics")
            .body(Bytes::new())
            .unwrap();
        assert!(c.send(&req).is_err());
    }
}
