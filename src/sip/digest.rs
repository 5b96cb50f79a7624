//! Digest authentication (RFC 3261 section 22.4 with RFC 7616 sections
//! 3.3-3.4; SHA-256 for SIP per RFC 8760): reading a challenge and
//! computing the Authorization that answers it, for our requests to a
//! trunk; the same response computation checks callers' credentials
//! (`ua::auth`).

use md5::Md5;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, text: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 => Md5::digest(text.as_bytes()).to_vec(),
            Algorithm::Sha256 => Sha256::digest(text.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A WWW-Authenticate or Proxy-Authenticate challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered qop=auth (auth-int is not used: REGISTER has no body).
    pub qop_auth: bool,
    /// The nonce expired; the same credentials may be sent again (RFC 7616 section 3.3).
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("challenge is not Digest: {0:?}")]
    NotDigest(String),
    #[error("challenge lacks {0}")]
    Missing(&'static str),
    #[error("challenge asks for algorithm {0}, voicegate speaks MD5 and SHA-256")]
    Algorithm(String),
}

/// A Digest header's parameters (challenge or credentials), looked up by
/// case-insensitive name.
pub struct DigestParams(Vec<(String, String)>);

impl DigestParams {
    pub fn read(value: &str) -> Result<DigestParams, DigestError> {
        let (scheme, params) = value
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(DigestError::NotDigest(scheme.to_string()));
        }
        Ok(DigestParams(auth_params(params)))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }

    /// The algorithm named (MD5 when none is).
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match self
            .get("algorithm")
            .map(|a| a.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("MD5") => Ok(Algorithm::Md5),
            Some("SHA-256") => Ok(Algorithm::Sha256),
            Some(other) => Err(DigestError::Algorithm(other.to_string())),
        }
    }
}

/// Reads one challenge header value.
pub fn parse_challenge(value: &str) -> Result<Challenge, DigestError> {
    let params = DigestParams::read(value)?;
    let get = |name: &str| params.get(name);
    let algorithm = params.algorithm()?;
    Ok(Challenge {
        realm: get("realm").ok_or(DigestError::Missing("realm"))?,
        nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
        opaque: get("opaque"),
        algorithm,
        qop_auth: get("qop").is_some_and(|qop| {
            qop.split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth"))
        }),
        stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    })
}

/// The strongest challenge among several (RFC 8760 section 2.4: prefer SHA-256).
pub fn best_challenge<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Challenge, DigestError> {
    let mut best: Result<Challenge, DigestError> = Err(DigestError::Missing("a Digest challenge"));
    for value in values {
        match (parse_challenge(value), &best) {
            (Ok(challenge), Ok(current))
                if current.algorithm == Algorithm::Sha256
                    || challenge.algorithm == Algorithm::Md5 => {}
            (Ok(challenge), _) => best = Ok(challenge),
            (Err(error), Err(_)) => best = Err(error),
            (Err(_), Ok(_)) => {}
        }
    }
    best
}

/// `key=value, key="quoted, value"` pairs.
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            },
            None => match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            },
        };
        params.push((key, value.trim().to_string()));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// What answers a challenge for one request.
pub struct Answer<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub cnonce: &'a str,
    pub nonce_count: u32,
}

/// The request-digest (RFC 7616 section 3.4.1); `qop` is `(nc, cnonce)`
/// when the challenge offered qop=auth.
pub fn response(
    algorithm: Algorithm,
    realm: &str,
    nonce: &str,
    answer: &Answer,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = algorithm.hash(&format!("{}:{realm}:{}", answer.user, answer.password));
    let ha2 = algorithm.hash(&format!("{}:{}", answer.method, answer.uri));
    match qop {
        Some((nc, cnonce)) => algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// The Authorization (or Proxy-Authorization) header value.
pub fn authorization(challenge: &Challenge, answer: &Answer) -> String {
    let algorithm = challenge.algorithm;
    let nc = format!("{:08x}", answer.nonce_count);
    let qop = challenge.qop_auth.then_some((nc.as_str(), answer.cnonce));
    let response = response(algorithm, &challenge.realm, &challenge.nonce, answer, qop);
    let mut value = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        answer.user,
        challenge.realm,
        challenge.nonce,
        answer.uri,
        algorithm.name()
    );
    if challenge.qop_auth {
        value.push_str(&format!(
            ", qop=auth, nc={nc}, cnonce=\"{}\"",
            answer.cnonce
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_of(header: &str) -> &str {
        header
            .split("response=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
    }

    /// RFC 7616 section 3.9.1: the same request answered with SHA-256 and MD5.
    const RFC7616: &str = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=ALGO, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

    fn rfc7616_answer() -> Answer<'static> {
        Answer {
            user: "Mufasa",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            nonce_count: 1,
        }
    }

    #[test]
    fn rfc_7616_sha256_and_md5_examples() {
        let sha = parse_challenge(&RFC7616.replace("ALGO", "SHA-256")).unwrap();
        assert_eq!(sha.algorithm, Algorithm::Sha256);
        assert!(sha.qop_auth);
        let header = authorization(&sha, &rfc7616_answer());
        assert_eq!(
            response_of(&header),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = parse_challenge(&RFC7616.replace("ALGO", "MD5")).unwrap();
        let header = authorization(&md5, &rfc7616_answer());
        assert_eq!(response_of(&header), "8ca523f5e9506fed4657c9700eebdbec");
        assert!(header.contains("nc=00000001") && header.contains("opaque=\"FQhe/"));
    }

    #[test]
    fn rfc_2617_without_qop_and_sha256_is_preferred() {
        let challenge = parse_challenge(
            "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"",
        )
        .unwrap();
        assert!(!challenge.qop_auth);
        let header = authorization(
            &challenge,
            &Answer {
                user: "Mufasa",
                password: "Circle Of Life",
                method: "GET",
                uri: "/dir/index.html",
                cnonce: "",
                nonce_count: 1,
            },
        );
        // Without qop, H(HA1:nonce:HA2) (RFC 2617 section 3.2.2.1), checked with Python's hashlib.
        assert_eq!(response_of(&header), "670fd8c2df070c60b045671b8b24ff02");
        let md5 = "Digest realm=\"r\", nonce=\"n\", algorithm=MD5";
        let sha = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256";
        assert_eq!(
            best_challenge([md5, sha]).unwrap().algorithm,
            Algorithm::Sha256
        );
        assert_eq!(
            best_challenge([sha, md5]).unwrap().algorithm,
            Algorithm::Sha256
        );
        assert_eq!(
            parse_challenge("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"),
            Err(DigestError::Algorithm("SHA-512-256".into()))
        );
        assert!(matches!(
            parse_challenge("Basic realm=\"r\""),
            Err(DigestError::NotDigest(_))
        ));
    }
}
