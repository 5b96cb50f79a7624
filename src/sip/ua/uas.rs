//! The UAS side: answering calls (RFC 3261 sections 8.2, 12.1.1, 13.3),
//! CANCEL (9.2), BYE (15.1.2), re-INVITE and UPDATE for hold (14, RFC 3311),
//! INFO DTMF, the REFER's NOTIFY (RFC 3515 section 2.4.5) and session timers
//! (RFC 4028).

use super::validation::{info_digit, unsupported_extensions, warning};
use super::*;

impl UserAgent {
    /// Answers an offered call: 180 Ringing now, 200 OK after the ring time.
    pub fn accept(&mut self, now: Duration, call: &str, local_media: SocketAddr) {
        let ring = self.ring;
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        if leg.state != LegState::Offered {
            return;
        }
        leg.local_media = Some(local_media);
        leg.state = LegState::Ringing;
        leg.answer_at = Some(now + ring);
        let (invite, peer, tag) = (leg.invite.clone(), leg.peer, leg.local_tag.clone());
        let headers = self.dialog_headers(&invite);
        self.respond(now, &invite, peer, 180, "Ringing", Some(&tag), headers, b"");
        self.reschedule_leg(call);
        if ring.is_zero() {
            self.answer(now, call);
        }
    }

    /// Refuses an offered call (no media port free: 503).
    pub fn reject(&mut self, now: Duration, call: &str, code: u16, reason: &str) {
        if let Some(leg) = self.calls.get(call) {
            if matches!(leg.state, LegState::Offered | LegState::Ringing) {
                self.fail_invite(now, call, code, reason, EndReason::Rejected(code));
            }
        }
    }

    /// Blind transfer of the caller to `target` (RFC 3515).
    pub fn refer(&mut self, now: Duration, call: &str, target: &str) {
        let local = self.local;
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        if leg.state != LegState::Answered {
            return;
        }
        let referred_by = format!("<{}>", headers::uri(&leg.dialog.local));
        let extra = [
            ("Refer-To", format!("<{target}>")),
            ("Referred-By", referred_by),
        ];
        let request = leg.dialog.request("REFER", local, &extra, b"");
        let peer = leg.dialog.peer;
        self.start_client(now, call, ClientKind::Refer, peer, request);
    }

    /// Ends the caller's leg (and the agent's, if bridged).
    pub fn hang_up(&mut self, now: Duration, call: &str) {
        let Some(state) = self.calls.get(call).map(|leg| leg.state) else {
            return;
        };
        match state {
            LegState::Offered | LegState::Ringing => self.fail_invite(
                now,
                call,
                480,
                "Temporarily Unavailable",
                EndReason::Gateway,
            ),
            LegState::Answered => self.end_answered(now, call, EndReason::Gateway),
            LegState::Ended => {}
        }
    }

    pub(super) fn call_timers(&mut self, now: Duration, call: &str) {
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        if leg.remove_at.is_some_and(|at| at <= now) {
            let leg = self.calls.remove(call);
            self.ended_calls = self.ended_calls.saturating_sub(1);
            if let Some(agent) = leg.and_then(|leg| leg.agent) {
                self.agent_calls.remove(&agent.dialog.call_id);
            }
            return;
        }
        if leg.answer_at.is_some_and(|at| at <= now) {
            return self.answer(now, call);
        }
        let peer = leg.peer;
        let mut no_ack = false;
        if let Some(unacked) = leg.unacked.as_mut() {
            if let Some(bytes) = unacked.due(now) {
                self.transmits.push_back(Transmit {
                    peer,
                    bytes: bytes.to_vec(),
                });
            }
            no_ack = unacked.expired(now);
        }
        let expired = leg.session_expires.is_some_and(|(_, at)| at <= now);
        if no_ack {
            // RFC 3261 section 13.3.1.4: no ACK for the 2xx, so end the session.
            self.end_answered(now, call, EndReason::NoAck);
        } else if expired {
            self.end_answered(now, call, EndReason::SessionExpired);
        }
    }

