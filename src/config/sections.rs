//! The sections of gateway.toml and their defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

/// `[keywords]`: the keyword model and the words voicegate listens for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeywordSettings {
    /// The keyword model's manifest, relative to gateway.toml.
    pub model: PathBuf,
    /// Words heard on calls; each must be a class of the model. Policy words
    /// act on them, spoken digits choose menu options, and menu phrases
    /// among them match spoken options.
    pub words: Vec<String>,
}

impl Default for KeywordSettings {
    fn default() -> Self {
        let words = [
            "agent",
            "representative",
            "operator",
            "complaint",
            "refund",
            "yes",
            "no",
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "人工",
            "转人工",
            "投诉",
            "赔偿",
            "是",
            "不是",
            "零",
            "一",
            "二",
            "三",
            "四",
            "五",
            "六",
            "七",
            "八",
            "九",
        ];
        KeywordSettings {
            model: PathBuf::from("../models/kws.toml"),
            words: words.map(String::from).to_vec(),
        }
    }
}

/// A place calls are transferred to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// SIP URI used as Refer-To.
    pub uri: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MenuSettings {
    /// The menu file, relative to gateway.toml.
    pub file: PathBuf,
    /// The prompts directory, relative to gateway.toml.
    pub prompts: PathBuf,
}

impl Default for MenuSettings {
    fn default() -> Self {
        MenuSettings {
            file: PathBuf::from("menus/main.toml"),
            prompts: PathBuf::from("prompts"),
        }
    }
}

/// How the caller's audio becomes anger scores.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// The anger model's manifest, relative to gateway.toml.
    pub anger_model: PathBuf,
    /// Share of each new window score in the smoothed score (1 = no smoothing).
    pub smoothing: f32,
    /// Windows waiting for each model at most; past it, new ones are skipped.
    pub queue_windows: usize,
    /// Inference threads for the keyword model, each with its own session.
    pub keyword_threads: usize,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            anger_model: PathBuf::from("../models/anger.toml"),
            // 0.7 reacts within about 3 s of sustained anger; with 0.5 it took 5.5 s
            // on the angry fixture, for one fewer happy false transfer in 14 calls.
            smoothing: 0.7,
            // About a second of windows for 1,000 calls: a score later than that is stale.
            queue_windows: 10_000,
            // The keyword model is most of a call's CPU: two threads use
            // both cores of the sample machine (below the calls' own
            // threads and the anger model's, see serve::scorer).
            keyword_threads: 2,
        }
    }
}

/// Where `voicegate serve` takes calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSettings {
    /// UDP and TCP address for SIP.
    pub listen: SocketAddr,
    /// The address put in Via, Contact and SDP when `listen` is a wildcard.
    pub advertise: Option<IpAddr>,
    /// The user part of our Contact URI.
    pub user: String,
    /// Seconds of 180 Ringing before the 200 OK.
    pub ring_s: f64,
    /// Register with a trunk or registrar (optional).
    pub register: Option<RegisterSettings>,
    /// Users untrusted sources may authenticate as (optional; see `untrusted_invites`).
    pub auth: Option<AuthSettings>,
    /// What Server and User-Agent headers say; empty sends neither. No
    /// version by default: it tells a scanner which bugs to try.
    pub product: String,
    /// Calls held at once; a new INVITE past it gets 503 with Retry-After.
    pub max_calls: usize,
    /// Answered requests (for retransmissions) and refused INVITEs waiting
    /// for their ACK, remembered at most, each.
    pub max_transactions: usize,
    /// Sources (addresses or CIDRs) never limited, whose P-Asserted-Identity
    /// is believed: the trunk.
    pub trusted: Vec<ipnet::IpNet>,
    /// An INVITE from any other source: refuse (403), ignore, or accept.
    pub untrusted_invites: crate::sip::Untrusted,
    /// Requests per second, sustained, from one untrusted source.
    pub source_rate: f64,
    /// Requests at once from one untrusted source.
    pub source_burst: f64,
    /// Seconds a source that went past its rate is ignored.
    pub ban_s: f64,
    /// Seconds calls may go on after SIGTERM before voicegate hangs them up.
    pub drain_s: f64,
    /// SIP TCP connections held at once, trusted and untrusted counted apart.
    pub tcp_connections: usize,
    /// SIP TCP connections from one untrusted address.
    pub tcp_per_source: usize,
    /// Seconds a TCP connection may send nothing (CRLF keep-alives count).
    pub tcp_idle_s: f64,
    /// Seconds a message begun on TCP has to arrive whole.
    pub tcp_read_s: f64,
}

