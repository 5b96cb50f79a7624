//! A strict reader of SIP messages from untrusted datagrams (RFC 3261
//! sections 7, 18.3, 20 and 25). It exists because lenient parsers accept
//! most of RFC 4475's invalid messages (see docs/sip-parser-evaluation.md):
//! every message is checked here before anything acts on it, and what is
//! wrong becomes the reason phrase of a 400 (or 505).

use std::fmt;

/// A request or response line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower-case long form ("v" is stored as "via").
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    pub start: StartLine,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

impl SipMessage {
    /// The first value of a header, by long or compact name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let lower = name.to_ascii_lowercase();
        let name = long_name(&lower);
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_str())
    }
}

/// What makes a message unacceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// Answer 400 with this reason (requests) or drop (responses).
    Malformed(String),
    /// Answer 505 Version Not Supported.
    Version(String),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Malformed(reason) => write!(f, "malformed SIP message: {reason}"),
            MessageError::Version(version) => write!(f, "unsupported SIP version {version}"),
        }
    }
}

impl std::error::Error for MessageError {}

fn malformed(reason: impl Into<String>) -> MessageError {
    MessageError::Malformed(reason.into())
}

/// Reads and checks one message from a datagram.
pub fn parse_message(datagram: &[u8]) -> Result<SipMessage, MessageError> {
    let split =
        find(datagram, b"\r\n\r\n").ok_or_else(|| malformed("no empty line after the headers"))?;
    let head =
        std::str::from_utf8(&datagram[..split]).map_err(|_| malformed("headers are not UTF-8"))?;
    let rest = &datagram[split + 4..];
    let mut lines = unfold(head).into_iter();
    let start = parse_start_line(&lines.next().unwrap_or_default())?;
    let headers = lines
        .map(|line| parse_header(&line))
        .collect::<Result<Vec<_>, _>>()?;
    let mut message = SipMessage {
        start,
        headers,
        body: Vec::new(),
    };
    message.body = body(&message, rest)?;
    check_headers(&message)?;
    Ok(message)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Header lines with continuation lines (starting with SP or HT) joined (RFC 3261 section 7.3.1).
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim_start());
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// Request-Line or Status-Line (RFC 3261 sections 7.1 and 7.2): single spaces, nothing around.
fn parse_start_line(line: &str) -> Result<StartLine, MessageError> {
    if line.starts_with("SIP/") {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        check_version(version)?;
        let code = parts.next().unwrap_or_default();
        let reason = parts.next().unwrap_or_default().to_string();
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..=699).contains(c) && code.len() == 3)
            .ok_or_else(|| malformed(format!("status code {code:?} is not 100-699")))?;
        return Ok(StartLine::Response { code, reason });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return Err(malformed(
            "the request line must be METHOD SP Request-URI SP SIP/2.0, single spaces",
        ));
    };
    if !is_token(method) {
        return Err(malformed(format!("method {method:?} is not a token")));
    }
    check_request_uri(uri)?;
    check_version(version)?;
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

fn check_version(version: &str) -> Result<(), MessageError> {
    match version {
        "SIP/2.0" => Ok(()),
        other if other.starts_with("SIP/") => Err(MessageError::Version(other.to_string())),
        other => Err(malformed(format!("{other:?} is not a SIP version"))),
    }
}

/// Whether `uri` may be the Request-URI of a request voicegate sends (a
/// dialog's remote target comes from the peer's Contact).
pub fn is_request_uri(uri: &str) -> bool {
    check_request_uri(uri).is_ok()
}

/// A Request-URI is an absolute URI without brackets or spaces; a SIP URI
/// there may not carry headers (RFC 3261 section 19.1.1, table 1).
fn check_request_uri(uri: &str) -> Result<(), MessageError> {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !scheme_ok || uri.contains(['<', '>']) {
        return Err(malformed(format!(
            "Request-URI {uri:?} is not an absolute URI"
        )));
    }
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        let host_part = uri.rsplit_once('@').map_or(uri, |(_, host)| host);
        if host_part.contains('?') {
            return Err(malformed("a SIP Request-URI may not carry headers (?...)"));
        }
    }
    Ok(())
}

