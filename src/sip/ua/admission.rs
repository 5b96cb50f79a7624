//! Who may use the gateway, the way Kamailio's permissions and pike modules
//! and fail2ban do it: trusted sources (the trunk, by address or CIDR) are
//! never limited; everyone else is rate limited per source address, banned
//! for a while when they flood, and their INVITEs are refused cheaply (403)
//! or ignored unless the configuration accepts them. An untrusted flood fills
//! only its own buckets, so it never locks a trusted trunk out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// What to do with an INVITE from a source that is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Untrusted {
    /// 403 Forbidden: cheap, and honest to a misconfigured peer.
    Refuse,
    /// No answer at all: a scanner learns nothing.
    Ignore,
    /// Take the call if it carries digest credentials of a `[sip.auth]`
    /// user (challenged with 401 first); wrong ones count toward a ban.
    Authenticate,
    /// Take the call (a gateway open to anyone; caller IDs are not trusted).
    Accept,
}

/// The admission rules (`[sip]` `trusted`, `untrusted_invites`, `rate`).
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionPolicy {
    pub trusted: Vec<IpNet>,
    pub untrusted_invites: Untrusted,
    /// Requests per second an untrusted source may send, sustained.
    pub rate_per_s: f64,
    /// Requests it may send at once.
    pub burst: f64,
    /// How long a source that ran out is ignored.
    pub ban: Duration,
    /// Sources remembered at most (the oldest unbanned are forgotten first).
    pub max_sources: usize,
}