    pub(super) fn answer(&mut self, now: Duration, call: &str) {
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        leg.answer_at = None;
        let Some(local_media) = leg.local_media else {
            return self.reschedule_leg(call);
        };
        leg.state = LegState::Answered;
        let body = match &leg.offer {
            Some(offer) => sdp::answer(offer, local_media, leg.sdp_session, leg.sdp_version),
            None => sdp::offer(local_media, leg.sdp_session),
        };
        let answered = leg.offer.clone();
        let (invite, peer, tag) = (leg.invite.clone(), leg.peer, leg.local_tag.clone());
        let mut extra = self.dialog_headers(&invite);
        extra.push(("Content-Type", "application/sdp".to_string()));
        self.send_ok_with_sdp(now, call, &invite, peer, &tag, extra, &body);
        if let Some(media) = answered {
            self.events.push_back(SipEvent::Answered {
                call: call.to_string(),
                media,
            });
        }
    }

    /// The 200 with our SDP answer to an INVITE or re-INVITE, resent until
    /// the ACK (RFC 3261 section 13.3.1.4).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_ok_with_sdp(
        &mut self,
        now: Duration,
        call: &str,
        request: &SipMessage,
        peer: Peer,
        tag: &str,
        mut extra: Vec<(&'static str, String)>,
        body: &str,
    ) {
        extra.extend(self.session_timer(now, call, request));
        let bytes = self.respond(
            now,
            request,
            peer,
            200,
            "OK",
            Some(tag),
            extra,
            body.as_bytes(),
        );
        if let Some(leg) = self.calls.get_mut(call) {
            leg.unacked = Some(Retransmit::new(bytes, now, peer.transport.reliable()));
        }
        self.reschedule_leg(call);
    }

