//! Retransmission over UDP (RFC 3261 section 17): a message is sent again
//! after T1, then at doubling intervals capped at T2, until the transaction
//! layer hears what it waits for or 64 × T1 have passed (Timers A/B, E/F,
//! G/H, and the 2xx retransmission of section 13.3.1.4). Over a reliable
//! transport nothing is retransmitted, but the give-up time still holds.

use std::time::Duration;

/// RTT estimate (RFC 3261 section 17.1.1.1).
pub const T1: Duration = Duration::from_millis(500);
/// Longest retransmission interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// How long a transaction waits before giving up (Timers B, F, H).
pub const GIVE_UP: Duration = Duration::from_secs(32);

/// One message that is sent again until stopped.
#[derive(Debug, Clone)]
pub struct Retransmit {
    bytes: Vec<u8>,
    next: Option<Duration>,
    interval: Duration,
    give_up_at: Duration,
}

impl Retransmit {
    /// Starts after the first send at `now`; `reliable` transports never resend.
    pub fn new(bytes: Vec<u8>, now: Duration, reliable: bool) -> Retransmit {
        Retransmit {
            bytes,
            next: (!reliable).then_some(now + T1),
            interval: T1,
            give_up_at: now + GIVE_UP,
        }
    }

    /// When it must be looked at next: a resend or the give-up time.
    pub fn deadline(&self) -> Duration {
        self.next
            .map_or(self.give_up_at, |next| next.min(self.give_up_at))
    }

    /// True once the give-up time has passed.
    pub fn expired(&self, now: Duration) -> bool {
        now >= self.give_up_at
    }

    /// After a provisional response a client stops resending INVITE (Timer A)
    /// and resends other requests every T2 (section 17.1.2.2).
    pub fn slow_down(&mut self, invite: bool, now: Duration) {
        if invite {
            self.next = None;
        } else if self.next.is_some() {
            self.interval = T2;
            self.next = Some(now + T2);
        }
    }

    /// The bytes to send again if a resend is due at `now`.
    pub fn due(&mut self, now: Duration) -> Option<&[u8]> {
        let next = self.next?;
        if now < next || self.expired(now) {
            return None;
        }
        self.interval = (self.interval * 2).min(T2);
        self.next = Some(now + self.interval);
        Some(&self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn resends_double_up_to_t2_and_stop_at_64_t1() {
        let mut r = Retransmit::new(b"x".to_vec(), ms(0), false);
        let mut sent = Vec::new();
        let mut now = ms(0);
        while now <= GIVE_UP + ms(1000) {
            if r.due(now).is_some() {
                sent.push(now.as_millis());
            }
            now += ms(50);
        }
        assert_eq!(&sent[..5], &[500, 1500, 3500, 7500, 11500]);
        assert!(sent.iter().all(|t| *t < 32_000));
        assert!(r.expired(GIVE_UP));
    }

    #[test]
    fn reliable_transports_never_resend() {
        let mut r = Retransmit::new(b"x".to_vec(), ms(0), true);
        assert!(r.due(ms(10_000)).is_none());
        assert_eq!(r.deadline(), GIVE_UP);
    }

    #[test]
    fn a_provisional_response_stops_invite_resends() {
        let mut r = Retransmit::new(b"x".to_vec(), ms(0), false);
        r.slow_down(true, ms(100));
        assert!(r.due(ms(5000)).is_none());
        let mut bye = Retransmit::new(b"x".to_vec(), ms(0), false);
        bye.slow_down(false, ms(100));
        assert!(bye.due(ms(1000)).is_none());
        assert!(bye.due(ms(4100)).is_some());
    }
}
