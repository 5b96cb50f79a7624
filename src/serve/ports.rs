//! RTP ports for calls: even ports from the configured range (RFC 3550
//! section 11 keeps the odd one above for RTCP), handed out round-robin so
//! a port just freed is not reused at once for a new call.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::net::UdpSocket;

#[derive(Debug)]
pub struct PortPool {
    address: IpAddr,
    low: u16,
    high: u16,
    next: AtomicU16,
}

impl PortPool {
    pub fn new(address: IpAddr, [low, high]: [u16; 2]) -> PortPool {
        let low = low + low % 2;
        PortPool {
            address,
            low,
            high,
            next: AtomicU16::new(low),
        }
    }

    fn even_ports(&self) -> u16 {
        (self.high.saturating_sub(self.low)) / 2 + 1
    }

    /// Binds the next free even port, with its address; an error when every
    /// port is taken.
    pub async fn bind(&self) -> io::Result<(SocketAddr, UdpSocket)> {
        for _ in 0..self.even_ports() {
            let port = self.take_port();
            match UdpSocket::bind(SocketAddr::new(self.address, port)).await {
                Ok(socket) => return Ok((socket.local_addr()?, socket)),
                Err(error) if error.kind() == io::ErrorKind::AddrInUse => continue,
                Err(error) => return Err(error),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "every RTP port in {}-{} is in use: widen rtp.ports",
                self.low, self.high
            ),
        ))
    }

    fn take_port(&self) -> u16 {
        let span = self.even_ports();
        // The previous value is the port taken; the stored one moves on.
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |port| {
                let offset = (port - self.low) / 2;
                Some(self.low + ((offset + 1) % span) * 2)
            })
            .unwrap_or(self.low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ports_are_even_and_taken_ones_are_skipped() {
        let pool = PortPool::new("127.0.0.1".parse().unwrap(), [23401, 23405]);
        let first = pool.bind().await.unwrap();
        let second = pool.bind().await.unwrap();
        let ports = [first.0.port(), second.0.port()];
        assert_eq!(ports, [23402, 23404]);
        assert!(pool.bind().await.is_err(), "both even ports are held");
        drop(first);
        assert_eq!(pool.bind().await.unwrap().0.port(), 23402);
    }
}
