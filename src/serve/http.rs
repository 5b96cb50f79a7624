//! The small HTTP/1.1 listeners of `serve`: `GET /metrics` for Prometheus
//! on `[metrics] listen`, and the dashboard with its JSON API and live
//! event stream on `[http] listen`. One request per connection (RFC 9112
//! section 9.6 `close`); bounded in connections, request size and time, so
//! a scraper, a browser or a scanner cannot hold the gateway's memory or
//! tasks. An event stream holds its connection, and counts toward the bound.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

use super::agents::{AgentDesk, AgentSession};
use super::webrtc::{DoorError, WebRtcDoor};
use crate::dashboard::LiveCalls;
use crate::metrics::Metrics;
use crate::store::{HealthReport, ListFilter, Store, Thresholds};

/// Connections served at once (event streams included); more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// The largest request head read.
const MAX_REQUEST: usize = 8192;
/// The largest request body read (a browser's offer is a few KB of SDP).
const MAX_BODY: usize = 32_768;
/// How long a request may take to arrive and each part of its answer to be written.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Open reviews listed on the dashboard (the oldest due first).
const REVIEWS_LISTED: usize = 200;
/// The longest note a reviewer may leave.
const MAX_NOTE: usize = 500;
/// The dashboard page, served from the binary.
const PAGE: &str = include_str!("../dashboard/page.html");
/// The browser caller's page.
const PHONE: &str = include_str!("../dashboard/phone.html");
/// The page of an agent who answers in the browser.
const AGENT: &str = include_str!("../dashboard/agent.html");
/// What those two pages share, put in each as it is served (a script of
/// its own would need the token too).
const BROWSER_JS: &str = include_str!("../dashboard/browser.js");
/// An event stream with nothing to say says so this often, so that a
/// reader gone without closing is found out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A request's line, as far as these listeners care.
struct Request {
    method: String,
    path: String,
    /// What follows `?` in the target.
    query: String,
    /// `token=…` from the query, or a `Authorization: Bearer …` header.
    token: Option<String>,
    content_length: usize,
    body: Vec<u8>,
    /// Who sent it.
    peer: SocketAddr,
}

enum Reply {
    Full {
        status: &'static str,
        content_type: &'static str,
        body: String,
    },
    /// Server-sent events (text/event-stream), one JSON line each.
    Events(Feed),
    /// A file sent as it is read (a call's recording).
    File {
        path: std::path::PathBuf,
        content_type: &'static str,
    },
}

impl Reply {
    fn text(status: &'static str, body: &str) -> Reply {
        Reply::Full {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
        }
    }

    fn html(body: &str) -> Reply {
        Reply::Full {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            body: body.to_string(),
        }
    }

