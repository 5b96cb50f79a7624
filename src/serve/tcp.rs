//! SIP over TCP (RFC 3261 section 18.3) for the signalling task, so that no
//! peer can stall it: each connection has a reader task that frames
//! messages by Content-Length and a writer task fed by a bounded queue, with
//! a timeout on connecting and on every write. A peer that stops reading
//! fills its own queue, loses its messages (its transactions time out as
//! over a lossy UDP path) and is disconnected after the write timeout; the
//! signalling task never waits on it. Connections are capped in total and
//! per source address, separately for trusted and untrusted sources (a
//! flood of connections from elsewhere never takes a trunk's place); one
//! that sends nothing for the idle time, or takes longer than the read
//! time to finish a message it began (slowloris), is closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, error::TrySendError, Sender};
use tokio::time::Instant;

use super::signalling::{framed_length, MAX_MESSAGE};

/// Messages waiting for one connection's writer at most.
const QUEUE: usize = 64;
/// How long a connect or one write may take before the connection is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages from every connection waiting for the signalling loop; past it,
/// readers wait (TCP's own flow control slows the peers down).
pub const EVENTS: usize = 1024;

/// The `[sip]` TCP limits.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpLimits {
    /// Connections held at once, counted apart for trusted and untrusted sources.
    pub connections: usize,
    /// Connections from one untrusted address.
    pub per_source: usize,
    /// A connection that sends nothing (not even a CRLF keep-alive) for this long is closed.
    pub idle: Duration,
    /// A message begun must be complete within this.
    pub read: Duration,
    pub trusted: Vec<IpNet>,
}

/// From the connection tasks to the signalling loop.
pub enum TcpMessage {
    Opened(SocketAddr, Sender<Vec<u8>>),
    Message(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

/// Open connections by source address, for the caps.
#[derive(Debug, Default)]
struct OpenCount {
    trusted: usize,
    untrusted: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// The count of open connections, shared by every connection task.
#[derive(Debug, Clone)]
struct Census {
    limits: Arc<TcpLimits>,
    open: Arc<Mutex<OpenCount>>,
}

impl Census {
    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.limits.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Counts a new connection with `peer`, or refuses it (false) past a cap.
    fn admit(&self, peer: SocketAddr) -> bool {
        let trusted = self.is_trusted(peer.ip());
        let Ok(mut open) = self.open.lock() else {
            return false;
        };
        let from_address = open.by_address.get(&peer.ip()).copied().unwrap_or(0);
        let full = if trusted {
            open.trusted >= self.limits.connections
        } else {
            open.untrusted >= self.limits.connections || from_address >= self.limits.per_source
        };
        if full {
            return false;
        }
        *open.by_address.entry(peer.ip()).or_insert(0) += 1;
        if trusted {
            open.trusted += 1;
        } else {
            open.untrusted += 1;
        }
        true
    }

    fn release(&self, peer: SocketAddr) {
        let trusted = self.is_trusted(peer.ip());
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        if let Some(count) = open.by_address.get_mut(&peer.ip()) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_address.remove(&peer.ip());
            }
        }
        let pool = if trusted {
            &mut open.trusted
        } else {
            &mut open.untrusted
        };
        *pool = pool.saturating_sub(1);
    }
}

/// The signalling loop's side: where to queue each peer's messages.
pub struct TcpConnections {
    writers: HashMap<SocketAddr, Sender<Vec<u8>>>,
    events: Sender<TcpMessage>,
    census: Census,
}

impl TcpConnections {
    pub fn new(events: Sender<TcpMessage>, limits: TcpLimits) -> TcpConnections {
        TcpConnections {
            writers: HashMap::new(),
            events,
            census: Census {
                limits: Arc::new(limits),
                open: Arc::default(),
            },
        }
    }

    /// Accepts connections; their messages come back as [`TcpMessage`]s.
    pub fn listen(&self, listener: TcpListener) {
        let (events, census) = (self.events.clone(), self.census.clone());
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                if !census.admit(peer) {
                    tracing::warn!(%peer, "too many SIP TCP connections: refused");
                    continue; // dropping the stream closes it
                }
                let queue = spawn_connection(peer, Some(stream), events.clone(), census.clone());
                if events.send(TcpMessage::Opened(peer, queue)).await.is_err() {
                    return;
                }
            }
        });
    }

    pub fn on_event(&mut self, event: &TcpMessage) {
        match event {
            TcpMessage::Opened(peer, queue) => {
                self.writers.insert(*peer, queue.clone());
            }
            TcpMessage::Closed(peer) => {
                self.writers.remove(peer);
            }
            TcpMessage::Message(..) => {}
        }
    }

    /// Queues `bytes` for `peer`, opening a connection if there is none;
    /// never waits.
    pub fn send(&mut self, peer: SocketAddr, bytes: Vec<u8>) {
        if !self.writers.contains_key(&peer) {
            if !self.census.admit(peer) {
                return tracing::warn!(%peer, "too many SIP TCP connections: message dropped");
            }
            let queue = spawn_connection(peer, None, self.events.clone(), self.census.clone());
            self.writers.insert(peer, queue);
        }
        let Some(queue) = self.writers.get(&peer) else {
            return;
        };
        match queue.try_send(bytes) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(%peer, "SIP TCP peer is not reading: message dropped")
            }
            Err(TrySendError::Closed(_)) => {
                self.writers.remove(&peer);
            }
        }
    }
}

