//! SDP offer/answer for narrowband voice (RFC 3264 sections 5-6, RFC 4566
//! syntax via the `sdp` crate): pick PCMU or PCMA in the offerer's order,
//! keep `telephone-event` (RFC 4733 section 7.1.1) with whatever payload type
//! the offer uses, honour ptime and direction (hold), or refuse with 488.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use sdp::description::media::MediaDescription;
use sdp::SessionDescription;

/// The G.711 codecs voicegate speaks (ITU-T G.711; RFC 3551 section 4.5.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Media direction attribute (RFC 3264 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The answer's direction for an offer's (RFC 3264 section 6.1).
    fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// What was agreed for the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    /// The offer's telephone-event payload type, if it offered one.
    pub telephone_event: Option<u8>,
    pub ptime_ms: u32,
    /// Where the offer asks for RTP (symmetric RTP may correct it later).
    pub remote: SocketAddr,
    /// The offerer's direction.
    pub direction: Direction,
}

impl Negotiated {
    /// The caller put us on hold (RFC 3264 section 8.4; RFC 2543's c=0.0.0.0).
    pub fn on_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive)
            || self.remote.ip().is_unspecified()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("the offer has no usable audio stream (m=audio with RTP/AVP and a port)")]
    NoAudio,
    #[error("no common codec: offered {offered}, voicegate speaks PCMU and PCMA")]
    NoCommonCodec { offered: String },
}

/// Reads an offer and picks what voicegate will use.
pub fn negotiate(offer: &str) -> Result<Negotiated, SdpError> {
    let session = SessionDescription::unmarshal(&mut Cursor::new(offer.as_bytes()))
        .map_err(|error| SdpError::Malformed(error.to_string()))?;
    let media = session
        .media_descriptions
        .iter()
        .find(|m| {
            m.media_name.media == "audio"
                && m.media_name.port.value > 0
                && m.media_name.protos.join("/") == "RTP/AVP"
        })
        .ok_or(SdpError::NoAudio)?;
    let formats: Vec<(u8, String)> = media
        .media_name
        .formats
        .iter()
        // RTP payload types are 7 bits (RFC 3550 section 5.1).
        .filter_map(|format| format.parse::<u8>().ok().filter(|pt| *pt <= 127))
        .map(|pt| (pt, encoding(media, pt)))
        .collect();
    let (payload_type, codec) = formats
        .iter()
        .find_map(|(pt, name)| match name.as_str() {
            "PCMU/8000" => Some((*pt, Codec::Pcmu)),
            "PCMA/8000" => Some((*pt, Codec::Pcma)),
            _ => None,
        })
        .ok_or_else(|| SdpError::NoCommonCodec {
            offered: formats
                .iter()
                .map(|(pt, name)| format!("{pt} {name}"))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let telephone_event = formats
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case("telephone-event/8000"))
        .map(|(pt, _)| *pt);
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event,
        ptime_ms: attribute(media, "ptime")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(20),
        remote: remote_address(&session, media)?,
        direction: direction(&session, media),
    })
}

/// `NAME/RATE` of a payload type: from a=rtpmap, else the static table of
/// RFC 3551 section 6 for the two codecs voicegate knows.
fn encoding(media: &MediaDescription, payload_type: u8) -> String {
    let prefix = format!("{payload_type} ");
    let mapped = media
        .attributes
        .iter()
        .filter(|a| a.key == "rtpmap")
        .filter_map(|a| a.value.as_deref())
        .find_map(|value| value.strip_prefix(&prefix));
    match (mapped, payload_type) {
        // Channel counts ("/1") are optional and irrelevant for mono G.711.
        (Some(name), _) => name.trim().trim_end_matches("/1").to_string(),
        (None, 0) => "PCMU/8000".to_string(),
        (None, 8) => "PCMA/8000".to_string(),
        (None, _) => format!("unknown payload type {payload_type}"),
    }
}

fn attribute<'m>(media: &'m MediaDescription, key: &str) -> Option<&'m str> {
    media.attribute(key).flatten()
}

