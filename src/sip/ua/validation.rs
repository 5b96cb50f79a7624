//! What a request must be before voicegate acts on it: complete (RFC 3261
//! section 8.1.1), without extensions voicegate does not support (8.2.2.3),
//! and refused with the right status when it is not (400, 420, 505).

use super::*;

/// A request must carry the headers that identify its transaction and
/// dialog (RFC 3261 section 8.1.1), with a CSeq naming its own method.
pub(super) fn complete_request(message: SipMessage) -> Result<SipMessage, MessageError> {
    let StartLine::Request { method, .. } = &message.start else {
        return Ok(message);
    };
    for name in ["via", "from", "to", "call-id", "cseq"] {
        if !message
            .header(name)
            .is_some_and(|value| !value.trim().is_empty())
        {
            return Err(MessageError::Malformed(format!("missing {name} header")));
        }
    }
    let cseq_method = message
        .header("cseq")
        .and_then(|cseq| cseq.split_whitespace().nth(1))
        .unwrap_or_default();
    if !cseq_method.eq_ignore_ascii_case(method) {
        return Err(MessageError::Malformed(format!(
            "CSeq method {cseq_method:?} is not the request's {method}"
        )));
    }
    // The Contact of an INVITE becomes the Request-URI of every request
    // voicegate sends in the dialog (RFC 3261 section 12.1.1): it must be one.
    // Without a Contact the From URI is the target (dialog.rs), so it must be one.
    if method == "INVITE" {
        let (name, value) = match message.header("contact") {
            Some(contact) => ("Contact", contact),
            None => ("From", message.header("from").unwrap_or_default()),
        };
        let target = headers::uri(value);
        if !crate::sip::message::is_request_uri(target) {
            return Err(MessageError::Malformed(format!(
                "{name} {target:?} is not an absolute URI"
            )));
        }
    }
    Ok(message)
}

/// Require option tags voicegate lacks (RFC 3261 section 8.2.2.3), for a 420.
pub(super) fn unsupported_extensions(request: &SipMessage) -> Option<String> {
    let unsupported: Vec<&str> = request
        .headers
        .iter()
        .filter(|h| h.name == "require")
        .flat_map(|h| h.value.split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty() && !tag.eq_ignore_ascii_case(SUPPORTED))
        .collect();
    (!unsupported.is_empty()).then(|| unsupported.join(", "))
}

/// The key of a SIP INFO: `application/dtmf-relay` (`Signal=5`) or
/// `application/dtmf` (`5`).
pub(super) fn info_digit(info: &SipMessage) -> Option<char> {
    let kind = info.header("content-type")?.trim().to_ascii_lowercase();
    let body = String::from_utf8_lossy(&info.body);
    let value = if kind.starts_with("application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim().to_string())
        })?
    } else if kind.starts_with("application/dtmf") {
        body.trim().to_string()
    } else {
        return None;
    };
    crate::dtmf::dtmf_key(&value)
}

/// A Warning header value (RFC 3261 section 20.43) saying what was wrong
/// with the offer. The text quotes the caller's own bytes, so only
/// printable ASCII other than quote and backslash is kept, and at most 120
/// characters: a caller cannot break or add headers in our response.
pub(super) fn warning(problem: &str) -> String {
    let text: String = problem
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .take(120)
        .collect();
    format!("399 voicegate \"{text}\"")
}

/// A 400 (or 505) for a request the strict reader refused, built from the
/// raw headers it needs (RFC 3261 section 8.2.6); `None` for a broken
/// response, bytes that are not a request at all, or headers too broken to
/// copy into a valid response.
pub(super) fn refusal(bytes: &[u8], error: &MessageError) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    if first.starts_with("SIP/") || !first.contains("SIP/") {
        return None;
    }
    let (code, reason) = match error {
        MessageError::Version(_) => (505, "Version Not Supported".to_string()),
        MessageError::Malformed(why) => (400, format!("Bad Request ({why})")),
    };
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    let wanted = ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"];
    for line in lines {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if wanted.contains(&name.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    // A response built from broken headers would be refused in turn: drop it.
    parse_message(out.as_bytes())
        .is_ok()
        .then(|| out.into_bytes())
}