impl Default for AdmissionPolicy {
    fn default() -> Self {
        AdmissionPolicy {
            trusted: vec![
                "127.0.0.0/8".parse().expect("a CIDR"),
                "::1/128".parse().expect("a CIDR"),
            ],
            untrusted_invites: Untrusted::Refuse,
            rate_per_s: 10.0,
            burst: 40.0,
            ban: Duration::from_secs(600),
            max_sources: 10_000,
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Answer 403 and nothing else.
    Refuse,
    /// Check the request's credentials first.
    Authenticate,
    /// No answer.
    Drop,
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Duration,
    banned_until: Option<Duration>,
    /// Wrong credentials since the last good ones.
    failures: u32,
}

#[derive(Debug, Clone)]
pub struct Admission {
    policy: AdmissionPolicy,
    sources: HashMap<IpAddr, Bucket>,
}

impl Admission {
    pub fn new(policy: AdmissionPolicy) -> Admission {
        Admission {
            policy,
            sources: HashMap::new(),
        }
    }

    /// New rules; what each source has spent, and its ban, stay.
    pub fn set_policy(&mut self, policy: AdmissionPolicy) {
        self.policy = policy;
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.policy.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The verdict on a request from `ip` at `now`; `new_call` for an INVITE
    /// outside any dialog.
    pub fn verdict(&mut self, now: Duration, ip: IpAddr, new_call: bool) -> Verdict {
        if self.is_trusted(ip) {
            return Verdict::Pass;
        }
        if !self.take_token(now, ip) {
            return Verdict::Drop;
        }
        match (new_call, self.policy.untrusted_invites) {
            (true, Untrusted::Refuse) => Verdict::Refuse,
            (true, Untrusted::Ignore) => Verdict::Drop,
            (true, Untrusted::Authenticate) => Verdict::Authenticate,
            _ => Verdict::Pass,
        }
    }

    /// Spends one token of `ip`'s bucket; a source that has none left is
    /// banned for `ban`.
    fn take_token(&mut self, now: Duration, ip: IpAddr) -> bool {
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.policy.max_sources {
            self.forget_unbanned(now);
        }
        let policy = &self.policy;
        let bucket = self.sources.entry(ip).or_insert(Bucket {
            tokens: policy.burst,
            at: now,
            banned_until: None,
            failures: 0,
        });
        if bucket.banned_until.is_some_and(|until| now < until) {
            return false;
        }
        let refill = now.saturating_sub(bucket.at).as_secs_f64() * policy.rate_per_s;
        bucket.tokens = (bucket.tokens + refill).min(policy.burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            bucket.banned_until = Some(now + policy.ban);
            tracing::warn!(%ip, ban_s = policy.ban.as_secs(), "SIP flood from an untrusted source: banned");
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    /// Counts wrong credentials from `ip`; at `max` it is banned for
    /// `ban` (a password guesser). True when that ban begins.
    pub fn failed_login(&mut self, now: Duration, ip: IpAddr, max: u32) -> bool {
        let ban = self.policy.ban;
        // The request that failed took a token, so the source is known.
        let Some(bucket) = self.sources.get_mut(&ip) else {
            return false;
        };
        bucket.failures += 1;
        if bucket.failures < max {
            return false;
        }
        bucket.failures = 0;
        bucket.banned_until = Some(now + ban);
        tracing::warn!(%ip, ban_s = ban.as_secs(), "wrong SIP credentials again and again: banned");
        true
    }

    /// Good credentials from `ip`: its count of wrong ones starts again.
    pub fn logged_in(&mut self, ip: IpAddr) {
        if let Some(bucket) = self.sources.get_mut(&ip) {
            bucket.failures = 0;
        }
    }

    /// Makes room: drops every source not banned now (a flood of new
    /// addresses cannot grow the table, and bans stay).
    fn forget_unbanned(&mut self, now: Duration) {
        self.sources
            .retain(|_, bucket| bucket.banned_until.is_some_and(|until| now < until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_trusted_trunk_is_never_limited() {
        let mut admission = Admission::new(AdmissionPolicy {
            trusted: vec!["198.51.100.0/24".parse().unwrap()],
            ..AdmissionPolicy::default()
        });
        for n in 0..10_000 {
            assert_eq!(
                admission.verdict(ms(n / 10), ip("198.51.100.7"), true),
                Verdict::Pass
            );
        }
    }

    #[test]
    fn an_untrusted_invite_is_refused_ignored_or_accepted_as_configured() {
        for (rule, verdict) in [
            (Untrusted::Refuse, Verdict::Refuse),
            (Untrusted::Ignore, Verdict::Drop),
            (Untrusted::Accept, Verdict::Pass),
        ] {
            let mut admission = Admission::new(AdmissionPolicy {
                untrusted_invites: rule,
                ..AdmissionPolicy::default()
            });
            assert_eq!(admission.verdict(ms(0), ip("203.0.113.9"), true), verdict);
            assert_eq!(
                admission.verdict(ms(1), ip("203.0.113.9"), false),
                Verdict::Pass,
                "an OPTIONS probe is answered, within the rate"
            );
        }
    }

    #[test]
    fn a_flooding_source_is_banned_and_others_are_not() {
        let mut admission = Admission::new(AdmissionPolicy::default());
        let flooder = ip("203.0.113.66");
        let passed = (0..1000)
            .filter(|n| admission.verdict(ms(*n), flooder, false) == Verdict::Pass)
            .count();
        // A burst of 40 and 10 a second over the first second; then banned.
        assert!((40..=52).contains(&passed), "{passed} passed");
        assert_eq!(
            admission.verdict(Duration::from_secs(60), flooder, false),
            Verdict::Drop
        );
        assert_eq!(
            admission.verdict(ms(1000), ip("203.0.113.67"), false),
            Verdict::Pass
        );
        assert_eq!(
            admission.verdict(ms(1000), ip("127.0.0.1"), true),
            Verdict::Pass
        );
        assert_eq!(
            admission.verdict(Duration::from_secs(602), flooder, false),
            Verdict::Pass,
            "the ban ends"
        );
    }

    #[test]
    fn a_flood_of_new_addresses_cannot_grow_the_table() {
        let mut admission = Admission::new(AdmissionPolicy {
            max_sources: 100,
            ..AdmissionPolicy::default()
        });
        for n in 0..5000u32 {
            let address = IpAddr::from(n.to_be_bytes());
            admission.verdict(ms(u64::from(n)), address, false);
            assert!(admission.sources.len() <= 100);
        }
    }
}
