//! Client transactions (RFC 3261 section 17.1): our requests sent, resent
//! over UDP until answered (Timers A/B, E/F), matched to their responses by
//! branch, and their outcomes handed to the leg they belong to.

use super::*;

impl UserAgent {
    pub(super) fn client_timers(&mut self, now: Duration) {
        let mut failed = Vec::new();
        for client in &mut self.clients {
            if let Some(bytes) = client.retransmit.due(now) {
                self.transmits.push_back(Transmit {
                    peer: client.peer,
                    bytes: bytes.to_vec(),
                });
            }
            if client.retransmit.expired(now) {
                failed.push((client.call.clone(), client.kind));
            }
        }
        self.clients.retain(|c| !c.retransmit.expired(now));
        for (call, kind) in failed {
            // Timer B/F: the request timed out, as if answered 408.
            self.client_finished(now, &call, kind, 408, None);
        }
    }

    pub(super) fn on_response(&mut self, now: Duration, code: u16, message: &SipMessage) {
        let branch = headers::top_branch(message).unwrap_or_default();
        let Some(index) = self.clients.iter().position(|c| c.branch == branch) else {
            return self.resend_agent_ack(message);
        };
        if code < 200 {
            let client = &mut self.clients[index];
            client
                .retransmit
                .slow_down(client.kind == ClientKind::AgentInvite, now);
            return;
        }
        let client = self.clients.remove(index);
        self.client_finished(now, &client.call, client.kind, code, Some(message));
    }

    pub(super) fn client_finished(
        &mut self,
        now: Duration,
        call: &str,
        kind: ClientKind,
        code: u16,
        response: Option<&SipMessage>,
    ) {
        let call = call.to_string();
        match kind {
            ClientKind::Refer => {
                let progress = if (200..300).contains(&code) {
                    ReferProgress::Accepted
                } else {
                    ReferProgress::Refused(code)
                };
                self.events.push_back(SipEvent::Refer { call, progress });
            }
            ClientKind::AgentInvite => self.agent_answered(now, &call, code, response),
            ClientKind::Register => self.on_register_response(now, code, response),
            ClientKind::Bye | ClientKind::AgentBye => {}
        }
    }

    pub(super) fn start_client(
        &mut self,
        now: Duration,
        call: &str,
        kind: ClientKind,
        peer: Peer,
        request: Outgoing,
    ) {
        self.transmits.push_back(Transmit {
            peer,
            bytes: request.bytes.clone(),
        });
        self.clients.push(ClientTx {
            call: call.to_string(),
            kind,
            branch: request.branch,
            peer,
            retransmit: Retransmit::new(request.bytes, now, peer.transport.reliable()),
        });
    }
}
