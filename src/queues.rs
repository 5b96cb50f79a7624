//! The callers waiting for an agent, gateway-wide, with time passed in.
//!
//! A caller whose transfer could not be carried out (the phone refused the
//! REFER and the agent did not answer) waits in its queue's line. Lines are
//! ordered by transfer priority (VIP, then anger and requests for a person,
//! raised for live anger and repeat callers; see `engine::policy`), then by
//! arrival: an angry caller goes ahead of a calm one who waited longer.
//! Only the caller at the head tries the agent; the others hear their place
//! and how long they can expect to wait.
//!
//! The expected wait is the place times the time the head of this line has
//! lately taken to be served, a running mean over the callers served,
//! started from `[transfer] expected_wait_s`.

use std::collections::HashMap;
use std::time::Duration;

use crate::engine::Priority;

/// Weight of each newly served caller in the running mean of service time.
const SERVICE_TIME_WEIGHT: f64 = 0.3;

/// A waiting caller's place, told whenever it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// 1 is the head of the line, the caller who tries the agent next.
    pub position: usize,
    pub expected_wait: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    call: u64,
    priority: Priority,
    joined: Duration,
}

#[derive(Debug)]
struct Line {
    waiters: Vec<Waiter>,
    /// Running mean of the time a caller spent at the head before being served.
    service_time: Duration,
    head_since: Duration,
}

impl Line {
    fn new(service_time: Duration) -> Line {
        Line {
            waiters: Vec::new(),
            service_time,
            head_since: Duration::ZERO,
        }
    }

    fn places(&self) -> impl Iterator<Item = (u64, Place)> + '_ {
        self.waiters.iter().enumerate().map(|(index, waiter)| {
            let ahead_and_self = index as u32 + 1;
            let place = Place {
                position: index + 1,
                expected_wait: self.service_time.saturating_mul(ahead_and_self),
            };
            (waiter.call, place)
        })
    }

    fn head(&self) -> Option<u64> {
        self.waiters.first().map(|waiter| waiter.call)
    }

    fn learn_service_time(&mut self, now: Duration) {
        let took = now.saturating_sub(self.head_since).as_secs_f64();
        let mean = self.service_time.as_secs_f64();
        let updated = mean + SERVICE_TIME_WEIGHT * (took - mean);
        self.service_time = Duration::try_from_secs_f64(updated).unwrap_or(self.service_time);
    }
}

/// Every queue's line of waiting callers.
#[derive(Debug)]
pub struct WaitingLines {
    lines: HashMap<String, Line>,
    /// Call → the queue it waits in.
    waiting_in: HashMap<u64, String>,
    expected_wait: Duration,
}

impl WaitingLines {
    /// `expected_wait` per caller ahead, until a line has served someone.
    pub fn new(expected_wait: Duration) -> WaitingLines {
        WaitingLines {
            lines: HashMap::new(),
            waiting_in: HashMap::new(),
            expected_wait,
        }
    }

    /// `call` starts waiting in `queue`; returns every caller of that line
    /// whose place changed (the newcomer included). Joining again is a no-op.
    pub fn join(
        &mut self,
        now: Duration,
        call: u64,
        queue: &str,
        priority: Priority,
    ) -> Vec<(u64, Place)> {
        if self.waiting_in.contains_key(&call) {
            return Vec::new();
        }
        let expected_wait = self.expected_wait;
        let line = self
            .lines
            .entry(queue.to_string())
            .or_insert_with(|| Line::new(expected_wait));
        let before = places_by_call(line);
        // Behind everyone of the same or higher priority: arrival breaks ties.
        let at = line
            .waiters
            .iter()
            .position(|waiter| waiter.priority < priority)
            .unwrap_or(line.waiters.len());
        line.waiters.insert(
            at,
            Waiter {
                call,
                priority,
                joined: now,
            },
        );
        if at == 0 {
            line.head_since = now;
        }
        self.waiting_in.insert(call, queue.to_string());
        changed_places(line, &before)
    }

    /// `call` stops waiting: `served` when an agent took it (which teaches
    /// the line its service time), not when the caller hung up. Returns the
    /// places that changed.
    pub fn leave(&mut self, now: Duration, call: u64, served: bool) -> Vec<(u64, Place)> {
        let Some(queue) = self.waiting_in.remove(&call) else {
            return Vec::new();
        };
        let Some(line) = self.lines.get_mut(&queue) else {
            return Vec::new();
        };
        let before = places_by_call(line);
        let was_head = line.head() == Some(call);
        if was_head && served {
            line.learn_service_time(now);
        }
        line.waiters.retain(|waiter| waiter.call != call);
        if was_head {
            line.head_since = now;
        }
        let changed = changed_places(line, &before);
        if line.waiters.is_empty() {
            // Keep what the line learnt; drop only an empty line never served.
            if line.service_time == self.expected_wait {
                self.lines.remove(&queue);
            }
        }
        changed
    }

    /// How long `call` has waited in its line.
    pub fn waited(&self, now: Duration, call: u64) -> Option<Duration> {
        let line = self.lines.get(self.waiting_in.get(&call)?)?;
        let waiter = line.waiters.iter().find(|waiter| waiter.call == call)?;
        Some(now.saturating_sub(waiter.joined))
    }

    pub fn waiting(&self) -> usize {
        self.waiting_in.len()
    }
}

fn places_by_call(line: &Line) -> HashMap<u64, Place> {
    line.places().collect()
}