    fn json(body: serde_json::Value) -> Reply {
        Reply::Full {
            status: "200 OK",
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

/// What an event stream carries.
enum Feed {
    /// Every call's events.
    Calls(broadcast::Receiver<String>),
    /// A signed-in agent page's rings; dropping it signs the page out.
    Agent(AgentSession),
}

impl Feed {
    /// The next message of the stream, `None` once it is over.
    async fn next(&mut self) -> Option<String> {
        match self {
            Feed::Calls(events) => match events.recv().await {
                Ok(line) => Some(format!("data: {line}\n\n")),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Some(format!(": {missed} events skipped\n\n"))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            Feed::Agent(session) => session.next().await.map(|line| format!("data: {line}\n\n")),
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Reply> + Send>>;
type Handler = Arc<dyn Fn(Request) -> Answer + Send + Sync>;

/// Binds `listen` and serves `/metrics` from `metrics` until serve exits.
pub async fn serve_metrics(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<SocketAddr> {
    let handler: Handler = Arc::new(move |request: Request| {
        let reply = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/metrics") => Reply::Full {
                status: "200 OK",
                content_type: "text/plain; version=0.0.4",
                body: metrics.render(),
            },
            ("GET", _) => Reply::text("404 Not Found", "only /metrics is here\n"),
            _ => Reply::text("400 Bad Request", "send GET /metrics\n"),
        };
        Box::pin(async move { reply })
    });
    serve(listen, handler).await
}

/// What the dashboard shows and where it reads it.
pub struct Dashboard {
    pub live: Arc<LiveCalls>,
    pub store: Arc<Store>,
    pub repeat_window: Duration,
    pub thresholds: Thresholds,
    /// Required of every request when set (`[http] token`).
    pub token: Option<String>,
    /// Takes browsers' calls, when `[http] webrtc` is on.
    pub door: Option<WebRtcDoor>,
    /// Rings the agent pages.
    pub agent_desk: Arc<AgentDesk>,
}

/// Binds `listen` and serves the dashboard (`/`), `GET /api/calls`,
/// `GET /api/report` and the event stream `GET /api/events`.
pub async fn serve_dashboard(
    listen: SocketAddr,
    dashboard: Arc<Dashboard>,
) -> std::io::Result<SocketAddr> {
    let handler: Handler = Arc::new(move |request: Request| {
        let dashboard = dashboard.clone();
        Box::pin(async move { dashboard.answer(request).await })
    });
    serve(listen, handler).await
}

impl Dashboard {
    async fn answer(&self, request: Request) -> Reply {
        if self.token.is_some() && request.token != self.token {
            return Reply::text(
                "401 Unauthorized",
                "give the [http] token: ?token=… or Authorization: Bearer …\n",
            );
        }
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => self.page().await,
            ("GET", "/phone") => Reply::html(&PHONE.replace("/*SHARED*/", BROWSER_JS)),
            ("GET", "/agent") => Reply::html(&AGENT.replace("/*SHARED*/", BROWSER_JS)),
            ("GET", "/api/agent/events") => self.sign_in(&request),
            ("GET", "/api/agents") => Reply::json(self.agent_desk.json()),
            ("GET", "/api/calls") => Reply::json(self.live.json()),
            ("GET", "/api/events") => Reply::Events(Feed::Calls(self.live.subscribe())),
            ("GET", "/api/report") => self.report().await,
            ("GET", "/api/reviews") => self.reviews().await,
            ("POST", "/api/reviews") => self.record_verdict(&request.body).await,
            ("GET", path) if path.starts_with("/recordings/") => self.recording(path).await,
            ("POST", path) if path.starts_with("/api/webrtc/") => self.browser(request).await,
            ("POST", path) if path.starts_with("/api/agent/") => self.agent(request).await,
            ("GET", _) => Reply::text(
                "404 Not Found",
                "here: /, /phone, /agent?queue=NAME, /api/calls, /api/agents, /api/report, /api/events, /api/reviews, /recordings/CALL-ID\n",
            ),
            _ => Reply::text(
                "405 Method Not Allowed",
                "only GET is served here, and POST to /api/reviews, /api/webrtc/offer, /dtmf and /hangup, /api/agent/answer and /hangup\n",
            ),
        }
    }

    /// The browser caller's requests, each a small JSON object.
    async fn browser(&self, request: Request) -> Reply {
        let (door, body) = match self.door_and_body(&request) {
            Ok(both) => both,
            Err(refusal) => return refusal,
        };
        let field = |name: &str| body.get(name).and_then(serde_json::Value::as_str);
        match (request.path.as_str(), field("sdp"), field("call")) {
            ("/api/webrtc/offer", Some(sdp), _) => {
                let caller = browser_caller(field("caller"), request.peer);
                match door.answer(sdp.to_string(), caller, request.peer).await {
                    Ok(answer) => Reply::json(serde_json::json!({"call": answer.call, "sdp": answer.sdp})),
                    Err(error) => door_refusal(&error),
                }
            }
            ("/api/webrtc/dtmf", _, Some(call)) => match field("digit").and_then(one_key) {
                Some(digit) => {
                    door.dtmf(call.to_string(), digit);
                    Reply::json(serde_json::json!({"ok": true}))
                }
                None => Reply::text("400 Bad Request", "digit must be one of 0-9, * and #\n"),
            },
            ("/api/webrtc/hangup", _, Some(call)) => {
                door.hang_up(call.to_string());
                Reply::json(serde_json::json!({"ok": true}))
            }
            _ => Reply::text(
                "400 Bad Request",
                "POST /api/webrtc/offer {\"sdp\": …}, /api/webrtc/dtmf {\"call\": …, \"digit\": …} or /api/webrtc/hangup {\"call\": …}\n",
            ),
        }
    }

    /// The browsers' front door, if it is open, and a POST's JSON object.
    fn door_and_body(&self, request: &Request) -> Result<(&WebRtcDoor, serde_json::Value), Reply> {
        let door = self.door.as_ref().ok_or_else(door_closed)?;
        match serde_json::from_slice::<serde_json::Value>(&request.body) {
            Ok(body) if body.is_object() => Ok((door, body)),
            _ => Err(Reply::text("400 Bad Request", "send a JSON object\n")),
        }
    }

    /// An agent page's event stream: the page is signed in to its queue
    /// while the stream is open.
    fn sign_in(&self, request: &Request) -> Reply {
        if self.door.is_none() {
            return door_closed();
        }
        let queue = query_value(&request.query, "queue").and_then(|q| percent_decode(&q));
        match queue.filter(|queue| !queue.is_empty() && queue.len() <= 64) {
            Some(queue) => Reply::Events(Feed::Agent(self.agent_desk.sign_in(&queue))),
            None => Reply::text(
                "400 Bad Request",
                "name the queue: /api/agent/events?queue=NAME\n",
            ),
        }
    }

    /// An agent page's answer (its WebRTC offer) and hang-up.
    async fn agent(&self, request: Request) -> Reply {
        let (door, body) = match self.door_and_body(&request) {
            Ok(both) => both,
            Err(refusal) => return refusal,
        };
        let field = |name: &str| body.get(name).and_then(serde_json::Value::as_str);
        match (request.path.as_str(), field("call"), field("sdp")) {
            ("/api/agent/answer", Some(call), Some(sdp)) => {
                let answered = door
                    .answer_agent(sdp.to_string(), call, request.peer, &self.agent_desk)
                    .await;
                match answered {
                    Ok(sdp) => Reply::json(serde_json::json!({"call": call, "sdp": sdp})),
                    Err(error) => door_refusal(&error),
                }
            }
            ("/api/agent/hangup", Some(call), _) => {
                self.agent_desk.hang_up(call);
                Reply::json(serde_json::json!({"ok": true}))
            }
            _ => Reply::text(
                "400 Bad Request",
                "POST /api/agent/answer {\"call\": …, \"sdp\": …} or /api/agent/hangup {\"call\": …}\n",
            ),
        }
    }

    /// The dashboard with the calls up and the rates in it, so that its
    /// first picture needs no second request.
    async fn page(&self) -> Reply {
        let report = match self.report().await {
            Reply::Full { body, .. } => serde_json::from_str(&body).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        let reviews = match self.reviews().await {
            Reply::Full { body, .. } => serde_json::from_str(&body).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        let initial =
            serde_json::json!({"calls": self.live.json(), "report": report, "reviews": reviews});
        // Inside <script>, a "</script>" in a caller's name must not end it.
        let initial = initial.to_string().replace('<', "\\u003c");
        Reply::html(&PAGE.replace("/*INITIAL*/", &initial))
    }

    /// The last 24 hours' rates, as `voicegate report --json`.
    async fn report(&self) -> Reply {
        let (window, thresholds) = (self.repeat_window, self.thresholds);
        let day = Duration::from_secs(86_400);
        self.with_store(move |store| HealthReport::recent(store, day, window, thresholds))
            .await
            .map_or_else(|reply| reply, |report| Reply::json(report.json()))
    }

    /// The transfers QA has still to look at, oldest due first, each with
    /// where its recording plays from.
    async fn reviews(&self) -> Reply {
        let due = ListFilter {
            due_only: true,
            ..ListFilter::default()
        };
        let listed = self.with_store(move |store| store.list(&due)).await;
        let mut records = match listed {
            Ok(records) => records,
            Err(reply) => return reply,
        };
        records.sort_by(|a, b| a.review_due.cmp(&b.review_due));
        let rows = records.iter().take(REVIEWS_LISTED).map(|record| {
            let mut row = serde_json::to_value(record).unwrap_or_default();
            let playable = record
                .recording
                .as_ref()
                .map(|_| format!("recordings/{}", percent_encode(&record.id)));
            row["recording_url"] = serde_json::json!(playable);
            row
        });
        Reply::json(serde_json::Value::Array(rows.collect()))
    }

    /// QA's verdict from the page: `{"id", "verdict": "ok"|"flagged", "note"}`.
    async fn record_verdict(&self, body: &[u8]) -> Reply {
        let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let field = |name: &str| {
            body.get(name)
                .and_then(serde_json::Value::as_str)
                .map(String::from)
        };
        let (Some(id), Some(verdict)) = (field("id"), field("verdict")) else {
            return Reply::text(
                "400 Bad Request",
                "send {\"id\": CALL-ID, \"verdict\": \"ok\" or \"flagged\", \"note\": …}\n",
            );
        };
        let note = field("note").filter(|note| !note.is_empty());
        if !["ok", "flagged"].contains(&verdict.as_str())
            || note.as_ref().is_some_and(|n| n.len() > MAX_NOTE)
        {
            return Reply::text(
                "400 Bad Request",
                "verdict is \"ok\" or \"flagged\", a note at most 500 bytes\n",
            );
        }
        let found = self
            .with_store(move |store| store.review(&id, &verdict, note.as_deref()))
            .await;
        match found {
            Ok(true) => Reply::json(serde_json::json!({"ok": true})),
            Ok(false) => Reply::text("404 Not Found", "no such call in the store\n"),
            Err(reply) => reply,
        }
    }

    /// A call's recording, found through its record (never a path from the request).
    async fn recording(&self, path: &str) -> Reply {
        let Some(id) = path.strip_prefix("/recordings/").and_then(percent_decode) else {
            return Reply::text(
                "400 Bad Request",
                "give /recordings/CALL-ID, percent-encoded\n",
            );
        };
        let record = self.with_store(move |store| store.get(&id)).await;
        match record.map(|record| record.and_then(|record| record.recording)) {
            Ok(Some(path)) if std::path::Path::new(&path).is_file() => Reply::File {
                path: path.into(),
                content_type: "audio/wav",
            },
            Ok(Some(_)) => Reply::text(
                "410 Gone",
                "the recording is no longer kept (recording.retention_days)\n",
            ),
            Ok(None) => Reply::text("404 Not Found", "no recording of such a call\n"),
            Err(reply) => reply,
        }
    }

    /// Runs a store query off the async threads; a failure is the reply.
    async fn with_store<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, Reply> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || query(&store)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(Reply::text(
                "503 Service Unavailable",
                &format!("the store: {error}\n"),
            )),
            Err(_) => Err(Reply::text(
                "500 Internal Server Error",
                "the store query failed\n",
            )),
        }
    }
}

async fn serve(listen: SocketAddr, handler: Handler) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let open = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                continue; // dropped: closed
            }
            open.fetch_add(1, Ordering::Relaxed);
            let (handler, open) = (handler.clone(), open.clone());
            tokio::spawn(async move {
                let _ = connection(stream, &handler).await;
                open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    Ok(bound)
}

async fn connection(mut stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    let reply = match tokio::time::timeout(TIMEOUT, read_request(&mut stream, peer)).await {
        Ok(Ok(Some(Ok(request)))) => handler(request).await,
        Ok(Ok(Some(Err(refusal)))) => refusal,
        Ok(Ok(None)) | Err(_) => return Ok(()),
        Ok(Err(error)) => return Err(error),
    };
    match reply {
        Reply::Full {
            status,
            content_type,
            body,
        } => {
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            tokio::time::timeout(TIMEOUT, stream.write_all(response.as_bytes())).await??;
            stream.shutdown().await
        }
        Reply::Events(events) => stream_events(stream, events).await,
        Reply::File { path, content_type } => send_file(stream, &path, content_type).await,
    }
}

/// Reads the request head and body; `None` if the peer closed first, a
/// refusal for one too large or not HTTP.
async fn read_request(
    stream: &mut TcpStream,
    peer: SocketAddr,
) -> std::io::Result<Option<Result<Request, Reply>>> {
    let mut read = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        read.extend_from_slice(&chunk[..n]);
        if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if read.len() > MAX_REQUEST {
            let refusal = Reply::text("431 Request Header Fields Too Large", "request too large\n");
            return Ok(Some(Err(refusal)));
        }
    };
    let mut request = match parse_head(&String::from_utf8_lossy(&read[..head_end]), peer) {
        Ok(request) => request,
        Err(refusal) => return Ok(Some(Err(refusal))),
    };
    if request.content_length > MAX_BODY {
        let refusal = Reply::text(
            "413 Content Too Large",
            "a request body is at most 32 KiB\n",
        );
        return Ok(Some(Err(refusal)));
    }
    let mut body = read.split_off(head_end);
    while body.len() < request.content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(request.content_length);
    request.body = body;
    Ok(Some(Ok(request)))
}

fn parse_head(head: &str, peer: SocketAddr) -> Result<Request, Reply> {
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Reply::text("400 Bad Request", "not an HTTP request\n"));
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(Reply::text("400 Bad Request", "not an HTTP/1.x request\n"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let from_query = query_value(query, "token");
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name, value.trim()))
        .collect();
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| *value)
    };
    let from_header = header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(String::from);
    let content_length = match header("content-length").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(length)) => length,
        Some(Err(_)) => {
            return Err(Reply::text(
                "400 Bad Request",
                "Content-Length is not a number\n",
            ))
        }
    };
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        token: from_query.or(from_header),
        content_length,
        body: Vec::new(),
        peer,
    })
}

