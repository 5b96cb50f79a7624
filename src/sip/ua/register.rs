//! Registration with a trunk or registrar (RFC 3261 section 10.2), with
//! digest authentication (section 22.4; SHA-256 per RFC 8760).

use std::net::SocketAddr;
use std::time::Duration;

use super::{ClientKind, SipEvent, UserAgent};
use crate::sip::dialog::{random_token, Dialog, Peer, Transport};
use crate::sip::digest::{self, Challenge};
use crate::sip::headers;
use crate::sip::message::SipMessage;

/// Registering voicegate's address with a trunk or registrar (RFC 3261
/// section 10.2), so calls to `user` reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The registrar's URI (the REGISTER's Request-URI).
    pub registrar: String,
    /// Where REGISTER goes (the registrar's resolved address).
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
    /// Seconds asked for; the registrar may grant fewer.
    pub expires: u32,
}

/// Seconds before retrying a failed registration.
const REGISTER_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(super) struct Registering {
    settings: Registration,
    dialog: Dialog,
    pub(super) next_at: Option<Duration>,
    /// The challenge to answer, and whether it came from a proxy (407).
    challenge: Option<(Challenge, bool)>,
    /// The nonce last answered: the same one again means the password is wrong.
    answered_nonce: Option<String>,
    nonce_count: u32,
}

impl UserAgent {
    /// Starts registering, and keeps the registration fresh.
    pub fn register(&mut self, now: Duration, settings: Registration) {
        let host = settings
            .registrar
            .split_once(':')
            .map_or("", |(_, host)| host);
        let aor = format!("<sip:{}@{host}>", settings.user);
        let dialog = Dialog {
            call_id: format!("{}@voicegate", random_token()),
            local: format!("{aor};tag={}", random_token()),
            remote: aor,
            remote_target: settings.registrar.clone(),
            route_set: Vec::new(),
            local_cseq: 0,
            peer: Peer {
                addr: settings.addr,
                transport: Transport::Udp,
            },
            contact: format!("sip:{}@{}", settings.user, self.local),
            product: self.product.clone(),
        };
        self.registration = Some(Registering {
            settings,
            dialog,
            next_at: None,
            challenge: None,
            answered_nonce: None,
            nonce_count: 0,
        });
        self.send_register(now);
    }

    pub(super) fn send_register(&mut self, now: Duration) {
        let local = self.local;
        let Some(registering) = self.registration.as_mut() else {
            return;
        };
        registering.next_at = None;
        let settings = &registering.settings;
        let mut extra = vec![("Expires", settings.expires.to_string())];
        if let Some((challenge, proxy)) = &registering.challenge {
            registering.nonce_count += 1;
            let answer = digest::Answer {
                user: &settings.user,
                password: &settings.password,
                method: "REGISTER",
                uri: &settings.registrar,
                cnonce: &random_token(),
                nonce_count: registering.nonce_count,
            };
            let name = if *proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            extra.push((name, digest::authorization(challenge, &answer)));
        }
        let request = registering.dialog.request("REGISTER", local, &extra, b"");
        let peer = registering.dialog.peer;
        self.start_client(now, "", ClientKind::Register, peer, request);
    }

    pub(super) fn on_register_response(
        &mut self,
        now: Duration,
        code: u16,
        response: Option<&SipMessage>,
    ) {
        let Some(registering) = self.registration.as_mut() else {
            return;
        };
        let outcome = match (code, response) {
            (200..=299, Some(response)) => {
                let granted = granted_expires(response).unwrap_or(registering.settings.expires);
                // Refresh well before the registration lapses.
                let refresh = Duration::from_secs(u64::from(granted))
                    .mul_f64(0.8)
                    .max(Duration::from_secs(5));
                registering.next_at = Some(now + refresh);
                registering.answered_nonce = None;
                Ok(format!(
                    "registered as {} with {} for {granted} s",
                    registering.settings.user, registering.settings.registrar
                ))
            }
            (401 | 407, Some(response)) => {
                let header = if code == 407 {
                    "proxy-authenticate"
                } else {
                    "www-authenticate"
                };
                let offers = headers::all_values_raw(response, header);
                match digest::best_challenge(offers.iter().map(String::as_str)) {
                    Ok(challenge) if registering.answered_nonce.as_deref() == Some(&challenge.nonce) && !challenge.stale => {
                        Err(format!("{} refused the credentials of {}: check sip.register.user and password", registering.settings.registrar, registering.settings.user))
                    }
                    Ok(challenge) => {
                        registering.answered_nonce = Some(challenge.nonce.clone());
                        registering.nonce_count = 0;
                        registering.challenge = Some((challenge, code == 407));
                        return self.send_register(now);
                    }
                    Err(error) => Err(format!("{}: {error}", registering.settings.registrar)),
                }
            }
            (code, _) => Err(format!(
                "{} answered REGISTER with {code}",
                registering.settings.registrar
            )),
        };
        if outcome.is_err() {
            registering.next_at = Some(now + REGISTER_RETRY);
        }
        let (registered, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.events
            .push_back(SipEvent::Registration { registered, detail });
    }
}

/// The registration time a 2xx to REGISTER grants: the Contact's expires
/// parameter, else the Expires header (RFC 3261 section 10.2.4).
fn granted_expires(response: &SipMessage) -> Option<u32> {
    let from_contact = response
        .header("contact")
        .and_then(|contact| headers::param(contact, "expires"))
        .and_then(|value| value.parse().ok());
    from_contact.or_else(|| response.header("expires")?.trim().parse().ok())
}