/// `[sip.register]`: keep voicegate registered so the trunk sends it calls.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterSettings {
    /// The registrar's SIP URI, e.g. `sip:trunk.example.com` or `sip:192.0.2.5:5060`.
    pub registrar: String,
    pub user: String,
    pub password: String,
    /// Seconds to ask for.
    #[serde(default = "default_register_expires")]
    pub expires: u32,
}

/// `[sip.auth]`: digest credentials callers from untrusted sources must
/// give when `untrusted_invites = "authenticate"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    #[serde(default = "default_realm")]
    pub realm: String,
    /// User name → password.
    pub users: std::collections::HashMap<String, String>,
    /// Seconds a challenge's nonce may be used.
    #[serde(default = "default_nonce_s")]
    pub nonce_s: f64,
    /// Wrong credentials from one source before it is banned for `ban_s`.
    #[serde(default = "default_max_failures")]
    pub max_failures: u32,
}

fn default_realm() -> String {
    "voicegate".into()
}

fn default_nonce_s() -> f64 {
    300.0
}

fn default_max_failures() -> u32 {
    5
}

fn default_register_expires() -> u32 {
    3600
}

impl Default for SipSettings {
    fn default() -> Self {
        SipSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            advertise: None,
            user: "ivr".into(),
            ring_s: 0.0,
            register: None,
            auth: None,
            product: crate::sip::PRODUCT.to_string(),
            max_calls: crate::sip::DEFAULT_MAX_CALLS,
            max_transactions: crate::sip::DEFAULT_MAX_TRANSACTIONS,
            trusted: crate::sip::AdmissionPolicy::default().trusted,
            untrusted_invites: crate::sip::Untrusted::Refuse,
            source_rate: 10.0,
            source_burst: 40.0,
            ban_s: 600.0,
            drain_s: 30.0,
            tcp_connections: 1024,
            tcp_per_source: 16,
            // Above common session-refresh intervals, so a trunk's quiet
            // connection outlives its calls' re-INVITEs.
            tcp_idle_s: 900.0,
            tcp_read_s: 10.0,
        }
    }
}

/// Media sockets of live calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpSettings {
    /// Local address RTP sockets bind to.
    pub address: IpAddr,
    /// Inclusive range of UDP ports; each call takes one even port.
    pub ports: [u16; 2],
    /// Seconds without a packet from the caller before hanging up.
    pub inactivity_s: f64,
    /// Packets the jitter buffer holds before playout.
    pub jitter_packets: usize,
}

impl Default for RtpSettings {
    fn default() -> Self {
        RtpSettings {
            address: IpAddr::from([127, 0, 0, 1]),
            ports: [20000, 23999],
            inactivity_s: 30.0,
            jitter_packets: 3,
        }
    }
}

/// How a transfer is carried out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferSettings {
    /// Played when no agent can be reached; the gateway then keeps trying.
    pub sorry_prompt: String,
    /// Seconds between attempts to reach an agent for a queued caller.
    pub retry_s: f64,
    /// Tell waiting callers their place in line and expected wait
    /// (prompts `queue_position_1`…`_9`, `_more`, `queue_wait_1`…`_5`, `_more`).
    pub announce_place: bool,
    /// Seconds each caller ahead is expected to take, until the line has
    /// served callers and measured it.
    pub expected_wait_s: f64,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            sorry_prompt: "agents_busy".into(),
            retry_s: 15.0,
            announce_place: true,
            expected_wait_s: 60.0,
        }
    }
}
