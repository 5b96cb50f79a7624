//! Whose RTP a call listens to. Symmetric RTP (RFC 4961) sends replies where
//! the caller's packets come from, which gets through NATs; but a gateway
//! that follows whoever sent the last packet lets anyone who finds the port
//! steer the call (inject key presses, take the prompts). So a stream
//! latches once and keeps to that source:
//!
//! - before the first packet, replies go to the SDP address;
//! - the first packet from the SDP address's IP (any port: NATs rewrite
//!   ports) latches that exact address;
//! - NAT rule: when the SDP names an address no packet can come from across
//!   a NAT (private RFC 1918, loopback-free shared or link-local space, or
//!   unspecified), the first packet from anywhere latches, since the phone's
//!   public address is not in its SDP;
//! - once latched, packets from any other address are dropped; a new offer
//!   (re-INVITE) opens the latch again with its address.

use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latch {
    expected: SocketAddr,
    latched: Option<SocketAddr>,
    dropped: u64,
}

impl Latch {
    /// A stream the SDP says comes from `expected`.
    pub fn new(expected: SocketAddr) -> Latch {
        Latch {
            expected,
            latched: None,
            dropped: 0,
        }
    }

    /// Whether a packet from `source` belongs to the stream (latching on it
    /// if it is the first that may).
    pub fn accept(&mut self, source: SocketAddr) -> bool {
        let accepted = match self.latched {
            Some(latched) => latched == source,
            None if source.ip() == self.expected.ip() || behind_nat(self.expected.ip()) => {
                self.latched = Some(source);
                true
            }
            None => false,
        };
        if !accepted {
            self.dropped += 1;
        }
        accepted
    }

    /// Where replies go: the latched source, else the SDP address.
    pub fn remote(&self) -> SocketAddr {
        self.latched.unwrap_or(self.expected)
    }

    /// A new offer's address: the stream latches again.
    pub fn renegotiate(&mut self, expected: SocketAddr) {
        if expected != self.expected {
            self.expected = expected;
            self.latched = None;
        }
    }

    /// Packets dropped for coming from elsewhere.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// An SDP address a phone behind NAT would announce (its packets then come
/// from the NAT's public address).
fn behind_nat(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private() || v4.is_link_local() || v4.is_unspecified() || is_shared(v4.octets())
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// 100.64.0.0/10, carrier-grade NAT (RFC 6598).
fn is_shared([a, b, ..]: [u8; 4]) -> bool {
    a == 100 && (64..128).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_first_packet_from_the_sdp_address_latches_and_others_are_dropped() {
        let mut latch = Latch::new(addr("203.0.113.5:6000"));
        assert_eq!(latch.remote(), addr("203.0.113.5:6000"));
        assert!(!latch.accept(addr("198.51.100.9:6000")), "another host");
        assert!(
            latch.accept(addr("203.0.113.5:6002")),
            "same host, port rewritten"
        );
        assert_eq!(latch.remote(), addr("203.0.113.5:6002"));
        assert!(
            !latch.accept(addr("203.0.113.5:6000")),
            "same host, another port"
        );
        assert!(latch.accept(addr("203.0.113.5:6002")));
        assert_eq!(latch.dropped(), 2);
    }

    #[test]
    fn an_injector_on_the_same_machine_cannot_take_a_latched_stream() {
        let mut latch = Latch::new(addr("127.0.0.1:6000"));
        assert!(latch.accept(addr("127.0.0.1:6000")));
        assert!(!latch.accept(addr("127.0.0.1:41234")));
        assert_eq!(latch.remote(), addr("127.0.0.1:6000"));
    }

    #[test]
    fn a_private_sdp_address_latches_the_first_source_nat_rule() {
        let mut latch = Latch::new(addr("192.168.1.20:4000"));
        assert!(latch.accept(addr("198.51.100.7:31000")));
        assert!(!latch.accept(addr("198.51.100.8:31000")));
        for private in [
            "10.1.2.3:4000",
            "172.16.0.9:4000",
            "100.64.1.1:4000",
            "0.0.0.0:4000",
            "[fd00::1]:4000",
        ] {
            let mut latch = Latch::new(addr(private));
            assert!(latch.accept(addr("198.51.100.7:31000")), "{private}");
        }
        let mut public = Latch::new(addr("[2001:db8::1]:4000"));
        assert!(!public.accept(addr("[2001:db8::2]:4000")));
    }

    #[test]
    fn a_new_offer_opens_the_latch_again() {
        let mut latch = Latch::new(addr("203.0.113.5:6000"));
        assert!(latch.accept(addr("203.0.113.5:6000")));
        latch.renegotiate(addr("203.0.113.6:7000"));
        assert_eq!(latch.remote(), addr("203.0.113.6:7000"));
        assert!(!latch.accept(addr("203.0.113.5:6000")));
        assert!(latch.accept(addr("203.0.113.6:7000")));
        latch.renegotiate(addr("203.0.113.6:7000"));
        assert!(
            !latch.accept(addr("203.0.113.6:7002")),
            "the same offer keeps the latch"
        );
    }
}
