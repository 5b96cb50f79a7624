//! `GET /metrics` for Prometheus on `[metrics] listen`: a small HTTP/1.1
//! responder (one request per connection, RFC 9112 section 9.6 `close`),
//! bounded in connections, request size and time, so a scraper or a
//! scanner cannot hold the gateway's memory or tasks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// The largest request head read.
const MAX_REQUEST: usize = 8192;
/// How long a request may take to arrive and its answer to be written.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `listen` and serves `/metrics` from `metrics` until serve exits.
pub async fn serve_metrics(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let open = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                continue; // dropped: closed
            }
            open.fetch_add(1, Ordering::Relaxed);
            let (metrics, open) = (metrics.clone(), open.clone());
            tokio::spawn(async move {
                let _ = tokio::time::timeout(TIMEOUT, answer(stream, &metrics)).await;
                open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    Ok(bound)
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
            )
            .await;
        }
    }
    let request_line = String::from_utf8_lossy(&head);
    let mut parts = request_line.lines().next().unwrap_or_default().split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => {
            let body = metrics.render();
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4", &body).await
        }
        (Some("GET"), Some(_)) => {
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                "only /metrics is here\n",
            )
            .await
        }
        _ => {
            respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "send GET /metrics\n",
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    }

    #[tokio::test]
    async fn metrics_are_served_and_anything_else_gets_a_4xx() {
        let addr = serve_metrics("127.0.0.1:0".parse().unwrap(), Arc::default())
            .await
            .unwrap();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("voicegate_calls_answered_total 0"), "{ok}");
        let missing = exchange(addr, b"GET /admin HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let junk = exchange(addr, b"\x16\x03\x01 hello\r\n\r\n").await;
        assert!(junk.starts_with("HTTP/1.1 400"), "{junk}");
        // Past the limit, all of it read by the time the answer goes.
        let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        huge.resize(9000, b'a');
        let refused = exchange(addr, &huge).await;
        assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
    }
}
