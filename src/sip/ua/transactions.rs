//! Client transactions (RFC 3261 section 17.1): our requests sent, resent
//! over UDP until answered (Timers A/B, E/F), matched to their responses by
//! branch, and their outcomes handed to the leg they belong to.

use super::*;

impl UserAgent {
    /// Resends the request if due; past Timer B/F it failed, as if answered 408.
    pub(super) fn client_timer(&mut self, now: Duration, branch: &str) {
        let Some(client) = self.clients.get_mut(branch) else {
            return;
        };
        if let Some(bytes) = client.retransmit.due(now) {
            self.transmits.push_back(Transmit {
                peer: client.peer,
                bytes: bytes.to_vec(),
            });
        }
        if !client.retransmit.expired(now) {
            let due = Some(client.retransmit.deadline());
            return self.timers.set(Timer::Client(branch.to_string()), due);
        }
        if let Some(client) = self.clients.remove(branch) {
            self.client_finished(now, &client.call, client.kind, 408, None);
        }
    }

    pub(super) fn on_response(&mut self, now: Duration, code: u16, message: &SipMessage) {
        let branch = headers::top_branch(message).unwrap_or_default();
        let timer = Timer::Client(branch.to_string());
        let Some(client) = self.clients.get_mut(branch) else {
            return self.resend_agent_ack(message);
        };
        if code < 200 {
            client
                .retransmit
                .slow_down(client.kind == ClientKind::AgentInvite, now);
            let due = Some(client.retransmit.deadline());
            return self.timers.set(timer, due);
        }
        self.timers.set(timer, None);
        if let Some(client) = self.clients.remove(branch) {
            self.client_finished(now, &client.call, client.kind, code, Some(message));
        }
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
        let retransmit = Retransmit::new(request.bytes, now, peer.transport.reliable());
        let due = Some(retransmit.deadline());
        self.timers.set(Timer::Client(request.branch.clone()), due);
        let client = ClientTx {
            call: call.to_string(),
            kind,
            peer,
            retransmit,
        };
        self.clients.insert(request.branch, client);
    }
}
