//! RTP ports for calls: even ports from the configured range (RFC 3550
//! section 11 keeps the odd one above for RTCP), each call's drawn at random
//! so nobody can tell the next call's port from the last one's (RFC 3550
//! section 9.1 warns of known-plaintext and injection on predictable
//! streams); a taken port is skipped.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;

#[derive(Debug)]
pub struct PortPool {
    address: IpAddr,
    low: u16,
    high: u16,
}

impl PortPool {
    pub fn new(address: IpAddr, [low, high]: [u16; 2]) -> PortPool {
        let low = low + low % 2;
        PortPool { address, low, high }
    }

    fn even_ports(&self) -> u16 {
        (self.high.saturating_sub(self.low)) / 2 + 1
    }

    /// Binds a free even port drawn at random, with its address; an error
    /// when every port is taken.
    pub async fn bind(&self) -> io::Result<(SocketAddr, UdpSocket)> {
        let span = self.even_ports();
        let first = fastrand::u16(0..span);
        for step in 0..span {
            let port = self.low + ((first + step) % span) * 2;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ports_are_even_and_taken_ones_are_skipped() {
        let pool = PortPool::new("127.0.0.1".parse().unwrap(), [23401, 23405]);
        let first = pool.bind().await.unwrap();
        let second = pool.bind().await.unwrap();
        let mut ports = [first.0.port(), second.0.port()];
        ports.sort();
        assert_eq!(ports, [23402, 23404]);
        assert!(pool.bind().await.is_err(), "both even ports are held");
        let freed = first.0.port();
        drop(first);
        assert_eq!(pool.bind().await.unwrap().0.port(), freed);
    }

    #[tokio::test]
    async fn the_next_call_s_port_cannot_be_told_from_the_last_one() {
        let pool = PortPool::new("127.0.0.1".parse().unwrap(), [24000, 24998]);
        let mut ports = Vec::new();
        for _ in 0..12 {
            let (addr, socket) = pool.bind().await.unwrap();
            assert!(addr.port() % 2 == 0 && (24000..=24998).contains(&addr.port()));
            ports.push(addr.port());
            drop(socket);
        }
        let steps_of_two = ports.windows(2).filter(|p| p[1] == p[0] + 2).count();
        // Round-robin would make all 11 steps +2; drawn among 500 ports, a
        // step of +2 has a 1 in 500 chance each.
        assert!(steps_of_two < 4, "{ports:?}");
    }
}
