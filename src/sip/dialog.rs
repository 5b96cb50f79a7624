//! Dialogs (RFC 3261 section 12): the state two user agents share once a
//! call is set up, and the requests voicegate sends inside one (BYE, REFER,
//! ACK) built from it (section 12.2.1.1).

use std::fmt::Write;
use std::net::SocketAddr;

use super::headers;
use super::message::SipMessage;

/// Methods voicegate answers, for Allow headers.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, UPDATE";

/// A transport a message came in on or goes out by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Reliable transports are not retransmitted over (RFC 3261 section 17.1.1.2).
    pub fn reliable(self) -> bool {
        self == Transport::Tcp
    }
}

/// Where a message goes: the peer's address and the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// One side's view of a dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our name-addr with our tag (From of our requests).
    pub local: String,
    /// The peer's name-addr with its tag, once known (To of our requests).
    pub remote: String,
    /// The peer's Contact URI: the Request-URI of our requests.
    pub remote_target: String,
    /// Record-Route URIs in the order our requests must visit them.
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    /// Where in-dialog requests are sent.
    pub peer: Peer,
    /// Our Contact URI.
    pub contact: String,
    /// The User-Agent header's value; `None` leaves the header out.
    pub product: Option<String>,
}

impl Dialog {
    /// The dialog a UAS creates on answering `invite` (section 12.1.1): the
    /// route set is the Record-Route list as received; requests go to the
    /// first route or to the peer's Contact, and to `peer` when that is no
    /// IP address (a trunk's host name: its proxy sent us the INVITE).
    pub fn for_uas(invite: &SipMessage, local_tag: &str, peer: Peer, contact: &str) -> Dialog {
        let to = invite.header("to").unwrap_or_default();
        let from = invite.header("from").unwrap_or_default();
        let remote_target = invite
            .header("contact")
            .map(|c| headers::uri(c).to_string())
            .unwrap_or_else(|| headers::uri(from).to_string());
        let route_set = headers::all_values(invite, "record-route");
        let mut dialog = Dialog {
            call_id: invite.header("call-id").unwrap_or_default().to_string(),
            local: format!("{to};tag={local_tag}"),
            remote: from.to_string(),
            remote_target,
            route_set,
            local_cseq: 0,
            peer,
            contact: contact.to_string(),
            product: None,
        };
        dialog.peer.addr = dialog.next_hop().unwrap_or(peer.addr);
        dialog
    }

    /// The address the route set or remote target names, if an IP literal.
    fn next_hop(&self) -> Option<SocketAddr> {
        match self.route_set.first() {
            Some(route) => headers::socket_addr(headers::uri(route)),
            None => headers::socket_addr(&self.remote_target),
        }
    }

    /// Takes the peer's tag, Contact and Record-Route from a 2xx to our
    /// INVITE (UAC side, section 12.1.2: the route set is reversed).
    pub fn confirm_as_uac(&mut self, response: &SipMessage) {
        if let Some(to) = response.header("to") {
            self.remote = to.to_string();
        }
        // A Contact that could not be a Request-URI is ignored: the
        // dialog's requests go to the target it was created with.
        if let Some(target) = response
            .header("contact")
            .map(headers::uri)
            .filter(|target| super::message::is_request_uri(target))
        {
            self.remote_target = target.to_string();
        }
        let mut routes = headers::all_values(response, "record-route");
        routes.reverse();
        self.route_set = routes;
        if let Some(hop) = self.next_hop() {
            self.peer.addr = hop;
        }
    }

    /// A new request in this dialog with the next CSeq.
    pub fn request(
        &mut self,
        method: &str,
        local: SocketAddr,
        extra: &[(&str, String)],
        body: &[u8],
    ) -> Outgoing {
        self.local_cseq += 1;
        let cseq = self.local_cseq;
        self.request_with_cseq(method, cseq, local, &new_branch(), extra, body)
    }

    /// A request with a given CSeq number and branch (ACK reuses the INVITE's number).
    pub fn request_with_cseq(
        &self,
        method: &str,
        cseq: u32,
        local: SocketAddr,
        branch: &str,
        extra: &[(&str, String)],
        body: &[u8],
    ) -> Outgoing {
        let mut head = format!("{method} {} SIP/2.0\r\n", self.remote_target);
        let _ = write!(
            head,
            "Via: SIP/2.0/{} {local};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            self.peer.transport.as_str()
        );
        let _ = write!(
            head,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n",
            self.local, self.remote, self.call_id
        );
        for route in &self.route_set {
            let _ = write!(head, "Route: {route}\r\n");
        }
        let _ = write!(head, "Contact: <{}>\r\n", self.contact);
        for (name, value) in extra {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if let Some(product) = &self.product {
            let _ = write!(head, "User-Agent: {product}\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Outgoing {
            bytes,
            branch: branch.to_string(),
            cseq,
        }
    }
}

/// A request ready to send, with what identifies its transaction.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub bytes: Vec<u8>,
    pub branch: String,
    pub cseq: u32,
}

/// A random token for tags, branches and Call-IDs (RFC 3261 section 19.3
/// asks for at least 32 random bits).
pub fn random_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// A branch with RFC 3261's magic cookie (section 8.1.1.7).
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_token())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse_message;

    const INVITE: &str = "INVITE sip:ivr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKp\r\nRecord-Route: <sip:127.0.0.1:5080;lr>\r\nMax-Forwards: 69\r\nFrom: \"Caller\" <sip:+15550100@127.0.0.1>;tag=abc\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: call-1\r\nCSeq: 7 INVITE\r\nContact: <sip:caller@127.0.0.1:5071>\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_bye_from_the_uas_swaps_from_and_to_and_follows_the_route_set() {
        let invite = parse_message(INVITE.as_bytes()).unwrap();
        let peer = Peer {
            addr: "127.0.0.1:5999".parse().unwrap(),
            transport: Transport::Udp,
        };
        let mut dialog = Dialog::for_uas(&invite, "vg", peer, "sip:ivr@127.0.0.1:5060");
        assert_eq!(dialog.peer.addr, "127.0.0.1:5080".parse().unwrap());
        let bye = dialog.request("BYE", "127.0.0.1:5060".parse().unwrap(), &[], b"");
        let bye = parse_message(&bye.bytes).expect("our BYE passes the strict reader");
        assert_eq!(
            bye.start,
            crate::sip::StartLine::Request {
                method: "BYE".into(),
                uri: "sip:caller@127.0.0.1:5071".into()
            }
        );
        assert_eq!(bye.header("from"), Some("<sip:ivr@127.0.0.1>;tag=vg"));
        assert_eq!(
            bye.header("to"),
            Some("\"Caller\" <sip:+15550100@127.0.0.1>;tag=abc")
        );
        assert_eq!(bye.header("cseq"), Some("1 BYE"));
        assert_eq!(bye.header("route"), Some("<sip:127.0.0.1:5080;lr>"));
    }
}
