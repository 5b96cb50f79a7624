//! Building responses to requests (RFC 3261 section 8.2.6): Via, From, To,
//! Call-ID and CSeq copied from the request, the To tag added once a dialog
//! can exist, Content-Length always present.

use std::fmt::Write;

use super::message::SipMessage;

/// The product name voicegate gives in Server and User-Agent by default:
/// no version, which would tell a scanner which bugs to try
/// (`sip.product` sets another, or none).
pub const PRODUCT: &str = "voicegate";

/// What goes into a response besides the copied headers.
#[derive(Debug, Clone, Default)]
pub struct ResponseParts<'a> {
    /// Added to To when it has no tag and the response is not 100 (RFC 3261 8.2.6.2).
    pub to_tag: Option<&'a str>,
    /// Further headers, e.g. Contact, Allow, Content-Type.
    pub headers: Vec<(&'a str, String)>,
    pub body: &'a [u8],
    /// The Server header's value; `None` leaves the header out.
    pub server: Option<&'a str>,
}

/// The bytes of a response to `request`.
pub fn response(request: &SipMessage, code: u16, reason: &str, parts: &ResponseParts) -> Vec<u8> {
    let mut head = format!("SIP/2.0 {code} {reason}\r\n");
    for via in request.headers.iter().filter(|h| h.name == "via") {
        let _ = write!(head, "Via: {}\r\n", via.value);
    }
    let copy = |name: &str| request.header(name).unwrap_or_default().to_string();
    let _ = write!(head, "From: {}\r\n", copy("from"));
    let _ = write!(
        head,
        "To: {}\r\n",
        to_with_tag(&copy("to"), code, parts.to_tag)
    );
    let _ = write!(head, "Call-ID: {}\r\n", copy("call-id"));
    let _ = write!(head, "CSeq: {}\r\n", copy("cseq"));
    for (name, value) in &parts.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if let Some(server) = parts.server {
        let _ = write!(head, "Server: {server}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", parts.body.len());
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(parts.body);
    bytes
}

fn to_with_tag(to: &str, code: u16, tag: Option<&str>) -> String {
    let has_tag = to
        .split(';')
        .skip(1)
        .any(|param| param.trim().to_ascii_lowercase().starts_with("tag="));
    match tag {
        Some(tag) if code > 100 && !has_tag => format!("{to};tag={tag}"),
        _ => to.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse_message, StartLine};

    const INVITE: &str = "INVITE sip:ivr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKproxy\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKphone;received=127.0.0.1\r\nMax-Forwards: 69\r\nFrom: \"Caller\" <sip:+15550100@127.0.0.1>;tag=abc\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: call-1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_response_copies_the_dialog_headers_and_every_via_in_order() {
        let request = parse_message(INVITE.as_bytes()).unwrap();
        let parts = ResponseParts {
            to_tag: Some("vg1"),
            headers: vec![("Contact", "<sip:ivr@127.0.0.1:5060>".to_string())],
            body: b"",
            server: Some(PRODUCT),
        };
        let bytes = response(&request, 180, "Ringing", &parts);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("Server: voicegate\r\n"), "no version: {text}");
        let anonymous = ResponseParts {
            server: None,
            ..parts.clone()
        };
        let quiet = String::from_utf8(response(&request, 180, "Ringing", &anonymous)).unwrap();
        assert!(!quiet.contains("Server:"), "{quiet}");
        let proxy = text.find("branch=z9hG4bKproxy").unwrap();
        let phone = text.find("branch=z9hG4bKphone").unwrap();
        assert!(proxy < phone, "Via order kept");
        assert!(text.contains("To: <sip:ivr@127.0.0.1>;tag=vg1\r\n"));
        assert!(text.contains("CSeq: 7 INVITE\r\n") && text.contains("Call-ID: call-1\r\n"));
        let reread = parse_message(&bytes).expect("our response passes our own strict reader");
        assert_eq!(
            reread.start,
            StartLine::Response {
                code: 180,
                reason: "Ringing".into()
            }
        );
    }

    #[test]
    fn trying_gets_no_tag_and_an_existing_tag_is_kept() {
        let request = parse_message(INVITE.as_bytes()).unwrap();
        let parts = ResponseParts {
            to_tag: Some("vg1"),
            ..ResponseParts::default()
        };
        let trying = String::from_utf8(response(&request, 100, "Trying", &parts)).unwrap();
        assert!(trying.contains("To: <sip:ivr@127.0.0.1>\r\n"));
        let in_dialog =
            INVITE.replace("To: <sip:ivr@127.0.0.1>", "To: <sip:ivr@127.0.0.1>;tag=old");
        let request = parse_message(in_dialog.as_bytes()).unwrap();
        let ok = String::from_utf8(response(&request, 200, "OK", &parts)).unwrap();
        assert!(ok.contains("To: <sip:ivr@127.0.0.1>;tag=old\r\n"));
    }

    #[test]
    fn a_body_sets_content_length() {
        let request = parse_message(INVITE.as_bytes()).unwrap();
        let parts = ResponseParts {
            to_tag: Some("vg1"),
            headers: vec![("Content-Type", "application/sdp".to_string())],
            body: b"v=0\r\n",
            server: None,
        };
        let bytes = response(&request, 200, "OK", &parts);
        assert_eq!(parse_message(&bytes).unwrap().body, b"v=0\r\n");
        assert!(String::from_utf8(bytes)
            .unwrap()
            .contains("Content-Length: 5\r\n"));
    }
}
