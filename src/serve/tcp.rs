//! SIP over TCP (RFC 3261 section 18.3) for the signalling task, so that no
//! peer can stall it: each connection has a reader task that frames
//! messages by Content-Length and a writer task fed by a bounded queue, with
//! a timeout on connecting and on every write. A peer that stops reading
//! fills its own queue, loses its messages (its transactions time out as
//! over a lossy UDP path) and is disconnected after the write timeout; the
//! signalling task never waits on it. Connections are capped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, error::TrySendError, Sender, UnboundedSender};

use super::signalling::{framed_length, MAX_MESSAGE};

/// Messages waiting for one connection's writer at most.
const QUEUE: usize = 64;
/// How long a connect or one write may take before the connection is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections held at once (accepted and opened); more are refused.
pub const MAX_CONNECTIONS: usize = 1024;

/// From the connection tasks to the signalling loop.
pub enum TcpMessage {
    Opened(SocketAddr, Sender<Vec<u8>>),
    Message(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

/// The signalling loop's side: where to queue each peer's messages.
pub struct TcpConnections {
    writers: HashMap<SocketAddr, Sender<Vec<u8>>>,
    events: UnboundedSender<TcpMessage>,
    /// Connections whose reader runs, accepted or opened.
    open: Arc<AtomicUsize>,
}

impl TcpConnections {
    pub fn new(events: UnboundedSender<TcpMessage>) -> TcpConnections {
        TcpConnections {
            writers: HashMap::new(),
            events,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Accepts connections; their messages come back as [`TcpMessage`]s.
    pub fn listen(&self, listener: TcpListener) {
        let (events, open) = (self.events.clone(), self.open.clone());
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    tracing::warn!(%peer, "too many SIP TCP connections: refused");
                    continue; // dropping the stream closes it
                }
                let (reader, writer) = stream.into_split();
                let queue = spawn_writer(peer, Some(writer), events.clone(), open.clone());
                if events.send(TcpMessage::Opened(peer, queue)).is_err() {
                    return;
                }
                tokio::spawn(read_framed(reader, peer, events.clone(), open.clone()));
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
            if self.open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                return tracing::warn!(%peer, "too many SIP TCP connections: message dropped");
            }
            let queue = spawn_writer(peer, None, self.events.clone(), self.open.clone());
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

/// A writer task for `peer` (connecting first when `writer` is `None`).
fn spawn_writer(
    peer: SocketAddr,
    writer: Option<OwnedWriteHalf>,
    events: UnboundedSender<TcpMessage>,
    open: Arc<AtomicUsize>,
) -> Sender<Vec<u8>> {
    let (queue, mut messages) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(async move {
        let writer = match writer {
            Some(writer) => Some(writer),
            None => connect(peer, &events, open).await,
        };
        if let Some(mut writer) = writer {
            while let Some(bytes) = messages.recv().await {
                match tokio::time::timeout(IO_TIMEOUT, writer.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "SIP TCP write failed");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!(%peer, "SIP TCP write timed out: closing");
                        break;
                    }
                }
            }
        }
        let _ = events.send(TcpMessage::Closed(peer));
    });
    queue
}

/// Connects to `peer` (bounded in time) and starts reading what it sends.
async fn connect(
    peer: SocketAddr,
    events: &UnboundedSender<TcpMessage>,
    open: Arc<AtomicUsize>,
) -> Option<OwnedWriteHalf> {
    match tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(peer)).await {
        Ok(Ok(stream)) => {
            let (reader, writer) = stream.into_split();
            tokio::spawn(read_framed(reader, peer, events.clone(), open));
            Some(writer)
        }
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "SIP TCP connect failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "SIP TCP connect timed out");
            None
        }
    }
}

/// Frames SIP messages on a TCP stream by their Content-Length (RFC 3261
/// section 18.3) and hands each to the signalling loop.
async fn read_framed(
    mut reader: OwnedReadHalf,
    peer: SocketAddr,
    events: UnboundedSender<TcpMessage>,
    open: Arc<AtomicUsize>,
) {
    open.fetch_add(1, Ordering::Relaxed);
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
        while let Some(length) = framed_length(&pending) {
            let message: Vec<u8> = pending.drain(..length).collect();
            if events.send(TcpMessage::Message(peer, message)).is_err() {
                return;
            }
        }
        if pending.len() > MAX_MESSAGE {
            tracing::warn!(%peer, "SIP over TCP: message too large or unframed; closing");
            break;
        }
    }
    open.fetch_sub(1, Ordering::Relaxed);
    let _ = events.send(TcpMessage::Closed(peer));
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (events, mut rx) = mpsc::unbounded_channel();
        let mut connections = TcpConnections::new(events);
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
}
