//! Reading the parts of header values a user agent acts on (RFC 3261
//! section 25.1 grammar, leniently: the message already passed the strict
//! reader): parameters such as `tag` and `branch`, the URI inside a
//! name-addr, a URI's user and host:port, and CSeq.

use std::net::{IpAddr, SocketAddr};

use super::message::SipMessage;

/// A parameter of a header value (`;tag=…`, `;branch=…`), after the URI's
/// closing `>` when there is one, so URI parameters are not mistaken for it.
pub fn param<'v>(value: &'v str, name: &str) -> Option<&'v str> {
    let params = match value.rfind('>') {
        Some(close) => &value[close + 1..],
        None => value.split_once(';').map_or("", |(_, rest)| rest),
    };
    params.split(';').find_map(|param| {
        let (key, val) = param.split_once('=').unwrap_or((param, ""));
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_matches('"'))
    })
}

/// The `tag` parameter of a From or To value.
pub fn tag(value: &str) -> Option<&str> {
    param(value, "tag").filter(|t| !t.is_empty())
}

/// The URI of a name-addr (`"Bob" <sip:bob@host>;tag=1` → `sip:bob@host`)
/// or of a bare addr-spec (`sip:bob@host;tag=1` → `sip:bob@host`).
pub fn uri(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => value[open + 1..close].trim(),
        _ => value.split(';').next().unwrap_or_default().trim(),
    }
}

/// The user part of a SIP URI (`sip:+1555@host` → `+1555`).
pub fn user(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':')?.1;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next().unwrap_or(user))
}

/// The socket address a SIP URI names when its host is an IP literal
/// (`sip:agent@192.0.2.1:5070;transport=udp`); port 5060 when absent.
pub fn socket_addr(uri: &str) -> Option<SocketAddr> {
    let rest = uri.split_once(':')?.1;
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host_port = host_port
        .split([';', '?'])
        .next()
        .unwrap_or(host_port)
        .trim();
    if let Some(v6) = host_port.strip_prefix('[') {
        let (ip, port) = v6.split_once(']')?;
        let port = port
            .strip_prefix(':')
            .map_or(Some(5060), |p| p.parse().ok())?;
        return Some(SocketAddr::new(ip.parse().ok()?, port));
    }
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (host_port, 5060),
    };
    Some(SocketAddr::new(host.parse::<IpAddr>().ok()?, port))
}

/// The branch of the topmost Via (the transaction id, RFC 3261 section 17.2.3).
pub fn top_branch(message: &SipMessage) -> Option<&str> {
    let via = message.header("via")?;
    let first = via.split(',').next().unwrap_or(via);
    param(first, "branch")
}

/// Every value of a header that may repeat or be comma-joined (Record-Route, Via).
pub fn all_values(message: &SipMessage, name: &str) -> Vec<String> {
    message
        .headers
        .iter()
        .filter(|h| h.name == name)
        .flat_map(|h| split_commas(&h.value))
        .collect()
}

/// Every value of a header whose values contain commas themselves
/// (WWW-Authenticate): one per header line.
pub fn all_values_raw(message: &SipMessage, name: &str) -> Vec<String> {
    message
        .headers
        .iter()
        .filter(|h| h.name == name)
        .map(|h| h.value.clone())
        .collect()
}

/// Splits a comma-joined header value, ignoring commas inside <> and quotes.
fn split_commas(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (index, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(value[start..index].trim().to_string());
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim().to_string());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Whether a message carries an SDP body.
pub fn has_sdp(message: &SipMessage) -> bool {
    !message.body.is_empty()
        && message
            .header("content-type")
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/sdp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_come_from_after_the_uri() {
        let to = "\"IVR\" <sip:ivr@host;tag=uri-param>;tag=abc";
        assert_eq!(tag(to), Some("abc"));
        assert_eq!(tag("<sip:ivr@host>"), None);
        assert_eq!(tag("sip:ivr@host;tag=x1"), Some("x1"));
        assert_eq!(
            param("SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1;rport", "branch"),
            Some("z9hG4bK1")
        );
    }

    #[test]
    fn uris_users_and_addresses() {
        assert_eq!(
            uri("\"A\" <sip:+1555@10.0.0.1:5070>;tag=1"),
            "sip:+1555@10.0.0.1:5070"
        );
        assert_eq!(user("sip:+1555@10.0.0.1"), Some("+1555"));
        assert_eq!(
            socket_addr("sip:agent@127.0.0.1:5070;transport=udp"),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(
            socket_addr("sip:127.0.0.1"),
            Some("127.0.0.1:5060".parse().unwrap())
        );
        assert_eq!(
            socket_addr("sip:a@[::1]:5062"),
            Some("[::1]:5062".parse().unwrap())
        );
        assert_eq!(socket_addr("sip:a@trunk.example.com"), None);
    }

    #[test]
    fn comma_joined_values_split_outside_brackets() {
        assert_eq!(
            split_commas("<sip:p1;lr>, \"a,b\" <sip:p2;lr>"),
            vec!["<sip:p1;lr>", "\"a,b\" <sip:p2;lr>"]
        );
    }
}
