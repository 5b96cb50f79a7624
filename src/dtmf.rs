//! The sixteen DTMF keys (RFC 4733 section 3.2): what a key press can be,
//! wherever one is read (menus, scripts, SIP INFO, the command line).

/// The keys in RFC 4733 event-code order: event n is `KEYS[n]`.
pub const KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// Reads one DTMF key: 0-9, *, #, A-D.
pub fn dtmf_key(text: &str) -> Option<char> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(key), None) if KEYS.contains(&key) => Some(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_the_sixteen_keys_is_a_key() {
        assert_eq!(dtmf_key("#"), Some('#'));
        assert_eq!(dtmf_key("D"), Some('D'));
        assert_eq!(dtmf_key("d"), None);
        assert_eq!(dtmf_key("12"), None);
        assert_eq!(dtmf_key(""), None);
    }
}