fn door_closed() -> Reply {
    Reply::text("404 Not Found", "browser calls are off ([http] webrtc)\n")
}

/// Why the browsers' front door refused an offer, as an HTTP status.
fn door_refusal(error: &DoorError) -> Reply {
    let status = match error {
        DoorError::Full(_) => "503 Service Unavailable",
        DoorError::BadOffer(_) => "400 Bad Request",
        DoorError::NotRinging(_) => "409 Conflict",
        DoorError::Failed(_) => "500 Internal Server Error",
    };
    Reply::text(status, &format!("{error}\n"))
}

/// `name`'s value in a query string, still percent-encoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// A browser caller's name for the records: what the page gave (letters,
/// digits, `+-_.@` only, at most 32), else `browser:` and its address.
fn browser_caller(given: Option<&str>, peer: SocketAddr) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+-_.@".contains(c);
    match given {
        Some(name) if !name.is_empty() && name.len() <= 32 && name.chars().all(allowed) => {
            name.to_string()
        }
        _ => format!("browser:{}", peer.ip()),
    }
}

/// A key of the phone pad (RFC 4733 section 3.2 events 0–11).
fn one_key(digit: &str) -> Option<char> {
    let mut chars = digit.chars();
    match (chars.next(), chars.next()) {
        (Some(key), None) if key.is_ascii_digit() || key == '*' || key == '#' => Some(key),
        _ => None,
    }
}