fn remote_address(
    session: &SessionDescription,
    media: &MediaDescription,
) -> Result<SocketAddr, SdpError> {
    let connection = media
        .connection_information
        .as_ref()
        .or(session.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .ok_or_else(|| SdpError::Malformed("no c= connection address".into()))?;
    let ip: IpAddr = connection.address.parse().map_err(|_| {
        SdpError::Malformed(format!(
            "c= address {:?} is not an IP address",
            connection.address
        ))
    })?;
    let port = u16::try_from(media.media_name.port.value).map_err(|_| {
        SdpError::Malformed(format!(
            "m= port {} is out of range",
            media.media_name.port.value
        ))
    })?;
    Ok(SocketAddr::new(ip, port))
}

fn direction(session: &SessionDescription, media: &MediaDescription) -> Direction {
    // Flag attributes have no value, so look for the key itself.
    let has =
        |key: &str| media.has_attribute(key) || session.attributes.iter().any(|a| a.key == key);
    if has("inactive") {
        Direction::Inactive
    } else if has("sendonly") {
        Direction::SendOnly
    } else if has("recvonly") {
        Direction::RecvOnly
    } else {
        Direction::SendRecv
    }
}

/// The answer for a negotiated offer: our address and port, the chosen codec,
/// telephone-event with the offer's payload type, and the mirrored direction.
pub fn answer(negotiated: &Negotiated, local: SocketAddr, session_id: u64, version: u64) -> String {
    let mut formats = vec![negotiated.payload_type];
    let mut lines = vec![format!(
        "a=rtpmap:{} {}/8000",
        negotiated.payload_type,
        negotiated.codec.name()
    )];
    if let Some(event) = negotiated.telephone_event {
        formats.push(event);
        lines.push(format!("a=rtpmap:{event} telephone-event/8000"));
        lines.push(format!("a=fmtp:{event} 0-15"));
    }
    lines.push(format!("a=ptime:{}", negotiated.ptime_ms));
    lines.push(format!("a={}", negotiated.direction.answer().attribute()));
    session(local, session_id, version, &formats, &lines)
}

/// Our offer when voicegate calls out (an agent, for a bridged transfer):
/// PCMU, PCMA and telephone-event 101, 20 ms, send and receive.
pub fn offer(local: SocketAddr, session_id: u64) -> String {
    let lines = [
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]
    .map(String::from);
    session(local, session_id, 1, &[0, 8, 101], &lines)
}

fn session(
    local: SocketAddr,
    session_id: u64,
    version: u64,
    formats: &[u8],
    lines: &[String],
) -> String {
    let family = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    let formats: Vec<String> = formats.iter().map(u8::to_string).collect();
    format!(
        "v=0\r\no=voicegate {session_id} {version} IN {family} {ip}\r\ns=voicegate\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n{}\r\n",
        local.port(),
        formats.join(" "),
        lines.join("\r\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SIPp's uac_pcap scenario offers.
    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    fn offer(m_line: &str, extra: &str) -> String {
        format!("v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n{m_line}\r\n{extra}")
    }

    #[test]
    fn the_sipp_offer_gets_pcma_and_its_telephone_event_type() {
        let negotiated = negotiate(SIPP_OFFER).unwrap();
        assert_eq!(negotiated.codec, Codec::Pcma);
        assert_eq!(negotiated.payload_type, 8);
        assert_eq!(negotiated.telephone_event, Some(101));
        assert_eq!(negotiated.remote, "127.0.0.1:6000".parse().unwrap());
        assert!(!negotiated.on_hold());
        let answer = answer(&negotiated, "127.0.0.1:20000".parse().unwrap(), 7, 1);
        assert!(
            answer.contains("m=audio 20000 RTP/AVP 8 101\r\n"),
            "{answer}"
        );
        assert!(answer.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"));
        assert!(answer.contains("a=sendrecv"));
        negotiate(&answer).expect("our answer is valid SDP itself");
    }

    #[test]
    fn the_offerers_order_wins_and_dynamic_types_are_read_from_rtpmap() {
        let negotiated = negotiate(&offer(
            "m=audio 4000 RTP/AVP 96 0 8 97",
            "a=rtpmap:96 opus/48000/2\r\na=rtpmap:97 telephone-event/8000\r\na=ptime:30\r\n",
        ))
        .unwrap();
        assert_eq!(
            (negotiated.codec, negotiated.payload_type),
            (Codec::Pcmu, 0)
        );
        assert_eq!(negotiated.telephone_event, Some(97));
        assert_eq!(negotiated.ptime_ms, 30);
    }

    #[test]
    fn an_offer_with_no_g711_is_refused_naming_what_was_offered() {
        let error = negotiate(&offer(
            "m=audio 4000 RTP/AVP 18 96",
            "a=rtpmap:18 G729/8000\r\na=rtpmap:96 opus/48000/2\r\n",
        ))
        .unwrap_err();
        assert_eq!(
            error,
            SdpError::NoCommonCodec {
                offered: "18 G729/8000, 96 opus/48000/2".into()
            }
        );
    }

    #[test]
    fn hold_is_seen_in_sendonly_inactive_or_a_zero_address() {
        let sendonly = negotiate(&offer("m=audio 4000 RTP/AVP 0", "a=sendonly\r\n")).unwrap();
        assert!(sendonly.on_hold());
        assert!(answer(&sendonly, "127.0.0.1:2".parse().unwrap(), 1, 2).contains("a=recvonly"));
        assert!(
            negotiate(&offer("m=audio 4000 RTP/AVP 0", "a=inactive\r\n"))
                .unwrap()
                .on_hold()
        );
        let zero =
            offer("m=audio 4000 RTP/AVP 0", "").replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
        assert!(negotiate(&zero).unwrap().on_hold());
    }

    proptest::proptest! {
        /// Untrusted offers: any text is answered or refused, never a panic.
        #[test]
        fn any_offer_text_negotiates_or_fails_cleanly(text in "(v=0\r\n)?([a-z]=[ -~]{0,40}\r\n){0,12}") {
            let _ = negotiate(&text);
        }
    }

    #[test]
    fn broken_offers_are_errors() {
        assert!(matches!(negotiate("hello"), Err(SdpError::Malformed(_))));
        assert_eq!(
            negotiate(&offer("m=video 4000 RTP/AVP 31", "")),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            negotiate(&offer("m=audio 0 RTP/AVP 0", "")),
            Err(SdpError::NoAudio),
            "port 0 is a refused stream"
        );
        let no_address =
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert!(matches!(negotiate(no_address), Err(SdpError::Malformed(_))));
    }
}