/// Compact header names (RFC 3261 section 7.3.3 and extensions).
fn long_name(name: &str) -> &str {
    match name {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        "o" => "event",
        "r" => "refer-to",
        "u" => "allow-events",
        other => other,
    }
}

fn parse_header(line: &str) -> Result<Header, MessageError> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| malformed(format!("header line {line:?} has no colon")))?;
    let name = name.trim_end_matches([' ', '\t']);
    if !is_token(name) {
        return Err(malformed(format!("header name {name:?} is not a token")));
    }
    Ok(Header {
        name: long_name(&name.to_ascii_lowercase()).to_string(),
        value: value.trim().to_string(),
    })
}

/// The body as Content-Length says (RFC 3261 section 18.3): extra bytes in a
/// datagram are dropped, missing ones make the message malformed. Without
/// Content-Length (RFC 2543 style) the body runs to the end of the datagram.
fn body(message: &SipMessage, rest: &[u8]) -> Result<Vec<u8>, MessageError> {
    let Some(length) = message.header("content-length") else {
        return Ok(rest.to_vec());
    };
    let length: usize = length.parse::<u32>().map_err(|_| {
        malformed(format!(
            "Content-Length {length:?} is not a non-negative number"
        ))
    })? as usize;
    if length > rest.len() {
        return Err(malformed(format!(
            "Content-Length {length} is larger than the {} body bytes",
            rest.len()
        )));
    }
    Ok(rest[..length].to_vec())
}

fn check_headers(message: &SipMessage) -> Result<(), MessageError> {
    for header in &message.headers {
        let value = header.value.as_str();
        match header.name.as_str() {
            "cseq" => check_cseq(message, value)?,
            "max-forwards" => check_number(value, 255, "Max-Forwards")?,
            "expires" | "retry-after" => check_number(
                value.split([';', '(', ' ']).next().unwrap_or(""),
                u32::MAX,
                &header.name,
            )?,
            "date" if !value.trim_end().ends_with("GMT") => {
                return Err(malformed("Date must be in GMT (RFC 3261 section 20.17)"))
            }
            "warning" => check_warning(value)?,
            "via" | "contact" | "route" | "record-route" if has_empty_element(value) => {
                return Err(malformed(format!(
                    "{} has an empty element (;; or ,;)",
                    header.name
                )))
            }
            _ => {}
        }
        if matches!(
            header.name.as_str(),
            "to" | "from" | "contact" | "reply-to" | "refer-to"
        ) {
            check_name_addr(&header.name, value)?;
        }
    }
    Ok(())
}

fn check_number(value: &str, max: u32, name: &str) -> Result<(), MessageError> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_digit())
        && value.parse::<u64>().is_ok_and(|n| n <= u64::from(max));
    if ok {
        Ok(())
    } else {
        Err(malformed(format!(
            "{name} {value:?} is not a number up to {max}"
        )))
    }
}

/// CSeq is a 32-bit number and the request's method (RFC 3261 section 8.1.1.5).
fn check_cseq(message: &SipMessage, value: &str) -> Result<(), MessageError> {
    let (number, method) = value
        .split_once([' ', '\t'])
        .ok_or_else(|| malformed("CSeq must be a number and a method"))?;
    check_number(number, u32::MAX, "CSeq")?;
    match &message.start {
        StartLine::Request {
            method: request, ..
        } if request != method.trim() => Err(malformed(format!(
            "CSeq method {} does not match the request method {request}",
            method.trim()
        ))),
        _ => Ok(()),
    }
}

/// The comma-separated elements of a header value, commas inside quoted
/// strings (with their backslash escapes, RFC 3261 section 25.1) kept.
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// Warning codes are three digits (RFC 3261 section 20.43); the warnings
/// of a list are split at commas outside their quoted texts.
fn check_warning(value: &str) -> Result<(), MessageError> {
    for warning in split_outside_quotes(value) {
        let code = warning.trim().split(' ').next().unwrap_or("");
        if code.len() != 3 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(malformed(format!(
                "Warning code {code:?} is not three digits"
            )));
        }
    }
    Ok(())
}

/// `;;`, `,;`, `;,` or `,,` outside quotes.
fn has_empty_element(value: &str) -> bool {
    let mut in_quotes = false;
    let mut previous = ' ';
    for c in value.chars().filter(|c| !c.is_whitespace()) {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && (c == ';' || c == ',') && (previous == ';' || previous == ',') {
            return true;
        }
        previous = c;
    }
    false
}

