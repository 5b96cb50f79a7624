//! The UAC side: calling an agent for a bridged transfer (RFC 3261 sections
//! 8.1, 12.1.2, 13.2, 17.1), ACK for its 2xx (13.2.2.4), and its BYE.

use super::*;

impl UserAgent {
    /// Calls an agent for a bridged transfer, offering `local_media`.
    /// Returns false when the URI names no IP address voicegate can reach.
    pub fn call_agent(
        &mut self,
        now: Duration,
        call: &str,
        target: &str,
        local_media: SocketAddr,
    ) -> bool {
        let Some(addr) = headers::socket_addr(target) else {
            return false;
        };
        let Some(leg) = self.calls.get(call) else {
            return false;
        };
        let peer = Peer {
            addr,
            transport: crate::sip::dialog::Transport::Udp,
        };
        let from_user = headers::user(headers::uri(&leg.dialog.remote)).unwrap_or("voicegate");
        let mut dialog = Dialog {
            call_id: format!("{}@voicegate", random_token()),
            local: format!("<sip:{from_user}@{}>;tag={}", self.local, random_token()),
            remote: format!("<{target}>"),
            remote_target: target.to_string(),
            route_set: Vec::new(),
            local_cseq: 0,
            peer,
            contact: self.contact.clone(),
            product: self.product.clone(),
        };
        let body = sdp::offer(local_media, fastrand::u64(1..u64::from(u32::MAX)));
        let extra = [
            ("Content-Type", "application/sdp".to_string()),
            ("Allow", ALLOW.to_string()),
        ];
        let invite = dialog.request("INVITE", self.local, &extra, body.as_bytes());
        self.agent_calls
            .insert(dialog.call_id.clone(), call.to_string());
        if let Some(leg) = self.calls.get_mut(call) {
            leg.agent = Some(AgentLeg {
                dialog,
                invite: invite.clone(),
                up: false,
                ack: None,
            });
        }
        self.start_client(now, call, ClientKind::AgentInvite, peer, invite);
        true
    }

    /// Ends the agent leg of a bridged call.
    pub fn hang_up_agent(&mut self, now: Duration, call: &str) {
        let local = self.local;
        let Some(agent) = self.calls.get_mut(call).and_then(|leg| leg.agent.as_mut()) else {
            return;
        };
        if !agent.up {
            return;
        }
        agent.up = false;
        let bye = agent.dialog.request("BYE", local, &[], b"");
        let peer = agent.dialog.peer;
        self.start_client(now, call, ClientKind::AgentBye, peer, bye);
    }

    /// A retransmitted 2xx from the agent means our ACK was lost (section 13.2.2.4).
    pub(super) fn resend_agent_ack(&mut self, message: &SipMessage) {
        let id = message.header("call-id").unwrap_or_default();
        let Some(call) = self.agent_calls.get(id) else {
            return;
        };
        let ack = self
            .calls
            .get(call)
            .and_then(|leg| leg.agent.as_ref())
            .and_then(|agent| agent.ack.clone().map(|ack| (agent.dialog.peer, ack)));
        if let Some((peer, ack)) = ack {
            self.send(peer, ack);
        }
    }

    pub(super) fn agent_answered(
        &mut self,
        now: Duration,
        call: &str,
        code: u16,
        response: Option<&SipMessage>,
    ) {
        let local = self.local;
        let Some(agent) = self.calls.get_mut(call).and_then(|leg| leg.agent.as_mut()) else {
            return;
        };
        let invite_cseq = agent.invite.cseq;
        let state = match response {
            Some(response) if (200..300).contains(&code) => {
                agent.dialog.confirm_as_uac(response);
                let ack = agent.dialog.request_with_cseq(
                    "ACK",
                    invite_cseq,
                    local,
                    &new_branch(),
                    &[],
                    b"",
                );
                agent.ack = Some(ack.bytes.clone());
                self.transmits.push_back(Transmit {
                    peer: agent.dialog.peer,
                    bytes: ack.bytes,
                });
                let answer = String::from_utf8_lossy(&response.body).to_string();
                match sdp::negotiate(&answer) {
                    Ok(media) => {
                        agent.up = true;
                        AgentState::Answered(media)
                    }
                    Err(_) => {
                        agent.up = true;
                        self.hang_up_agent(now, call);
                        AgentState::Failed(488)
                    }
                }
            }
            Some(response) => {
                // The ACK for a non-2xx reuses the INVITE's branch (section 17.1.1.3).
                let mut dialog = agent.dialog.clone();
                dialog.remote = response.header("to").unwrap_or_default().to_string();
                let branch = agent.invite.branch.clone();
                let ack = dialog.request_with_cseq("ACK", invite_cseq, local, &branch, &[], b"");
                self.transmits.push_back(Transmit {
                    peer: dialog.peer,
                    bytes: ack.bytes,
                });
                AgentState::Failed(code)
            }
            None => AgentState::Failed(code),
        };
        self.events.push_back(SipEvent::Agent {
            call: call.to_string(),
            state,
        });
    }
}
