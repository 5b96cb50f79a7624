//! Agents who answer in the browser (`/agent?queue=NAME`). A page is signed
//! in while it holds its event stream open; a call handed to a queue whose
//! target is that page rings the agent of the queue who has been idle the
//! longest; the page answers over WebRTC and the call task bridges the two,
//! as it bridges a SIP agent. One event stream per agent, so the HTTP
//! listener's connection bound is the bound on agents.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

use super::media::MediaPort;
use super::webrtc::BrowserPeer;
use crate::dashboard::LiveCalls;
use crate::sip::Negotiated;

/// A page that has not answered by then has missed the call: the caller
/// waits in line and is offered again (RFC 3261's 408, Request Timeout).
pub const RING_FOR: Duration = Duration::from_secs(20);

/// What the desk tells the call an agent was offered to.
pub enum AgentNews {
    Answered(Box<AgentMedia>),
    /// No agent took the call: 480 (none signed in or free), 408 (the
    /// page did not answer), 603 (the agent declined).
    Failed(u16),
    HungUp,
}

/// The answering page's media, for the bridge.
pub struct AgentMedia {
    pub port: MediaPort,
    pub media: Negotiated,
    /// Kept by the call while bridged; dropping it closes the connection.
    pub peer: BrowserPeer,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeskError {
    #[error("call {0} is not ringing an agent (the caller hung up, or another page answered)")]
    NotRinging(String),
}

pub struct AgentDesk {
    state: Mutex<Desk>,
    live: Arc<LiveCalls>,
    ring_for: Duration,
}

#[derive(Default)]
struct Desk {
    next_agent: u64,
    agents: BTreeMap<u64, Agent>,
    /// Each call offered to an agent, by Call-ID.
    offered: HashMap<String, Offer>,
}

struct Agent {
    queue: String,
    page: UnboundedSender<String>,
    /// The call ringing or bridged to this agent.
    with: Option<String>,
    idle_since: Instant,
}

struct Offer {
    agent: u64,
    to_call: UnboundedSender<AgentNews>,
    answered: bool,
}

/// A signed-in page's events, one JSON line each; dropping it signs out.
pub struct AgentSession {
    desk: Arc<AgentDesk>,
    id: u64,
    events: UnboundedReceiver<String>,
}

impl AgentSession {
    pub async fn next(&mut self) -> Option<String> {
        self.events.recv().await
    }
}

impl Drop for AgentSession {
    fn drop(&mut self) {
        self.desk.sign_out(self.id);
    }
}

impl AgentDesk {
    pub fn new(live: Arc<LiveCalls>, ring_for: Duration) -> Arc<AgentDesk> {
        Arc::new(AgentDesk {
            state: Mutex::default(),
            live,
            ring_for,
        })
    }

    /// Signs a page in to `queue`; it is ready for calls at once.
    pub fn sign_in(self: &Arc<Self>, queue: &str) -> AgentSession {
        let (page, events) = mpsc::unbounded_channel();
        let mut desk = self.lock();
        desk.next_agent += 1;
        let id = desk.next_agent;
        let _ = page.send(json!({"event": "ready", "queue": queue}).to_string());
        let agent = Agent {
            queue: queue.to_string(),
            page,
            with: None,
            idle_since: Instant::now(),
        };
        desk.agents.insert(id, agent);
        tracing::info!(queue, agent = id, "agent page signed in");
        AgentSession {
            desk: self.clone(),
            id,
            events,
        }
    }

    /// Rings the agent of `queue` idle the longest with `call`; false if
    /// every agent of the queue is busy or none is signed in.
    pub fn ring(
        self: &Arc<Self>,
        queue: &str,
        call: &str,
        to_call: UnboundedSender<AgentNews>,
    ) -> bool {
        let mut desk = self.lock();
        let idle = desk
            .agents
            .iter()
            .filter(|(_, agent)| agent.queue == queue && agent.with.is_none())
            .min_by_key(|(_, agent)| agent.idle_since)
            .map(|(id, _)| *id);
        let Some(id) = idle else {
            return false;
        };
        let details = self.live.call(call);
        if let Some(agent) = desk.agents.get_mut(&id) {
            agent.with = Some(call.to_string());
            let ring = json!({"event": "ring", "call": call, "details": details});
            let _ = agent.page.send(ring.to_string());
        }
        let offer = Offer {
            agent: id,
            to_call,
            answered: false,
        };
        desk.offered.insert(call.to_string(), offer);
        drop(desk);
        self.miss_after_ringing(call);
        true
    }

    /// The pages signed in, for `GET /api/agents`: queue, and the call
    /// ringing or bridged to each (`null` when free).
    pub fn json(&self) -> serde_json::Value {
        let desk = self.lock();
        let agents = desk.agents.values().map(|agent| {
            let answered = agent
                .with
                .as_ref()
                .and_then(|call| desk.offered.get(call))
                .is_some_and(|offer| offer.answered);
            json!({"queue": agent.queue, "call": agent.with, "talking": answered})
        });
        serde_json::Value::Array(agents.collect())
    }

    pub fn is_ringing(&self, call: &str) -> bool {
        self.lock().offered.get(call).is_some_and(|o| !o.answered)
    }

    /// The page answered: its media goes to the call, which bridges it.
    pub fn answered(&self, call: &str, media: AgentMedia) -> Result<(), DeskError> {
        let mut desk = self.lock();
        match desk.offered.get_mut(call) {
            Some(offer) if !offer.answered => {
                offer.answered = true;
                let _ = offer.to_call.send(AgentNews::Answered(Box::new(media)));
                Ok(())
            }
            _ => Err(DeskError::NotRinging(call.to_string())),
        }
    }