fn changed_places(line: &Line, before: &HashMap<u64, Place>) -> Vec<(u64, Place)> {
    line.places()
        .filter(|(call, place)| {
            before
                .get(call)
                .map_or(true, |old| old.position != place.position)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Call, EngineConfig, Input};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn positions(changes: &[(u64, Place)]) -> Vec<(u64, usize)> {
        changes
            .iter()
            .map(|(call, place)| (*call, place.position))
            .collect()
    }

    #[test]
    fn a_higher_priority_caller_goes_ahead_and_equal_ones_keep_their_arrival_order() {
        let mut lines = WaitingLines::new(secs(60));
        // A repeat caller stuck in the menu (hop limit, raised to high), a
        // calm caller, an angry one, then a VIP.
        assert_eq!(
            positions(&lines.join(secs(0), 1, "agents", Priority::High)),
            [(1, 1)]
        );
        assert_eq!(
            positions(&lines.join(secs(1), 2, "agents", Priority::Normal)),
            [(2, 2)]
        );
        assert_eq!(
            positions(&lines.join(secs(2), 3, "agents", Priority::High)),
            [(3, 2), (2, 3)],
            "the angry caller goes ahead of the calm one, behind the earlier high one"
        );
        assert_eq!(
            positions(&lines.join(secs(3), 4, "agents", Priority::Urgent)),
            [(4, 1), (1, 2), (3, 3), (2, 4)],
            "the VIP goes to the head"
        );
    }

    /// The priority the engine gives a caller (no menu) who has had
    /// `recent_calls` calls lately and gives `inputs`.
    fn engine_priority(caller: &str, recent_calls: u32, inputs: &[(f64, Input)]) -> Priority {
        let config = EngineConfig {
            vip_callers: ["+15550100999".to_string()].into_iter().collect(),
            ..EngineConfig::default()
        };
        let mut call = Call::new(std::sync::Arc::new(config), None);
        let started = Input::Started {
            caller: caller.into(),
            dialed: "800".into(),
            recent_calls,
            verified: true,
        };
        call.handle(Duration::ZERO, started);
        for (at, input) in inputs {
            call.handle(Duration::from_secs_f64(*at), input.clone());
        }
        std::iter::from_fn(|| call.poll_action())
            .find_map(|action| match action {
                Action::Transfer(transfer) => Some(transfer.priority),
                _ => None,
            })
            .expect("a transfer")
    }

    #[test]
    fn repeat_vip_and_angry_callers_wait_in_the_order_of_the_priority_the_engine_gives_them() {
        let waited_too_long = [(91.0, Input::Tick)];
        let angry = [(10.0, 90.0), (10.5, 91.0), (11.0, 92.0)]
            .map(|(at, score)| (at, Input::Anger { score }));
        let callers = [
            (
                "calm, waited too long",
                engine_priority("+15550100001", 0, &waited_too_long),
            ),
            (
                "repeat caller, waited too long",
                engine_priority("+15550100002", 2, &waited_too_long),
            ),
            ("angry", engine_priority("+15550100003", 0, &angry)),
            ("VIP", engine_priority("+15550100999", 0, &[])),
        ];
        assert_eq!(
            callers.map(|(_, priority)| priority),
            [
                Priority::Normal,
                Priority::High,
                Priority::Urgent,
                Priority::Urgent
            ]
        );
        let mut lines = WaitingLines::new(secs(60));
        let mut order = Vec::new();
        for (call, (_, priority)) in callers.iter().enumerate() {
            for (moved, place) in lines.join(secs(call as u64), call as u64, "agents", *priority) {
                order.retain(|waiting| *waiting != moved);
                order.insert(place.position - 1, moved);
            }
        }
        let names: Vec<&str> = order.iter().map(|&call| callers[call as usize].0).collect();
        assert_eq!(
            names,
            [
                "angry",
                "VIP",
                "repeat caller, waited too long",
                "calm, waited too long"
            ],
            "urgent first (in arrival order), then high, then normal"
        );
    }

    #[test]
    fn the_expected_wait_counts_the_callers_ahead_and_learns_from_those_served() {
        let mut lines = WaitingLines::new(secs(60));
        lines.join(secs(0), 1, "agents", Priority::Normal);
        let joined = lines.join(secs(0), 2, "agents", Priority::Normal);
        assert_eq!(
            joined[0].1.expected_wait,
            secs(120),
            "one ahead, 60 s each, and its own turn"
        );
        // The head is served after 160 s: the mean moves 30 % of the way.
        let moved = lines.leave(secs(160), 1, true);
        assert_eq!(positions(&moved), [(2, 1)]);
        assert_eq!(moved[0].1.expected_wait, secs(90));
    }

    #[test]
    fn a_caller_hanging_up_moves_those_behind_and_teaches_nothing() {
        let mut lines = WaitingLines::new(secs(60));
        for call in 1..=3 {
            lines.join(secs(call), call, "agents", Priority::Normal);
        }
        let moved = lines.leave(secs(500), 2, false);
        assert_eq!(positions(&moved), [(3, 2)]);
        assert_eq!(moved[0].1.expected_wait, secs(120));
        assert_eq!(lines.waited(secs(10), 3), Some(secs(7)));
        assert_eq!(lines.waiting(), 2);
    }

    #[test]
    fn lines_are_apart_and_leaving_twice_or_unknown_calls_change_nothing() {
        let mut lines = WaitingLines::new(secs(60));
        lines.join(secs(0), 1, "agents", Priority::Normal);
        assert_eq!(
            positions(&lines.join(secs(0), 2, "complaints", Priority::Normal)),
            [(2, 1)]
        );
        assert!(lines
            .join(secs(1), 1, "agents", Priority::Urgent)
            .is_empty());
        assert_eq!(
            lines.leave(secs(2), 1, false).len(),
            0,
            "nobody was behind call 1"
        );
        assert!(lines.leave(secs(3), 1, false).is_empty());
        assert!(lines.leave(secs(3), 99, true).is_empty());
        assert_eq!(lines.waiting(), 1);
    }
}
