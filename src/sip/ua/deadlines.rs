//! The user agent's timers in one queue, soonest first. A wake then costs
//! the timers that are due, not a scan of every leg, transaction and
//! remembered answer: at 500 set-ups a second about 16,000 ended legs and
//! as many answers wait out their 32 s (RFC 3261 section 17), and the scan
//! ran on every datagram.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Duration;

/// One deadline per key, the soonest at hand.
#[derive(Debug)]
pub(super) struct Deadlines<K> {
    /// Every deadline set, soonest on top. An entry whose key has since been
    /// set to another time, or cleared, is dropped when it reaches the top,
    /// so the top is always a key's current deadline.
    queue: BinaryHeap<Reverse<(Duration, K)>>,
    /// Each key's current deadline.
    current: HashMap<K, Duration>,
}

impl<K: Ord + Hash + Clone> Deadlines<K> {
    pub(super) fn new() -> Deadlines<K> {
        Deadlines {
            queue: BinaryHeap::new(),
            current: HashMap::new(),
        }
    }

    /// Sets `key`'s deadline, replacing any earlier one; `None` clears it.
    pub(super) fn set(&mut self, key: K, at: Option<Duration>) {
        match at {
            Some(at) => {
                if self.current.insert(key.clone(), at) != Some(at) {
                    self.queue.push(Reverse((at, key)));
                }
            }
            None => {
                self.current.remove(&key);
            }
        }
        self.drop_stale();
    }

    /// The soonest deadline.
    pub(super) fn next(&self) -> Option<Duration> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// The keys due at `now`, each once; their deadlines are cleared.
    pub(super) fn take_due(&mut self, now: Duration) -> Vec<K> {
        let mut due = Vec::new();
        while self.next().is_some_and(|at| at <= now) {
            let Some(Reverse((at, key))) = self.queue.pop() else {
                break;
            };
            if self.current.get(&key) == Some(&at) {
                self.current.remove(&key);
                due.push(key);
            }
            self.drop_stale();
        }
        due
    }

    /// The deadline set for `key`.
    #[cfg(test)]
    pub(super) fn get(&self, key: &K) -> Option<Duration> {
        self.current.get(key).copied()
    }

    /// How many keys have a deadline.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.current.len()
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((at, key))) = self.queue.peek() {
            if self.current.get(key) == Some(at) {
                break;
            }
            self.queue.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn keys_come_due_in_deadline_order_each_once() {
        let mut timers = Deadlines::new();
        timers.set("b", Some(ms(200)));
        timers.set("a", Some(ms(100)));
        timers.set("c", Some(ms(300)));
        assert_eq!(timers.next(), Some(ms(100)));
        assert_eq!(timers.take_due(ms(99)), Vec::<&str>::new());
        assert_eq!(timers.take_due(ms(250)), ["a", "b"]);
        assert_eq!(timers.next(), Some(ms(300)));
        assert_eq!(timers.take_due(ms(250)), Vec::<&str>::new(), "taken once");
    }

    #[test]
    fn a_moved_deadline_counts_only_at_its_new_time() {
        let mut timers = Deadlines::new();
        timers.set("leg", Some(ms(500)));
        timers.set("leg", Some(ms(32_000)));
        assert_eq!(timers.next(), Some(ms(32_000)), "the old time is gone");
        assert!(timers.take_due(ms(1000)).is_empty());
        timers.set("leg", Some(ms(700)));
        assert_eq!(timers.next(), Some(ms(700)), "moved earlier");
        assert_eq!(timers.take_due(ms(40_000)), ["leg"]);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn a_cleared_key_never_comes_due() {
        let mut timers = Deadlines::new();
        timers.set("ack", Some(ms(100)));
        timers.set("answer", Some(ms(200)));
        timers.set("ack", None);
        assert_eq!(timers.next(), Some(ms(200)));
        assert_eq!(timers.take_due(ms(1000)), ["answer"]);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn setting_the_same_deadline_again_keeps_one_entry() {
        let mut timers = Deadlines::new();
        for _ in 0..1000 {
            timers.set("leg", Some(ms(100)));
        }
        assert_eq!(timers.queue.len(), 1);
        assert_eq!(timers.take_due(ms(100)), ["leg"]);
    }
}