    /// The agent hung up (or declined a call still ringing).
    pub fn hang_up(&self, call: &str) {
        let mut desk = self.lock();
        if let Some(offer) = desk.end(call, "ended") {
            let news = if offer.answered {
                AgentNews::HungUp
            } else {
                AgentNews::Failed(603)
            };
            let _ = offer.to_call.send(news);
        }
    }

    /// The call is over, or let its agent go: the agent is free again.
    pub fn call_over(&self, call: &str) {
        self.lock().end(call, "ended");
    }

    fn sign_out(&self, id: u64) {
        let mut desk = self.lock();
        let Some(agent) = desk.agents.remove(&id) else {
            return;
        };
        tracing::info!(queue = %agent.queue, agent = id, "agent page signed out");
        if let Some(offer) = agent.with.and_then(|call| desk.offered.remove(&call)) {
            let news = if offer.answered {
                AgentNews::HungUp
            } else {
                AgentNews::Failed(480)
            };
            let _ = offer.to_call.send(news);
        }
    }

    /// A call nobody answered within [`RING_FOR`] goes back to its line.
    fn miss_after_ringing(self: &Arc<Self>, call: &str) {
        let (desk, call) = (Arc::downgrade(self), call.to_string());
        let ring_for = self.ring_for;
        tokio::spawn(async move {
            tokio::time::sleep(ring_for).await;
            let Some(desk) = desk.upgrade() else {
                return;
            };
            let mut state = desk.lock();
            if state.offered.get(&call).is_some_and(|o| !o.answered) {
                if let Some(offer) = state.end(&call, "missed") {
                    let _ = offer.to_call.send(AgentNews::Failed(408));
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Desk> {
        // Each change is a few map operations, consistent across a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Desk {
    /// Takes `call` off its agent, who is told `event` and is free again.
    fn end(&mut self, call: &str, event: &str) -> Option<Offer> {
        let offer = self.offered.remove(call)?;
        if let Some(agent) = self.agents.get_mut(&offer.agent) {
            agent.with = None;
            agent.idle_since = Instant::now();
            let _ = agent
                .page
                .send(json!({"event": event, "call": call}).to_string());
        }
        Some(offer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn desk() -> Arc<AgentDesk> {
        AgentDesk::new(Arc::new(LiveCalls::default()), RING_FOR)
    }

    async fn event(session: &mut AgentSession) -> Value {
        serde_json::from_str(&session.next().await.unwrap()).unwrap()
    }

    fn failed_code(news: Option<AgentNews>) -> Option<u16> {
        match news {
            Some(AgentNews::Failed(code)) => Some(code),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_call_rings_the_agent_idle_longest_and_nobody_free_is_a_480() {
        let desk = desk();
        let (to_call, _news) = mpsc::unbounded_channel();
        assert!(
            !desk.ring("desk", "c1", to_call.clone()),
            "nobody signed in"
        );
        let mut first = desk.sign_in("desk");
        let mut second = desk.sign_in("desk");
        let _other_queue = desk.sign_in("sales");
        assert_eq!(event(&mut first).await["event"], "ready");
        assert_eq!(event(&mut second).await["event"], "ready");
        assert!(desk.ring("desk", "c1", to_call.clone()));
        let ring = event(&mut first).await;
        assert_eq!(
            (&ring["event"], &ring["call"]),
            (&json!("ring"), &json!("c1"))
        );
        assert!(desk.ring("desk", "c2", to_call.clone()));
        assert_eq!(event(&mut second).await["call"], "c2");
        assert!(!desk.ring("desk", "c3", to_call), "both agents are busy");
        let listed = desk.json();
        assert_eq!(
            listed[0],
            json!({"queue": "desk", "call": "c1", "talking": false})
        );
        assert_eq!(
            listed[2],
            json!({"queue": "sales", "call": null, "talking": false})
        );
        desk.call_over("c1");
        assert_eq!(event(&mut first).await["event"], "ended");
        assert!(!desk.is_ringing("c1"));
    }

    #[tokio::test]
    async fn a_declined_call_is_a_603_and_a_page_closed_while_ringing_a_480() {
        let desk = desk();
        let (to_call, mut news) = mpsc::unbounded_channel();
        let session = desk.sign_in("desk");
        assert!(desk.ring("desk", "c1", to_call.clone()));
        desk.hang_up("c1");
        assert_eq!(failed_code(news.recv().await), Some(603));
        assert!(
            desk.ring("desk", "c2", to_call),
            "free again after declining"
        );
        drop(session);
        assert_eq!(failed_code(news.recv().await), Some(480));
        assert!(!desk.is_ringing("c2"));
    }

    #[tokio::test]
    async fn a_call_nobody_answers_is_missed_after_the_ring_time() {
        let desk = AgentDesk::new(Arc::new(LiveCalls::default()), Duration::from_millis(200));
        let (to_call, mut news) = mpsc::unbounded_channel();
        let mut session = desk.sign_in("desk");
        assert!(desk.ring("desk", "c1", to_call));
        assert!(desk.is_ringing("c1"));
        assert_eq!(failed_code(news.recv().await), Some(408));
        assert!(!desk.is_ringing("c1"));
        event(&mut session).await;
        assert_eq!(event(&mut session).await["event"], "ring");
        assert_eq!(event(&mut session).await["event"], "missed");
    }
}