/// The tasks of one connection with `peer` (connecting first when `stream`
/// is `None`): a writer fed by the returned queue, and a reader. The
/// connection was admitted; the reader releases it. When either side ends,
/// the connection closes.
fn spawn_connection(
    peer: SocketAddr,
    stream: Option<TcpStream>,
    events: Sender<TcpMessage>,
    census: Census,
) -> Sender<Vec<u8>> {
    let (queue, mut messages) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(async move {
        let stream = match stream {
            Some(stream) => Some(stream),
            None => connect(peer, &census).await,
        };
        if let Some(stream) = stream {
            let (reader, mut writer) = stream.into_split();
            let mut reader = tokio::spawn(read_framed(reader, peer, events.clone(), census));
            loop {
                tokio::select! {
                    bytes = messages.recv() => {
                        let Some(bytes) = bytes else { break };
                        if !write(&mut writer, &bytes, peer).await {
                            break;
                        }
                    }
                    // The reader saw the peer close, go idle or dawdle.
                    _ = &mut reader => break,
                }
            }
            reader.abort(); // a no-op once it has ended; it releases its place either way
        }
        let _ = events.send(TcpMessage::Closed(peer)).await;
    });
    queue
}

/// Writes one message, bounded in time; false if the connection is lost.
async fn write(writer: &mut OwnedWriteHalf, bytes: &[u8], peer: SocketAddr) -> bool {
    match tokio::time::timeout(IO_TIMEOUT, writer.write_all(bytes)).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "SIP TCP write failed");
            false
        }
        Err(_) => {
            tracing::warn!(%peer, "SIP TCP write timed out: closing");
            false
        }
    }
}

/// Connects to `peer`, bounded in time (its place is released if it fails).
async fn connect(peer: SocketAddr, census: &Census) -> Option<TcpStream> {
    let failure = match tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(peer)).await {
        Ok(Ok(stream)) => return Some(stream),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "timed out".to_string(),
    };
    tracing::debug!(%peer, failure, "SIP TCP connect failed");
    census.release(peer);
    None
}

/// Frames SIP messages on a TCP stream by their Content-Length (RFC 3261
/// section 18.3) and hands each to the signalling loop, until the peer
/// closes, goes idle, or dawdles inside a message.
async fn read_framed(
    mut reader: OwnedReadHalf,
    peer: SocketAddr,
    events: Sender<TcpMessage>,
    census: Census,
) {
    let limits = census.limits.clone();
    let _place = Place { census, peer };
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    // When the message now pending began: it must be whole by `read` after.
    let mut begun = Instant::now();
    loop {
        // Between messages the idle time applies; inside one, the read time.
        let deadline = if pending.is_empty() {
            Instant::now() + limits.idle
        } else {
            begun + limits.read
        };
        match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                if pending.is_empty() {
                    begun = Instant::now();
                }
                pending.extend_from_slice(&chunk[..n]);
            }
            Err(_) => {
                let why = if pending.is_empty() {
                    "idle"
                } else {
                    "too slow to finish a message"
                };
                tracing::info!(%peer, why, "SIP TCP connection closed");
                break;
            }
        }
        while let Some(length) = framed_length(&pending) {
            let message: Vec<u8> = pending.drain(..length).collect();
            if events
                .send(TcpMessage::Message(peer, message))
                .await
                .is_err()
            {
                return;
            }
        }
        if pending.len() > MAX_MESSAGE {
            tracing::warn!(%peer, "SIP over TCP: message too large or unframed; closing");
            break;
        }
    }
}

