//! A jitter buffer for 20 ms audio packets: puts reordered packets back in
//! sequence, drops duplicates and packets that arrive after their turn, hides
//! a lost packet by repeating the last one quieter (then silence), waits out
//! a sender's pause (silence suppression) and fills up again after it, and
//! starts over on an SSRC change or a sequence jump (RFC 3550 section 8.2,
//! A.1). Sans-IO: the driver pushes packets as they arrive and pops one frame
//! every packet time.

use std::collections::BTreeMap;

/// Packets further than this from the expected sequence number are a new
/// stream, not reordering (RFC 3550 section A.1's MAX_DROPOUT, scaled down
/// for audio).
const MAX_JUMP: i32 = 100;

/// Counters for call-quality logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub played: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Packet times stood in for a lost packet (later ones were held).
    pub concealed: u64,
    /// Packet times with nothing held for longer than the buffer's depth:
    /// the sender paused (silence suppression, RFC 3551 section 4.1) or fell
    /// far behind. (The first `depth` of them count as concealed.)
    pub paused: u64,
    pub restarts: u64,
}

/// What [`JitterBuffer::pop`] plays for one packet time.
#[derive(Debug, Clone, PartialEq)]
pub enum Playout {
    /// The packet's own audio.
    Audio(Vec<f32>),
    /// A stand-in for a lost packet.
    Concealed(Vec<f32>),
}