/// A file in chunks, each written within [`TIMEOUT`]: a recording of a long
/// call is never held in memory whole.
async fn send_file(
    mut stream: TcpStream,
    path: &std::path::Path,
    content_type: &str,
) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n");
    tokio::time::timeout(TIMEOUT, stream.write_all(head.as_bytes())).await??;
    let mut chunk = vec![0u8; 65_536];
    loop {
        let n = file.read(&mut chunk).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        tokio::time::timeout(TIMEOUT, stream.write_all(&chunk[..n])).await??;
    }
}

/// A call id as a URL path segment (RFC 3986 section 2.1): everything but
/// the unreserved characters and `@` percent-encoded.
fn percent_encode(id: &str) -> String {
    id.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The inverse of [`percent_encode`]; `None` for a bad escape or non-UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// Server-sent events until the reader goes away (it closes, or stops
/// reading); a reader too slow for the backlog of call events skips ahead
/// and is told how many it missed.
async fn stream_events(stream: TcpStream, mut feed: Feed) -> std::io::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n: voicegate events\n\n";
    tokio::time::timeout(TIMEOUT, writer.write_all(head.as_bytes())).await??;
    let mut ignored = [0u8; 256];
    loop {
        let message = tokio::select! {
            message = feed.next() => match message {
                Some(message) => message,
                None => return Ok(()),
            },
            _ = tokio::time::sleep(KEEP_ALIVE) => ": still here\n\n".to_string(),
            // A browser sends nothing more on an event stream: a read ends
            // only when the page has gone (closed, or reset).
            read = reader.read(&mut ignored) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => continue,
            },
        };
        // A reader that stops reading is let go rather than held for ever.
        tokio::time::timeout(TIMEOUT, writer.write_all(message.as_bytes())).await??;
    }
}

