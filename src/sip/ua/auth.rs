//! Callers' digest credentials (RFC 3261 section 22.4 as a UAS, RFC 7616
//! sections 3.3-3.5, SHA-256 for SIP per RFC 8760), where the
//! configuration makes untrusted sources authenticate: each challenge
//! offers SHA-256 then MD5 with qop=auth and a fresh nonce that expires;
//! a nonce's count (nc) must go up with every use and a nonce without qop
//! is good once, so a captured Authorization cannot be replayed. Nonces are
//! capped; the oldest go first.

use std::collections::HashMap;
use std::time::Duration;

use crate::sip::dialog::random_token;
use crate::sip::digest::{response, Algorithm, Answer, DigestParams};

/// Nonces remembered at most (a flood of challenges cannot grow the table).
const MAX_NONCES: usize = 10_000;

/// `[sip.auth]`: who may call from an untrusted source, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthPolicy {
    pub realm: String,
    /// User name → password.
    pub users: HashMap<String, String>,
    /// How long a nonce may be used.
    pub nonce_lifetime: Duration,
    /// Wrong credentials from one source before it is banned.
    pub max_failures: u32,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            realm: "voicegate".into(),
            users: HashMap::new(),
            nonce_lifetime: Duration::from_secs(300),
            max_failures: 5,
        }
    }
}

/// What a request's credentials come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Good credentials of this user.
    Authenticated(String),
    /// None given, or good ones on an expired nonce (`stale`): challenge.
    Challenge { stale: bool },
    /// Wrong, malformed, or a replay: refuse, and count a failure.
    Refused,
}

#[derive(Debug, Clone)]
struct Nonce {
    issued: Duration,
    /// The highest nc used with qop=auth; whether it was used without qop.
    last_count: Option<u32>,
    used_without_qop: bool,
}

#[derive(Debug, Clone)]
pub struct InboundAuth {
    policy: AuthPolicy,
    nonces: HashMap<String, Nonce>,
}

impl InboundAuth {
    pub fn new(policy: AuthPolicy) -> InboundAuth {
        InboundAuth {
            policy,
            nonces: HashMap::new(),
        }
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    pub fn max_failures(&self) -> u32 {
        self.policy.max_failures
    }

    /// The WWW-Authenticate headers of a 401, with a new nonce: SHA-256
    /// first (RFC 8760 section 2.4), MD5 for older phones.
    pub fn challenge(&mut self, now: Duration, stale: bool) -> Vec<(&'static str, String)> {
        let nonce = self.issue(now);
        let stale = if stale { ", stale=true" } else { "" };
        [Algorithm::Sha256, Algorithm::Md5]
            .into_iter()
            .map(|algorithm| {
                let value = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}{stale}",
                    self.policy.realm,
                    algorithm.name()
                );
                ("WWW-Authenticate", value)
            })
            .collect()
    }

    /// Checks the Authorization header (if any) of a `method` request at `now`.
    pub fn check(&mut self, now: Duration, method: &str, authorization: Option<&str>) -> Checked {
        let Some(value) = authorization else {
            return Checked::Challenge { stale: false };
        };
        let Some(credentials) = Credentials::read(value) else {
            return Checked::Refused;
        };
        if credentials.realm != self.policy.realm || !self.digest_matches(method, &credentials) {
            return Checked::Refused;
        }
        let lifetime = self.policy.nonce_lifetime;
        let Some(nonce) = self.nonces.get_mut(&credentials.nonce) else {
            // Not ours, or forgotten: the right password on a nonce we no
            // longer know is stale, not wrong.
            return Checked::Challenge { stale: true };
        };
        if now.saturating_sub(nonce.issued) > lifetime {
            return Checked::Challenge { stale: true };
        }
        if !nonce.spend(credentials.count) {
            return Checked::Refused;
        }
        Checked::Authenticated(credentials.user)
    }

    fn digest_matches(&self, method: &str, credentials: &Credentials) -> bool {
        // An unknown user is checked against a password no one has, so it
        // costs the same as a known one and says nothing more.
        let password = self
            .policy
            .users
            .get(&credentials.user)
            .map_or("\u{0}no such user", String::as_str);
        let answer = Answer {
            user: &credentials.user,
            password,
            method,
            uri: &credentials.uri,
            cnonce: credentials.cnonce.as_deref().unwrap_or(""),
            nonce_count: credentials.count.unwrap_or(0),
        };
        let qop = credentials
            .count_text
            .as_deref()
            .zip(credentials.cnonce.as_deref());
        let expected = response(
            credentials.algorithm,
            &self.policy.realm,
            &credentials.nonce,
            &answer,
            qop,
        );
        let known = self.policy.users.contains_key(&credentials.user);
        known & same_text(&expected, &credentials.response.to_ascii_lowercase())
    }

    fn issue(&mut self, now: Duration) -> String {
        if self.nonces.len() >= MAX_NONCES {
            let lifetime = self.policy.nonce_lifetime;
            self.nonces
                .retain(|_, nonce| now.saturating_sub(nonce.issued) <= lifetime);
        }
        if self.nonces.len() >= MAX_NONCES {
            let oldest = self
                .nonces
                .iter()
                .min_by_key(|(_, nonce)| nonce.issued)
                .map(|(text, _)| text.clone());
            if let Some(oldest) = oldest {
                self.nonces.remove(&oldest);
            }
        }
        let text = format!("{}{}", random_token(), random_token());
        self.nonces.insert(
            text.clone(),
            Nonce {
                issued: now,
                last_count: None,
                used_without_qop: false,
            },
        );
        text
    }
}

impl Nonce {
    /// Uses the nonce once more; false if that would be a replay.
    fn spend(&mut self, count: Option<u32>) -> bool {
        match count {
            Some(count) if self.last_count.map_or(true, |last| count > last) => {
                self.last_count = Some(count);
                true
            }
            Some(_) => false,
            None => !std::mem::replace(&mut self.used_without_qop, true),
        }
    }
}

/// An Authorization header's fields.
#[derive(Debug)]
struct Credentials {
    user: String,
    realm: String,
    nonce: String,
    uri: String,
    response: String,
    algorithm: Algorithm,
    /// nc and cnonce, present together with qop=auth.
    count: Option<u32>,
    count_text: Option<String>,
    cnonce: Option<String>,
}

impl Credentials {
    fn read(value: &str) -> Option<Credentials> {
        let params = DigestParams::read(value).ok()?;
        let get = |name: &str| params.get(name);
        let algorithm = params.algorithm().ok()?;
        let qop = get("qop");
        let (count_text, cnonce) = match qop.as_deref() {
            Some(qop) if qop.eq_ignore_ascii_case("auth") => {
                (Some(get("nc")?), Some(get("cnonce")?))
            }
            Some(_) => return None,
            None => (None, None),
        };
        let count = match &count_text {
            Some(text) if text.len() == 8 => Some(u32::from_str_radix(text, 16).ok()?),
            Some(_) => return None,
            None => None,
        };
        Some(Credentials {
            user: get("username")?,
            realm: get("realm")?,
            nonce: get("nonce")?,
            uri: get("uri")?,
            response: get("response")?,
            algorithm,
            count,
            count_text,
            cnonce,
        })
    }
}

/// Compares two texts in time that depends only on their length.
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |difference, (x, y)| difference | (x ^ y))
            == 0
}