#[derive(Debug)]
pub struct JitterBuffer {
    /// Packets held before playout starts (2-3 absorb typical jitter).
    depth: usize,
    ssrc: Option<u32>,
    /// Sequence number of the next packet to play.
    next: Option<u16>,
    /// Held packets by distance from `next`.
    held: BTreeMap<u16, Vec<f32>>,
    playing: bool,
    /// The last packet that was far behind, for telling a reset from a straggler.
    stray: Option<u16>,
    /// Packet times waited while filling up since a packet came; playout
    /// starts after `depth` of them even if fewer packets came.
    waited: usize,
    /// Packet times in a row played with nothing held.
    dry: usize,
    last: Option<Vec<f32>>,
    /// Consecutive concealed frames; after two, play silence.
    concealed_run: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(depth: usize) -> JitterBuffer {
        JitterBuffer {
            depth: depth.max(1),
            ssrc: None,
            next: None,
            held: BTreeMap::new(),
            playing: false,
            stray: None,
            waited: 0,
            dry: 0,
            last: None,
            concealed_run: 0,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Takes an arrived packet's decoded audio.
    pub fn push(&mut self, ssrc: u32, sequence: u16, audio: Vec<f32>) {
        self.stats.received += 1;
        let next = match (self.ssrc, self.next) {
            (Some(known), Some(next)) if known == ssrc => next,
            _ => return self.restart(ssrc, sequence, audio),
        };
        let distance = i32::from(sequence.wrapping_sub(next) as i16);
        if distance < 0 {
            // Far behind twice in a row means the sender reset its numbers
            // (RFC 3550 section A.1 probation); once is just a very late packet.
            if distance < -MAX_JUMP && self.stray == Some(sequence.wrapping_sub(1)) {
                return self.restart(ssrc, sequence, audio);
            }
            self.stray = (distance < -MAX_JUMP).then_some(sequence);
            self.stats.late += 1;
        } else if distance > MAX_JUMP {
            self.restart(ssrc, sequence, audio);
        } else if self.held.insert(sequence, audio).is_some() {
            self.stats.duplicates += 1;
        }
    }

    /// Whether the next [`JitterBuffer::pop`] would conceal a packet it
    /// does not hold (lost, or not taken in yet).
    pub fn next_missing(&self) -> bool {
        self.playing && self.next.is_some_and(|next| !self.held.contains_key(&next))
    }

    /// The frame for the next packet time; `None` while filling up at the start.
    pub fn pop(&mut self) -> Option<Playout> {
        let next = self.next?;
        if !self.playing {
            self.waited += usize::from(!self.held.is_empty());
            if self.held.len() < self.depth && self.waited <= self.depth {
                // Filling up again after a pause plays silence; the first
                // filling, before any audio, plays nothing.
                return self.last.is_some().then(|| self.pause());
            }
            self.playing = true;
        }
        if self.held.is_empty() && self.dry == self.depth {
            // Nothing held for longer than the buffer's depth: no jitter
            // it absorbs is that late, so the sender paused (or fell far
            // behind). Its next packet is the first not yet come, not a late
            // one: wait for it there, and fill up again so that playout has
            // its cushion back.
            self.next = Some(next.wrapping_sub(self.dry as u16));
            self.dry = 0;
            self.playing = false;
            self.waited = 0;
            return Some(self.pause());
        }
        self.dry = if self.held.is_empty() {
            self.dry + 1
        } else {
            0
        };
        self.next = Some(next.wrapping_add(1));
        match self.held.remove(&next) {
            Some(audio) => {
                self.stats.played += 1;
                self.concealed_run = 0;
                self.last = Some(audio.clone());
                Some(Playout::Audio(audio))
            }
            None => {
                self.stats.concealed += 1;
                Some(Playout::Concealed(self.stand_in()))
            }
        }
    }

    /// A packet time with nothing held at all.
    fn pause(&mut self) -> Playout {
        self.stats.paused += 1;
        Playout::Concealed(self.stand_in())
    }

    /// The last frame at half level once, then silence of the same length.
    fn stand_in(&mut self) -> Vec<f32> {
        self.concealed_run += 1;
        let last = self.last.clone().unwrap_or_else(|| vec![0.0; 160]);
        if self.concealed_run == 1 {
            last.iter().map(|s| s * 0.5).collect()
        } else {
            vec![0.0; last.len()]
        }
    }

    fn restart(&mut self, ssrc: u32, sequence: u16, audio: Vec<f32>) {
        if self.ssrc.is_some() {
            self.stats.restarts += 1;
        }
        self.ssrc = Some(ssrc);
        self.next = Some(sequence);
        self.held.clear();
        self.held.insert(sequence, audio);
        self.playing = false;
        self.stray = None;
        self.waited = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A packet whose audio says which sequence number it was.
    fn audio(sequence: u16) -> Vec<f32> {
        vec![f32::from(sequence); 4]
    }

    fn drain(buffer: &mut JitterBuffer, frames: usize) -> Vec<Playout> {
        (0..frames).filter_map(|_| buffer.pop()).collect()
    }

    #[test]
    fn reordered_packets_play_in_order() {
        let mut buffer = JitterBuffer::new(3);
        for sequence in [10u16, 12, 11, 13] {
            buffer.push(1, sequence, audio(sequence));
        }
        let played = drain(&mut buffer, 4);
        assert_eq!(
            played,
            [10, 11, 12, 13].map(|s| Playout::Audio(audio(s))).to_vec()
        );
    }

    #[test]
    fn the_next_packet_is_missing_only_once_playing_without_it() {
        let mut buffer = JitterBuffer::new(2);
        assert!(!buffer.next_missing(), "nothing has come");
        buffer.push(1, 10, audio(10));
        buffer.push(1, 11, audio(11));
        assert!(!buffer.next_missing(), "filling up");
        drain(&mut buffer, 2);
        assert!(buffer.next_missing(), "10 and 11 played, 12 not here");
        buffer.push(1, 12, audio(12));
        assert!(!buffer.next_missing());
    }

    #[test]
    fn a_lost_packet_is_concealed_and_a_late_one_dropped() {
        let mut buffer = JitterBuffer::new(2);
        for sequence in [1u16, 2, 4, 5] {
            buffer.push(1, sequence, audio(sequence));
        }
        let played = drain(&mut buffer, 4);
        assert_eq!(
            played[2],
            Playout::Concealed(vec![1.0; 4]),
            "half of packet 2"
        );
        buffer.push(1, 3, audio(3));
        assert_eq!(buffer.stats().late, 1);
        assert_eq!(buffer.stats().concealed, 1);
    }

    #[test]
    fn a_senders_pause_is_waited_out_and_every_packet_after_it_plays() {
        // Silence suppression (RFC 3551 section 4.1): packets 1-3, nothing
        // for ten packet times, then 4-6 go on with the next sequence numbers.
        let mut buffer = JitterBuffer::new(2);
        for sequence in 1..=3 {
            buffer.push(1, sequence, audio(sequence));
        }
        let mut played = drain(&mut buffer, 13);
        for sequence in 4..=6 {
            buffer.push(1, sequence, audio(sequence));
            played.extend(buffer.pop());
        }
        played.extend(drain(&mut buffer, 1));
        let heard: Vec<f32> = (played.iter())
            .filter_map(|playout| match playout {
                Playout::Audio(samples) => Some(samples[0]),
                Playout::Concealed(_) => None,
            })
            .collect();
        assert_eq!(heard, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "{played:?}");
        let stats = buffer.stats();
        assert_eq!((stats.late, stats.restarts), (0, 0));
        assert_eq!(
            (stats.concealed, stats.paused),
            (2, 9),
            "two packet times as for late packets, eight of pause, one to fill up again"
        );
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut buffer = JitterBuffer::new(1);
        for sequence in [65534u16, 65535, 0, 1] {
            buffer.push(9, sequence, audio(sequence));
        }
        let played = drain(&mut buffer, 4);
        assert_eq!(played.len(), 4);
        assert!(
            played.iter().all(|p| matches!(p, Playout::Audio(_))),
            "{played:?}"
        );
    }

    #[test]
    fn a_straggler_is_dropped_but_a_sequence_reset_starts_over() {
        let mut buffer = JitterBuffer::new(1);
        buffer.push(1, 5000, audio(5000));
        drain(&mut buffer, 1);
        buffer.push(1, 10, audio(10));
        assert_eq!(
            buffer.pop(),
            Some(Playout::Concealed(vec![2500.0; 4])),
            "the straggler is not played"
        );
        buffer.push(1, 11, audio(11));
        assert_eq!(
            buffer.pop(),
            Some(Playout::Audio(audio(11))),
            "two in a row: a reset"
        );
        assert_eq!(buffer.stats().restarts, 1);
    }

    #[test]
    fn a_new_ssrc_starts_over() {
        let mut buffer = JitterBuffer::new(1);
        buffer.push(1, 100, audio(100));
        assert_eq!(drain(&mut buffer, 1).len(), 1);
        buffer.push(2, 5000, audio(5000));
        assert_eq!(buffer.pop(), Some(Playout::Audio(audio(5000))));
        assert_eq!(buffer.stats().restarts, 1);
    }

    proptest! {
        /// Whatever the order, duplicates and losses: every packet that was
        /// not late plays exactly once, in sequence order, and nothing panics.
        #[test]
        fn any_arrival_order_plays_each_packet_once_in_order(
            start in any::<u16>(),
            count in 1usize..80,
            swaps in prop::collection::vec((0usize..80, 0usize..3), 0..40),
            duplicates in prop::collection::vec(0usize..80, 0..10),
            lost in prop::collection::vec(0usize..80, 0..10),
        ) {
            let mut order: Vec<u16> = (0..count).map(|i| start.wrapping_add(i as u16)).collect();
            // Reordering by up to 2 packets at a time, as networks do.
            for (at, by) in swaps {
                let a = at % count;
                order.swap(a, (a + by).min(count - 1));
            }
            for index in duplicates {
                order.push(order[index % count]);
            }
            order.retain(|s| !lost.iter().any(|l| start.wrapping_add((l % count) as u16) == *s && *s != start));
            let mut buffer = JitterBuffer::new(3);
            let mut played = Vec::new();
            for sequence in order {
                buffer.push(5, sequence, audio(sequence));
                played.extend(buffer.pop());
            }
            played.extend(drain(&mut buffer, count + 5));
            let real: Vec<f32> = played.iter().filter_map(|p| match p {
                Playout::Audio(a) => Some(a[0]),
                Playout::Concealed(_) => None,
            }).collect();
            let offsets: Vec<u16> = real.iter().map(|&s| (s as u16).wrapping_sub(start)).collect();
            prop_assert!(offsets.windows(2).all(|w| w[0] < w[1]), "in order, once each: {:?}", offsets);
            let stats = buffer.stats();
            prop_assert_eq!(stats.received, stats.played + stats.duplicates + stats.late);
        }
    }
}