#[cfg(test)]
mod tests {
    use super::super::webrtc::FromBrowser;
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

    fn dashboard(dir: &std::path::Path, token: Option<&str>) -> Arc<Dashboard> {
        let url =
            crate::store::StoreUrl::parse(&format!("sqlite:{}", dir.join("db").display())).unwrap();
        let live: Arc<LiveCalls> = Arc::default();
        Arc::new(Dashboard {
            agent_desk: AgentDesk::new(live.clone(), super::super::agents::RING_FOR),
            live,
            store: Arc::new(Store::open(&url).unwrap()),
            repeat_window: Duration::from_secs(7 * 86_400),
            thresholds: crate::config::GatewayConfig::embedded().alarm_thresholds(),
            token: token.map(String::from),
            door: None,
        })
    }

    #[tokio::test]
    async fn the_dashboard_serves_its_page_calls_report_and_a_live_event_stream() {
        use crate::callcore::{CallEvent, EventKind, EventSink};
        let dir = tempfile::tempdir().unwrap();
        let board = dashboard(dir.path(), None);
        let addr = serve_dashboard("127.0.0.1:0".parse().unwrap(), board.clone())
            .await
            .unwrap();
        let page = exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(
            page.contains("Content-Type: text/html") && page.contains("EventSource"),
            "{page}"
        );
        let calls = exchange(addr, b"GET /api/calls HTTP/1.1\r\n\r\n").await;
        assert!(calls.ends_with("\r\n\r\n[]"), "{calls}");
        let report = exchange(addr, b"GET /api/report HTTP/1.1\r\n\r\n").await;
        assert!(
            report.contains("\"session_break_rate\":{\"value\":0.0,\"count\":0,\"threshold\":0.15"),
            "{report}"
        );
        let mut events = TcpStream::connect(addr).await.unwrap();
        events
            .write_all(b"GET /api/events HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut head = vec![0u8; 256];
        let n = events.read(&mut head).await.unwrap();
        assert!(String::from_utf8_lossy(&head[..n]).contains("text/event-stream"));
        let anger = CallEvent {
            at: Duration::from_secs(3),
            kind: EventKind::Heard(crate::engine::Input::Anger { score: 91.0 }),
        };
        board.live.publish(Some("c@h"), &anger);
        let mut line = vec![0u8; 256];
        let n = tokio::time::timeout(TIMEOUT, events.read(&mut line))
            .await
            .unwrap()
            .unwrap();
        let line = String::from_utf8_lossy(&line[..n]);
        assert!(
            line.starts_with("data: {")
                && line.contains("\"score\":91.0")
                && line.contains("\"call_id\":\"c@h\""),
            "{line}"
        );
        let posted = exchange(addr, b"POST /api/calls HTTP/1.1\r\n\r\n").await;
        assert!(posted.starts_with("HTTP/1.1 405"), "{posted}");
        let nonsense = exchange(addr, b"GET api/calls\r\n\r\n").await;
        assert!(nonsense.starts_with("HTTP/1.1 400"), "{nonsense}");
    }

    #[test]
    fn call_ids_survive_a_url_path_and_bad_escapes_are_refused() {
        let id = "a7/b%c d@10.0.0.1";
        assert_eq!(percent_encode(id), "a7%2Fb%25c%20d@10.0.0.1");
        assert_eq!(percent_decode(&percent_encode(id)).as_deref(), Some(id));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    /// A browser's offer, made by webrtc-rs as a page's RTCPeerConnection would.
    async fn browser_offer() -> String {
        use webrtc::api::media_engine::MediaEngine;
        use webrtc::rtp_transceiver::rtp_codec::RTPCodecType;
        let mut media = MediaEngine::default();
        media.register_default_codecs().unwrap();
        let api = webrtc::api::APIBuilder::new()
            .with_media_engine(media)
            .build();
        let page = api.new_peer_connection(Default::default()).await.unwrap();
        page.add_transceiver_from_kind(RTPCodecType::Audio, None)
            .await
            .unwrap();
        let offer = page.create_offer(None).await.unwrap();
        let mut gathered = page.gathering_complete_promise().await;
        page.set_local_description(offer).await.unwrap();
        let _ = gathered.recv().await;
        page.local_description().await.unwrap().sdp
    }

    fn post(path: &str, body: &str) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn a_browser_offer_is_answered_with_pcmu_and_its_call_handed_to_signalling() {
        let dir = tempfile::tempdir().unwrap();
        let (to_signalling, mut from_browsers) = tokio::sync::mpsc::unbounded_channel();
        let mut board = Arc::into_inner(dashboard(dir.path(), None)).unwrap();
        board.door = Some(WebRtcDoor::new(to_signalling, 1, true, board.live.clone()).unwrap());
        let addr = serve_dashboard("127.0.0.1:0".parse().unwrap(), Arc::new(board))
            .await
            .unwrap();
        let page = exchange(addr, b"GET /phone HTTP/1.1\r\n\r\n").await;
        assert!(page.contains("RTCPeerConnection"), "{page}");
        let offer = serde_json::json!({"sdp": browser_offer().await, "caller": "tester"});
        let reply = exchange(addr, &post("/api/webrtc/offer", &offer.to_string())).await;
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        let answer: serde_json::Value =
            serde_json::from_str(reply.split_once("\r\n\r\n").unwrap().1).unwrap();
        let sdp = answer["sdp"].as_str().unwrap();
        assert!(
            sdp.contains("a=rtpmap:0 PCMU/8000") && !sdp.contains("opus"),
            "{sdp}"
        );
        assert!(
            sdp.contains("a=fingerprint:sha-256") && sdp.contains("a=candidate:"),
            "{sdp}"
        );
        let Some(FromBrowser::Answered(call)) = from_browsers.recv().await else {
            panic!("signalling was not handed the call");
        };
        assert_eq!(call.setup.id, answer["call"].as_str().unwrap());
        assert_eq!(call.setup.who.caller, "tester");
        // One browser call is the limit here: the next offer gets 503 at once.
        let again = exchange(addr, &post("/api/webrtc/offer", &offer.to_string())).await;
        assert!(again.starts_with("HTTP/1.1 503"), "{again}");
        let keys = serde_json::json!({"call": answer["call"], "digit": "5"}).to_string();
        assert!(exchange(addr, &post("/api/webrtc/dtmf", &keys))
            .await
            .starts_with("HTTP/1.1 200"));
        assert!(matches!(
            from_browsers.recv().await,
            Some(FromBrowser::Dtmf { digit: '5', .. })
        ));
        drop(call);
    }

    /// Reads an event stream until `wanted` has come (5 s at most).
    async fn read_until(stream: &mut TcpStream, wanted: &str) -> String {
        let mut read = String::new();
        let mut chunk = [0u8; 1024];
        while !read.contains(wanted) {
            let n = tokio::time::timeout(TIMEOUT, stream.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("no {wanted} in: {read}"))
                .unwrap();
            assert!(n > 0, "the stream closed before {wanted}: {read}");
            read.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        read
    }

    #[tokio::test]
    async fn an_agent_page_signs_in_by_its_stream_answers_a_ringing_call_and_leaves_by_closing_it()
    {
        use super::super::agents::AgentNews;
        let dir = tempfile::tempdir().unwrap();
        let (to_signalling, _from_browsers) = tokio::sync::mpsc::unbounded_channel();
        let mut board = Arc::into_inner(dashboard(dir.path(), None)).unwrap();
        board.door = Some(WebRtcDoor::new(to_signalling, 4, true, board.live.clone()).unwrap());
        let desk = board.agent_desk.clone();
        let addr = serve_dashboard("127.0.0.1:0".parse().unwrap(), Arc::new(board))
            .await
            .unwrap();
        let page = exchange(addr, b"GET /agent?queue=desk HTTP/1.1\r\n\r\n").await;
        assert!(page.contains("api/agent/events"), "{page}");
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let sign_in = b"GET /api/agent/events?queue=desk HTTP/1.1\r\n\r\n";
        stream.write_all(sign_in).await.unwrap();
        read_until(&mut stream, r#""event":"ready""#).await;
        let listed = exchange(addr, b"GET /api/agents HTTP/1.1\r\n\r\n").await;
        assert!(
            listed.ends_with(r#"[{"queue":"desk","call":null,"talking":false}]"#),
            "{listed}"
        );

        let answer = serde_json::json!({"call": "c1", "sdp": browser_offer().await}).to_string();
        let early = exchange(addr, &post("/api/agent/answer", &answer)).await;
        assert!(
            early.starts_with("HTTP/1.1 409") && early.contains("not ringing"),
            "{early}"
        );
        let (to_call, mut news) = tokio::sync::mpsc::unbounded_channel();
        assert!(desk.ring("desk", "c1", to_call));
        read_until(&mut stream, r#""event":"ring""#).await;
        let reply = exchange(addr, &post("/api/agent/answer", &answer)).await;
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.contains("PCMU/8000"),
            "{reply}"
        );
        assert!(matches!(news.recv().await, Some(AgentNews::Answered(_))));

        drop(stream);
        let left = tokio::time::timeout(TIMEOUT, news.recv()).await;
        assert!(
            matches!(left, Ok(Some(AgentNews::HungUp))),
            "the call hears its agent's page has gone"
        );
        let listed = exchange(addr, b"GET /api/agents HTTP/1.1\r\n\r\n").await;
        assert!(listed.ends_with("\r\n\r\n[]"), "{listed}");
    }

    #[tokio::test]
    async fn bad_browser_and_review_requests_get_a_4xx_that_says_what_to_send() {
        let dir = tempfile::tempdir().unwrap();
        let (to_signalling, _from_browsers) = tokio::sync::mpsc::unbounded_channel();
        let mut board = Arc::into_inner(dashboard(dir.path(), None)).unwrap();
        board.door = Some(WebRtcDoor::new(to_signalling, 4, true, board.live.clone()).unwrap());
        let addr = serve_dashboard("127.0.0.1:0".parse().unwrap(), Arc::new(board))
            .await
            .unwrap();
        let cases = [
            (
                post("/api/webrtc/offer", "{not json"),
                "400",
                "send a JSON object",
            ),
            (
                post("/api/webrtc/offer", r#"{"sdp": "v=0 nonsense"}"#),
                "400",
                "the offer was refused",
            ),
            (
                post("/api/webrtc/offer", r#"{"offer": 1}"#),
                "400",
                "POST /api/webrtc/offer",
            ),
            (
                post("/api/webrtc/dtmf", r#"{"call": "x", "digit": "55"}"#),
                "400",
                "0-9, * and #",
            ),
            (
                post("/api/webrtc/offer", &"x".repeat(40_000)),
                "413",
                "32 KiB",
            ),
            (
                b"POST /api/webrtc/offer HTTP/1.1\r\nContent-Length: lots\r\n\r\n".to_vec(),
                "400",
                "Content-Length",
            ),
            (post("/api/calls", "{}"), "405", "only GET"),
            (
                post("/api/agent/answer", r#"{"sdp": "x"}"#),
                "400",
                "/api/agent/answer {",
            ),
            (
                b"GET /api/agent/events HTTP/1.1\r\n\r\n".to_vec(),
                "400",
                "name the queue",
            ),
            (post("/api/reviews", r#"{"id": "x"}"#), "400", "send {"),
            (
                post("/api/reviews", r#"{"id": "x", "verdict": "meh"}"#),
                "400",
                "\"ok\" or \"flagged\"",
            ),
            (
                post("/api/reviews", r#"{"id": "nobody", "verdict": "ok"}"#),
                "404",
                "no such call",
            ),
            (
                b"GET /recordings/nobody%40host HTTP/1.1\r\n\r\n".to_vec(),
                "404",
                "no recording",
            ),
            (
                b"GET /recordings/%zz HTTP/1.1\r\n\r\n".to_vec(),
                "400",
                "percent-encoded",
            ),
        ];
        for (request, status, says) in cases {
            let reply = exchange(addr, &request).await;
            assert!(
                reply.starts_with(&format!("HTTP/1.1 {status}")) && reply.contains(says),
                "{}: {reply}",
                String::from_utf8_lossy(&request[..40.min(request.len())])
            );
        }
    }

    #[tokio::test]
    async fn with_a_token_set_nothing_is_served_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let addr = serve_dashboard(
            "127.0.0.1:0".parse().unwrap(),
            dashboard(dir.path(), Some("s3cret")),
        )
        .await
        .unwrap();
        let refused = exchange(addr, b"GET /api/calls HTTP/1.1\r\n\r\n").await;
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
        let by_query = exchange(addr, b"GET /api/calls?token=s3cret HTTP/1.1\r\n\r\n").await;
        assert!(by_query.starts_with("HTTP/1.1 200"), "{by_query}");
        let by_header = exchange(
            addr,
            b"GET /api/calls HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n",
        )
        .await;
        assert!(by_header.starts_with("HTTP/1.1 200"), "{by_header}");
    }
}