/// name-addr or addr-spec (RFC 3261 section 25.1): balanced quotes, a
/// display name that is quoted or made of tokens, no spaces inside <...>,
/// and a bare URI without headers or commas.
fn check_name_addr(name: &str, value: &str) -> Result<(), MessageError> {
    let bad = |what: &str| Err(malformed(format!("{name}: {what}")));
    let mut escaped = false;
    let mut quotes = 0;
    let mut open = None;
    let mut close = None;
    for (index, c) in value.char_indices() {
        match c {
            '\\' if quotes % 2 == 1 && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => quotes += 1,
            '<' if quotes % 2 == 0 && open.is_none() => open = Some(index),
            '>' if quotes % 2 == 0 && open.is_some() && close.is_none() => close = Some(index),
            _ => {}
        }
        escaped = false;
    }
    if quotes % 2 == 1 {
        return bad("unterminated quoted string");
    }
    match (open, close) {
        (Some(open), Some(close)) => {
            let display = value[..open].trim();
            let quoted = display.starts_with('"') && display.ends_with('"') && display.len() >= 2;
            if !display.is_empty() && !quoted && !display.split_whitespace().all(is_token) {
                return bad("the display name must be quoted or tokens");
            }
            if value[open + 1..close].contains(char::is_whitespace) {
                return bad("spaces inside <...>");
            }
            Ok(())
        }
        (None, None) => {
            let uri = value.split(';').next().unwrap_or("").trim();
            if uri.contains(char::is_whitespace) && uri != "*" {
                return bad("spaces in an address without <...>");
            }
            if uri.contains(['?', ',']) && name != "contact" || uri.contains('?') {
                return bad("a URI with headers or commas must be enclosed in <...>");
            }
            Ok(())
        }
        _ => bad("unbalanced <...>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPTIONS: &str = "OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nf: <sip:a@127.0.0.1>;tag=1\r\nt: <sip:ivr@127.0.0.1>\r\ni: abc\r\nCSeq: 1 OPTIONS\r\nContent-Length: 5\r\n\r\nhelloEXTRA";

    #[test]
    fn a_comma_inside_a_warning_text_does_not_split_the_warning() {
        let with = |warning: &str| {
            OPTIONS.replace(
                "Content-Length: 5",
                &format!("Warning: {warning}\r\nContent-Length: 5"),
            )
        };
        assert!(parse_message(
            with("399 voicegate \"formats 18, 96 and \\\"97\\\", none G.711\"").as_bytes()
        )
        .is_ok());
        assert!(parse_message(with("399 a \"x\", 301 b \"y\"").as_bytes()).is_ok());
        assert!(parse_message(with("399 a \"x\", voicegate b \"y\"").as_bytes()).is_err());
    }

    #[test]
    fn compact_headers_are_long_names_and_extra_datagram_bytes_are_dropped() {
        let message = parse_message(OPTIONS.as_bytes()).unwrap();
        assert_eq!(
            message.header("Via"),
            Some("SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK1")
        );
        assert_eq!(message.header("call-id"), Some("abc"));
        assert_eq!(message.body, b"hello");
    }

    #[test]
    fn the_reason_says_what_is_wrong() {
        let short = OPTIONS.replace("Content-Length: 5", "Content-Length: 50");
        assert_eq!(
            parse_message(short.as_bytes()),
            Err(malformed(
                "Content-Length 50 is larger than the 10 body bytes"
            ))
        );
        let mismatch = OPTIONS.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
        assert!(
            matches!(parse_message(mismatch.as_bytes()), Err(MessageError::Malformed(r)) if r.contains("does not match"))
        );
    }

    proptest! {
        /// Untrusted datagrams: any bytes parse or are refused, never a panic.
        #[test]
        fn any_datagram_parses_or_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_message(&bytes);
        }

        /// Mutations of a valid message, the likelier attack.
        #[test]
        fn mutated_messages_parse_or_are_refused(index in 0usize..300, byte in any::<u8>()) {
            let mut bytes = OPTIONS.as_bytes().to_vec();
            let at = index % bytes.len();
            bytes[at] = byte;
            let _ = parse_message(&bytes);
        }
    }
}
