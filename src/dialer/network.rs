//! A bad network between the test caller and the gateway, on the caller's
//! RTP: lost, delayed (and so reordered) and duplicated packets, a stream
//! that restarts with a new SSRC, or one that stops. Sans-IO and seeded:
//! the same seed gives the same faults, so a failing test call can be
//! placed again exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// What goes wrong, from `voicegate call`'s network options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkFaults {
    /// Share of packets lost, 0..=1.
    pub loss: f64,
    /// Each packet is delayed by a uniform draw from zero to this.
    pub jitter: Duration,
    /// Share of packets sent twice, 0..=1.
    pub duplicate: f64,
    /// From this time on the stream restarts: a new SSRC, sequence and timestamp.
    pub new_ssrc_at: Option<Duration>,
    /// From this time on no RTP is sent (one-way audio when zero).
    pub stop_at: Option<Duration>,
    pub seed: u64,
}

/// Packets on their way: each is given to [`Self::send`] and comes out of
/// [`Self::poll_due`] when the network delivers it (or never).
#[derive(Debug)]
pub struct Network {
    faults: NetworkFaults,
    random: fastrand::Rng,
    /// (due, order sent, packet): the earliest due first, ties in order.
    in_flight: BinaryHeap<Reverse<(Duration, u64, Vec<u8>)>>,
    sent: u64,
}

impl Network {
    pub fn new(faults: NetworkFaults) -> Network {
        Network {
            random: fastrand::Rng::with_seed(faults.seed),
            faults,
            in_flight: BinaryHeap::new(),
            sent: 0,
        }
    }

    /// Whether the stream has stopped by call time `at`.
    pub fn stopped(&self, at: Duration) -> bool {
        self.faults.stop_at.is_some_and(|stop| at >= stop)
    }

    /// Whether the stream restarts with a new SSRC at call time `at` (true
    /// once, for the first packet at or past the time).
    pub fn restarts_at(&mut self, at: Duration) -> bool {
        let due = self.faults.new_ssrc_at.is_some_and(|time| at >= time);
        if due {
            self.faults.new_ssrc_at = None;
        }
        due
    }

    /// A packet sent at `now`: lost, delivered once or twice, each copy after its delay.
    pub fn send(&mut self, now: Duration, packet: Vec<u8>) {
        if self.random.f64() < self.faults.loss {
            return;
        }
        if self.random.f64() < self.faults.duplicate {
            let due = now + self.delay();
            self.queue(due, packet.clone());
        }
        let due = now + self.delay();
        self.queue(due, packet);
    }

    /// When the next packet arrives, if one is on its way.
    pub fn next_due(&self) -> Option<Duration> {
        self.in_flight.peek().map(|Reverse((due, _, _))| *due)
    }

    /// A packet that has arrived by `now`.
    pub fn poll_due(&mut self, now: Duration) -> Option<Vec<u8>> {
        if self.next_due()? > now {
            return None;
        }
        self.in_flight.pop().map(|Reverse((_, _, packet))| packet)
    }

    fn delay(&mut self) -> Duration {
        self.faults.jitter.mul_f64(self.random.f64())
    }

    fn queue(&mut self, due: Duration, packet: Vec<u8>) {
        self.sent += 1;
        self.in_flight.push(Reverse((due, self.sent, packet)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: Duration = Duration::from_millis(20);

    /// Sends `count` one-byte-numbered packets 20 ms apart and returns what
    /// arrives, in arrival order.
    fn run(faults: NetworkFaults, count: u16) -> Vec<u16> {
        let mut network = Network::new(faults);
        let mut arrived = Vec::new();
        for n in 0..count {
            let now = PACKET * u32::from(n);
            network.send(now, n.to_be_bytes().to_vec());
            while let Some(packet) = network.poll_due(now) {
                arrived.push(u16::from_be_bytes([packet[0], packet[1]]));
            }
        }
        while let Some(due) = network.next_due() {
            let packet = network.poll_due(due).unwrap();
            arrived.push(u16::from_be_bytes([packet[0], packet[1]]));
        }
        arrived
    }

    #[test]
    fn a_clean_network_delivers_every_packet_at_once_in_order() {
        let arrived = run(NetworkFaults::default(), 500);
        assert_eq!(arrived, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn loss_and_duplicates_come_at_their_rates_and_the_seed_repeats_them() {
        let faults = NetworkFaults {
            loss: 0.05,
            duplicate: 0.02,
            seed: 7,
            ..NetworkFaults::default()
        };
        let arrived = run(faults.clone(), 10_000);
        let mut distinct = arrived.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let lost = 10_000 - distinct.len();
        let duplicated = arrived.len() - distinct.len();
        assert!((400..600).contains(&lost), "{lost} of 10,000 lost");
        assert!((120..280).contains(&duplicated), "{duplicated} duplicated");
        assert_eq!(
            run(faults, 10_000),
            arrived,
            "the same seed, the same faults"
        );
    }

    #[test]
    fn jitter_past_the_packet_time_reorders_and_never_delays_beyond_itself() {
        let faults = NetworkFaults {
            jitter: Duration::from_millis(60),
            seed: 3,
            ..NetworkFaults::default()
        };
        let mut network = Network::new(faults);
        for n in 0..1000u16 {
            network.send(PACKET * u32::from(n), n.to_be_bytes().to_vec());
        }
        let mut arrivals = Vec::new();
        while let Some(due) = network.next_due() {
            let packet = network.poll_due(due).unwrap();
            let n = u16::from_be_bytes([packet[0], packet[1]]);
            let delay = due - PACKET * u32::from(n);
            assert!(delay <= Duration::from_millis(60), "{n} delayed {delay:?}");
            arrivals.push(n);
        }
        assert_eq!(arrivals.len(), 1000);
        let out_of_order = arrivals.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(out_of_order > 100, "{out_of_order} reorderings");
    }

    #[test]
    fn a_stream_stops_and_restarts_when_told() {
        let mut network = Network::new(NetworkFaults {
            new_ssrc_at: Some(Duration::from_secs(2)),
            stop_at: Some(Duration::from_secs(5)),
            ..NetworkFaults::default()
        });
        assert!(!network.restarts_at(Duration::from_secs(1)));
        assert!(network.restarts_at(Duration::from_millis(2010)));
        assert!(!network.restarts_at(Duration::from_secs(3)), "once");
        assert!(!network.stopped(Duration::from_millis(4990)));
        assert!(network.stopped(Duration::from_secs(5)));
    }
}