    /// Session-Expires for a 2xx when the caller asked for a session timer
    /// (RFC 4028 section 9): the caller refreshes; we hang up if it does not.
    pub(super) fn session_timer(
        &mut self,
        now: Duration,
        call: &str,
        request: &SipMessage,
    ) -> Vec<(&'static str, String)> {
        let Some(seconds) = request
            .header("session-expires")
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return Vec::new();
        };
        // RFC 4028 section 9: the UAS may lower the interval (never below
        // Min-SE); a day is plenty, and a peer's huge value must not overflow
        // the clock.
        let seconds = seconds.clamp(MIN_SESSION_EXPIRES, MAX_SESSION_EXPIRES);
        let interval = Duration::from_secs(seconds);
        if let Some(leg) = self.calls.get_mut(call) {
            leg.session_expires = Some((interval, now + interval));
        }
        self.reschedule_leg(call);
        let mut headers = vec![("Session-Expires", format!("{seconds};refresher=uac"))];
        let supports_timer = request
            .header("supported")
            .is_some_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("timer")));
        if supports_timer {
            headers.push(("Require", "timer".to_string()));
        }
        headers
    }

    /// Contact, Allow, Supported and the copied Record-Route of a response
    /// that creates or confirms a dialog (RFC 3261 section 12.1.1).
    pub(super) fn dialog_headers(&self, request: &SipMessage) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&'static str, String)> = headers::all_values(request, "record-route")
            .into_iter()
            .map(|route| ("Record-Route", route))
            .collect();
        headers.push(("Contact", format!("<{}>", self.contact)));
        headers.push(("Allow", ALLOW.to_string()));
        headers.push(("Supported", SUPPORTED.to_string()));
        headers
    }

    pub(super) fn on_request(
        &mut self,
        now: Duration,
        peer: Peer,
        method: &str,
        request: SipMessage,
    ) {
        let branch = headers::top_branch(&request)
            .unwrap_or_default()
            .to_string();
        if method != "ACK" {
            if let Some(answered) = self.answered.get(&(branch.clone(), method.to_string())) {
                let bytes = answered.clone();
                return self.send(peer, bytes);
            }
        }
        match method {
            "INVITE" if headers::tag(request.header("to").unwrap_or_default()).is_none() => {
                self.on_invite(now, peer, branch, request)
            }
            "INVITE" => self.on_reinvite(now, peer, &request),
            "ACK" => self.on_ack(now, &branch, &request),
            "CANCEL" => self.on_cancel(now, peer, &branch, &request),
            "BYE" => self.on_bye(now, peer, &request),
            "OPTIONS" => {
                let extra = vec![
                    ("Allow", ALLOW.to_string()),
                    ("Accept", "application/sdp".to_string()),
                    ("Supported", SUPPORTED.to_string()),
                ];
                self.respond(
                    now,
                    &request,
                    peer,
                    200,
                    "OK",
                    Some(&random_token()),
                    extra,
                    b"",
                );
            }
            "INFO" => self.on_info(now, peer, &request),
            "NOTIFY" => self.on_notify(now, peer, &request),
            "UPDATE" => self.on_update(now, peer, &request),
            "REGISTER" | "SUBSCRIBE" | "PUBLISH" | "MESSAGE" | "REFER" | "PRACK" => {
                let extra = vec![("Allow", ALLOW.to_string())];
                self.respond(
                    now,
                    &request,
                    peer,
                    405,
                    "Method Not Allowed",
                    None,
                    extra,
                    b"",
                );
            }
            _ => {
                let extra = vec![("Allow", ALLOW.to_string())];
                self.respond(
                    now,
                    &request,
                    peer,
                    501,
                    "Not Implemented",
                    None,
                    extra,
                    b"",
                );
            }
        }
    }

    pub(super) fn on_invite(
        &mut self,
        now: Duration,
        peer: Peer,
        branch: String,
        invite: SipMessage,
    ) {
        let call = invite.header("call-id").unwrap_or_default().to_string();
        if self.calls.contains_key(&call) {
            return; // a copy of the INVITE forked back to us: already handled
        }
        if let Some(unsupported) = unsupported_extensions(&invite) {
            let extra = vec![("Unsupported", unsupported)];
            return self.final_to_invite(now, &invite, peer, 420, "Bad Extension", extra);
        }
        if self.draining || self.calls.len() - self.ended_calls >= self.max_calls {
            // Shed load before the call costs anything (RFC 3261 section 21.5.4).
            tracing::warn!(
                calls = self.calls.len(),
                draining = self.draining,
                "new call refused with 503"
            );
            let extra = vec![("Retry-After", BUSY_RETRY_AFTER_S.to_string())];
            return self.final_to_invite(now, &invite, peer, 503, "Service Unavailable", extra);
        }
        self.respond(now, &invite, peer, 100, "Trying", None, Vec::new(), b"");
        // RFC 3325: a P-Asserted-Identity counts only from a trusted source.
        let asserted = invite
            .header("p-asserted-identity")
            .filter(|_| self.admission.is_trusted(peer.addr.ip()))
            .and_then(|identity| headers::user(headers::uri(identity)));
        let verified = asserted.is_some();
        let caller = asserted
            .or_else(|| headers::user(headers::uri(invite.header("from").unwrap_or_default())))
            .unwrap_or("anonymous")
            .to_string();
        let dialed = match &invite.start {
            StartLine::Request { uri, .. } => headers::user(uri).unwrap_or("ivr").to_string(),
            StartLine::Response { .. } => String::new(),
        };
        let offer = if headers::has_sdp(&invite) {
            sdp::negotiate(&String::from_utf8_lossy(&invite.body))
                .map(Some)
                .map_err(|e| e.to_string())
        } else {
            Ok(None) // a delayed offer: ours goes in the 200, the ACK answers
        };
        let offer = match offer {
            Ok(offer) => offer,
            Err(problem) => {
                tracing::info!(%call, %problem, "refused a call with 488");
                let warning = warning(&problem);
                self.final_to_invite(
                    now,
                    &invite,
                    peer,
                    488,
                    "Not Acceptable Here",
                    vec![("Warning", warning)],
                );
                return self.events.push_back(SipEvent::Refused {
                    call,
                    caller,
                    dialed,
                    code: 488,
                });
            }
        };
        let local_tag = random_token();
        let mut dialog = Dialog::for_uas(&invite, &local_tag, peer, &self.contact);
        dialog.product = self.product.clone();
        self.calls.insert(
            call.clone(),
            InboundCall {
                invite,
                invite_branch: branch,
                peer,
                state: LegState::Offered,
                dialog,
                local_tag,
                offer: offer.clone(),
                local_media: None,
                sdp_session: fastrand::u64(1..u64::from(u32::MAX)),
                sdp_version: 1,
                answer_at: None,
                unacked: None,
                session_expires: None,
                agent: None,
                remove_at: None,
            },
        );
        self.events.push_back(SipEvent::Incoming {
            call,
            caller,
            verified,
            dialed,
            offer,
        });
    }

    pub(super) fn on_reinvite(&mut self, now: Duration, peer: Peer, request: &SipMessage) {
        let Some(call) = self.call_of(request) else {
            return self.no_dialog(now, peer, request);
        };
        let offer = if headers::has_sdp(request) {
            match sdp::negotiate(&String::from_utf8_lossy(&request.body)) {
                Ok(offer) => Some(offer),
                Err(error) => {
                    let warning = warning(&error.to_string());
                    return self.final_to_invite(
                        now,
                        request,
                        peer,
                        488,
                        "Not Acceptable Here",
                        vec![("Warning", warning)],
                    );
                }
            }
        } else {
            None
        };
        let Some(leg) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(offer) = &offer {
            leg.offer = Some(offer.clone());
        }
        leg.sdp_version += 1;
        let body = match (leg.local_media, &leg.offer) {
            (Some(local), Some(offer)) => {
                sdp::answer(offer, local, leg.sdp_session, leg.sdp_version)
            }
            _ => String::new(),
        };
        let tag = leg.local_tag.clone();
        let mut extra = self.dialog_headers(request);
        extra.push(("Content-Type", "application/sdp".to_string()));
        self.send_ok_with_sdp(now, &call, request, peer, &tag, extra, &body);
        if let Some(media) = offer {
            self.events
                .push_back(SipEvent::MediaChanged { call, media });
        }
    }

    pub(super) fn on_ack(&mut self, now: Duration, branch: &str, request: &SipMessage) {
        if self.awaiting_ack.remove(branch).is_some() {
            return self.timers.set(Timer::Ack(branch.to_string()), None);
        }
        let call = request.header("call-id").unwrap_or_default().to_string();
        let Some(leg) = self.calls.get_mut(&call) else {
            return;
        };
        leg.unacked = None;
        let delayed_offer = leg.offer.is_none() && leg.state == LegState::Answered;
        self.reschedule_leg(&call);
        let Some(leg) = self.calls.get_mut(&call).filter(|_| delayed_offer) else {
            return;
        };
        // The ACK of a delayed offer carries the answer (RFC 3264 section 5);
        // without a usable one the call cannot have media: BYE.
        let answer = headers::has_sdp(request)
            .then(|| sdp::negotiate(&String::from_utf8_lossy(&request.body)));
        match answer {
            Some(Ok(media)) => {
                leg.offer = Some(media.clone());
                self.events.push_back(SipEvent::Answered { call, media });
            }
            problem => {
                tracing::info!(%call, ?problem, "the ACK answered voicegate's offer with no usable media: BYE");
                self.end_answered(now, &call, EndReason::Rejected(488));
            }
        }
    }

    pub(super) fn on_cancel(
        &mut self,
        now: Duration,
        peer: Peer,
        branch: &str,
        cancel: &SipMessage,
    ) {
        let call = cancel.header("call-id").unwrap_or_default().to_string();
        let matched = self
            .calls
            .get(&call)
            .filter(|leg| leg.invite_branch == branch)
            .map(|leg| leg.state);
        let Some(state) = matched else {
            return self.no_dialog(now, peer, cancel);
        };
        let tag = self.calls.get(&call).map(|leg| leg.local_tag.clone());
        self.respond(
            now,
            cancel,
            peer,
            200,
            "OK",
            tag.as_deref(),
            Vec::new(),
            b"",
        );
        if matches!(state, LegState::Offered | LegState::Ringing) {
            // RFC 3261 section 9.2: the INVITE ends with 487.
            self.fail_invite(now, &call, 487, "Request Terminated", EndReason::Cancelled);
        }
    }

    pub(super) fn on_bye(&mut self, now: Duration, peer: Peer, bye: &SipMessage) {
        let id = bye.header("call-id").unwrap_or_default();
        if let Some(call) = self.agent_calls.get(id).cloned() {
            self.respond(now, bye, peer, 200, "OK", None, Vec::new(), b"");
            if let Some(agent) = self.calls.get_mut(&call).and_then(|leg| leg.agent.as_mut()) {
                agent.up = false;
            }
            return self.events.push_back(SipEvent::Agent {
                call,
                state: AgentState::HungUp,
            });
        }
        let Some(call) = self.call_of(bye) else {
            return self.no_dialog(now, peer, bye);
        };
        self.respond(now, bye, peer, 200, "OK", None, Vec::new(), b"");
        if let Some(leg) = self.calls.get_mut(&call) {
            leg.unacked = None;
            if leg.state != LegState::Ended {
                self.hang_up_agent(now, &call);
                self.finish(now, &call, EndReason::Caller);
            }
        }
        self.reschedule_leg(&call);
    }

    pub(super) fn on_info(&mut self, now: Duration, peer: Peer, info: &SipMessage) {
        let Some(call) = self.call_of(info) else {
            return self.no_dialog(now, peer, info);
        };
        self.respond(now, info, peer, 200, "OK", None, Vec::new(), b"");
        if let Some(digit) = info_digit(info) {
            self.events.push_back(SipEvent::Dtmf { call, digit });
        }
    }

    pub(super) fn on_notify(&mut self, now: Duration, peer: Peer, notify: &SipMessage) {
        let Some(call) = self.call_of(notify) else {
            return self.no_dialog(now, peer, notify);
        };
        self.respond(now, notify, peer, 200, "OK", None, Vec::new(), b"");
        let is_refer = notify
            .header("event")
            .is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("refer"));
        // RFC 3515 section 2.4.5: the body is a sipfrag whose status line is the progress.
        let status = String::from_utf8_lossy(&notify.body)
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("SIP/2.0 ").map(str::to_string))
            .and_then(|rest| rest.get(..3).and_then(|code| code.parse::<u16>().ok()));
        if let (true, Some(code)) = (is_refer, status) {
            if code >= 200 {
                self.events.push_back(SipEvent::Refer {
                    call,
                    progress: ReferProgress::Completed(code),
                });
            }
        }
    }

    pub(super) fn on_update(&mut self, now: Duration, peer: Peer, update: &SipMessage) {
        let Some(call) = self.call_of(update) else {
            return self.no_dialog(now, peer, update);
        };
        let mut extra = vec![("Contact", format!("<{}>", self.contact))];
        extra.extend(self.session_timer(now, &call, update));
        self.respond(now, update, peer, 200, "OK", None, extra, b"");
    }

    /// The caller leg a request belongs to (by Call-ID, in an open dialog).
    pub(super) fn call_of(&self, request: &SipMessage) -> Option<String> {
        let id = request.header("call-id")?;
        let leg = self.calls.get(id)?;
        let to_tag = headers::tag(request.header("to")?)?;
        (to_tag == leg.local_tag && leg.state != LegState::Ended).then(|| id.to_string())
    }

    pub(super) fn no_dialog(&mut self, now: Duration, peer: Peer, request: &SipMessage) {
        self.respond(
            now,
            request,
            peer,
            481,
            "Call/Transaction Does Not Exist",
            None,
            Vec::new(),
            b"",
        );
    }

    /// BYE to an answered caller (and agent), then the call is over.
    pub(super) fn end_answered(&mut self, now: Duration, call: &str, how: EndReason) {
        let local = self.local;
        self.hang_up_agent(now, call);
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        leg.unacked = None;
        let bye = leg.dialog.request("BYE", local, &[], b"");
        let peer = leg.dialog.peer;
        self.start_client(now, call, ClientKind::Bye, peer, bye);
        self.finish(now, call, how);
    }

    /// A final non-2xx to a pending INVITE, and the call is over.
    pub(super) fn fail_invite(
        &mut self,
        now: Duration,
        call: &str,
        code: u16,
        reason: &str,
        how: EndReason,
    ) {
        let Some(leg) = self.calls.get(call) else {
            return;
        };
        let (invite, peer, tag) = (leg.invite.clone(), leg.peer, leg.local_tag.clone());
        let bytes = self.respond(
            now,
            &invite,
            peer,
            code,
            reason,
            Some(&tag),
            Vec::new(),
            b"",
        );
        self.await_ack(&invite, bytes, peer, now);
        self.finish(now, call, how);
    }

    /// A final non-2xx to an INVITE that never became a call.
    pub(super) fn final_to_invite(
        &mut self,
        now: Duration,
        invite: &SipMessage,
        peer: Peer,
        code: u16,
        reason: &str,
        extra: Vec<(&'static str, String)>,
    ) {
        let tag = random_token();
        let bytes = self.respond(now, invite, peer, code, reason, Some(&tag), extra, b"");
        self.await_ack(invite, bytes, peer, now);
    }

    /// Resends a non-2xx final to `invite` until its ACK (Timer G/H);
    /// past the cap it is sent once (the caller's retransmission of the
    /// INVITE gets it again).
    fn await_ack(&mut self, invite: &SipMessage, bytes: Vec<u8>, peer: Peer, now: Duration) {
        if self.awaiting_ack.len() < self.max_transactions {
            let branch = headers::top_branch(invite).unwrap_or_default().to_string();
            let retransmit = Retransmit::new(bytes, now, peer.transport.reliable());
            let due = Some(retransmit.deadline());
            self.timers.set(Timer::Ack(branch.clone()), due);
            self.awaiting_ack.insert(branch, (retransmit, peer));
        }
    }

    /// Resends a non-2xx final whose ACK has not come; after Timer H, forgets it.
    pub(super) fn ack_timer(&mut self, now: Duration, branch: &str) {
        let Some((retransmit, peer)) = self.awaiting_ack.get_mut(branch) else {
            return;
        };
        if let Some(bytes) = retransmit.due(now) {
            self.transmits.push_back(Transmit {
                peer: *peer,
                bytes: bytes.to_vec(),
            });
        }
        let timer = Timer::Ack(branch.to_string());
        if retransmit.expired(now) {
            self.awaiting_ack.remove(branch);
            self.timers.set(timer, None);
        } else {
            let due = Some(retransmit.deadline());
            self.timers.set(timer, due);
        }
    }

    pub(super) fn finish(&mut self, now: Duration, call: &str, how: EndReason) {
        if let Some(leg) = self.calls.get_mut(call) {
            if leg.state != LegState::Ended {
                self.ended_calls += 1;
            }
            leg.state = LegState::Ended;
            leg.answer_at = None;
            leg.session_expires = None;
            leg.remove_at = Some(now + GIVE_UP);
            self.events.push_back(SipEvent::Ended {
                call: call.to_string(),
                how,
            });
        }
        self.reschedule_leg(call);
    }
}