/// A connection's place in the census, given back when its reader ends or
/// is aborted.
struct Place {
    census: Census,
    peer: SocketAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.census.release(self.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpSocket;
    use tokio::sync::mpsc::Receiver;

    fn limits(trusted: &[&str]) -> TcpLimits {
        TcpLimits {
            connections: 4,
            per_source: 2,
            idle: Duration::from_millis(400),
            read: Duration::from_millis(200),
            trusted: trusted.iter().map(|net| net.parse().unwrap()).collect(),
        }
    }

    /// A listening gateway side with `limits`, and where its events arrive.
    async fn gateway(limits: TcpLimits) -> (SocketAddr, Receiver<TcpMessage>, TcpConnections) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events, rx) = mpsc::channel(EVENTS);
        let connections = TcpConnections::new(events, limits);
        connections.listen(listener);
        (addr, rx, connections)
    }

    async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(to).await.unwrap()
    }

    /// True if the gateway closes `stream` within `limit`.
    async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(limit, stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn a_peer_that_never_reads_loses_messages_and_is_disconnected() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and then never reads: its window fills.
        let _held = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(stream);
        });
        let (events, mut rx) = mpsc::channel(EVENTS);
        let mut connections = TcpConnections::new(
            events,
            TcpLimits {
                idle: Duration::from_secs(60),
                ..limits(&[])
            },
        );
        // `send` is not async: it queues or drops, it cannot wait on the
        // peer. Keep offering far more than the socket buffers hold until
        // the writer gives up on the stalled peer (bounded: 30 s).
        let mut closed = None;
        for _ in 0..300 {
            for _ in 0..QUEUE {
                connections.send(addr, vec![b'x'; 60_000]);
            }
            assert!(connections.writers.len() <= 1);
            tokio::time::sleep(Duration::from_millis(100)).await;
            while let Ok(event) = rx.try_recv() {
                if let TcpMessage::Closed(peer) = event {
                    closed = Some(peer);
                }
            }
            if closed.is_some() {
                break;
            }
        }
        let closed = closed.expect("the stalled connection is closed after the write timeout");
        assert_eq!(closed, addr);
        connections.on_event(&TcpMessage::Closed(closed));
        assert_eq!(connections.writers.len(), 0);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_a_keep_alive_keeps_it() {
        let (addr, _rx, _connections) = gateway(limits(&[])).await;
        let mut quiet = connect_from("127.0.0.1", addr).await;
        let mut chatty = connect_from("127.0.0.1", addr).await;
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            chatty.write_all(b"\r\n\r\n").await.unwrap();
        }
        assert!(closed_within(&mut quiet, Duration::from_secs(2)).await);
        assert!(!closed_within(&mut chatty, Duration::from_millis(100)).await);
    }

    #[tokio::test]
    async fn a_message_dribbled_slower_than_the_read_time_closes_the_connection() {
        let (addr, mut rx, _connections) = gateway(limits(&[])).await;
        let mut slow = connect_from("127.0.0.1", addr).await;
        slow.write_all(b"OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\n")
            .await
            .unwrap();
        assert!(closed_within(&mut slow, Duration::from_secs(2)).await);
        while let Ok(event) = rx.try_recv() {
            assert!(
                !matches!(event, TcpMessage::Message(..)),
                "nothing half-read is passed on"
            );
        }
    }

    #[tokio::test]
    async fn one_untrusted_address_gets_its_share_of_connections_and_no_more() {
        let patient = TcpLimits {
            idle: Duration::from_secs(10),
            ..limits(&[])
        };
        let (addr, _rx, _connections) = gateway(patient).await;
        let mut streams = Vec::new();
        for _ in 0..4 {
            streams.push(connect_from("127.0.0.1", addr).await);
        }
        let refused = streams.split_off(2);
        for mut stream in refused {
            assert!(closed_within(&mut stream, Duration::from_millis(300)).await);
        }
        for stream in &mut streams {
            assert!(!closed_within(stream, Duration::from_millis(100)).await);
        }
        let mut other = connect_from("127.0.0.3", addr).await;
        assert!(!closed_within(&mut other, Duration::from_millis(100)).await);
    }

    #[tokio::test]
    async fn a_flood_of_untrusted_connections_never_takes_the_trunks_place() {
        let patient = TcpLimits {
            idle: Duration::from_secs(10),
            ..limits(&["127.0.0.2/32"])
        };
        let (addr, _rx, _connections) = gateway(patient).await;
        let mut flood = Vec::new();
        for source in [
            "127.0.0.10",
            "127.0.0.11",
            "127.0.0.12",
            "127.0.0.13",
            "127.0.0.14",
        ] {
            for _ in 0..2 {
                flood.push(connect_from(source, addr).await);
            }
        }
        let mut open = 0;
        for stream in &mut flood {
            if !closed_within(stream, Duration::from_millis(100)).await {
                open += 1;
            }
        }
        assert_eq!(open, 4, "untrusted connections are capped");
        let mut trunk = Vec::new();
        for _ in 0..4 {
            trunk.push(connect_from("127.0.0.2", addr).await);
        }
        for stream in &mut trunk {
            assert!(!closed_within(stream, Duration::from_millis(100)).await);
        }
    }
}
