//! DTMF digits from RTP telephone-event payloads (RFC 4733 section 2.3).
//! A key press is sent as several packets sharing one RTP timestamp, the last
//! three with the E bit set; the digit is reported once, on the first packet
//! seen, so the engine hears it without waiting for the key to be released.

use crate::dtmf::KEYS as EVENTS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub digit: char,
    pub end: bool,
    /// In timestamp units (RFC 4733 section 2.5.1.4).
    pub duration: u16,
}

/// Parses a telephone-event payload; `None` for a short payload or a
/// non-DTMF event (tones, flash), which voicegate ignores.
pub fn parse_event(payload: &[u8]) -> Option<TelephoneEvent> {
    let [event, flags, duration_hi, duration_lo, ..] = *payload else {
        return None;
    };
    let digit = *EVENTS.get(usize::from(event))?;
    Some(TelephoneEvent {
        digit,
        end: flags & 0x80 != 0,
        duration: u16::from_be_bytes([duration_hi, duration_lo]),
    })
}

/// Turns a stream of telephone-event packets into key presses.
#[derive(Debug, Default)]
pub struct DtmfDetector {
    /// (SSRC, RTP timestamp) of the last event reported.
    last: Option<(u32, u32)>,
}

impl DtmfDetector {
    /// The digit if this packet starts a new key press.
    pub fn push(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = parse_event(payload)?;
        if self.last == Some((ssrc, timestamp)) {
            return None;
        }
        self.last = Some((ssrc, timestamp));
        Some(event.digit)
    }
}

/// Volume of the key presses voicegate sends: −10 dBm0 (RFC 4733 section 2.3.4).
const SEND_VOLUME: u8 = 10;

/// The telephone-event payloads of one key press held for `frames` 20 ms
/// packets (RFC 4733 section 2.5.1): the duration grows by a packet each
/// time, and the last packet, with the E bit, is sent three times
/// (section 2.5.1.4). `None` for a key that is not one of the sixteen.
pub fn key_press_payloads(digit: char, frames: u16) -> Option<Vec<[u8; 4]>> {
    let event = EVENTS.iter().position(|&key| key == digit)? as u8;
    let frames = frames.clamp(1, 400);
    let payload = |frame: u16, end: bool| {
        let duration = (frame * 160).to_be_bytes();
        let flags = SEND_VOLUME | if end { 0x80 } else { 0 };
        [event, flags, duration[0], duration[1]]
    };
    let mut payloads: Vec<[u8; 4]> = (1..frames).map(|frame| payload(frame, false)).collect();
    payloads.extend([payload(frames, true); 3]);
    Some(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_press_sent_is_the_key_detected_once_with_its_end_repeated() {
        let payloads = key_press_payloads('#', 5).unwrap();
        assert_eq!(payloads.len(), 7);
        let events: Vec<TelephoneEvent> =
            payloads.iter().map(|p| parse_event(p).unwrap()).collect();
        assert!(events.iter().all(|e| e.digit == '#'));
        assert_eq!(events[0].duration, 160);
        assert!(!events[3].end && events[4].end && events[6].end);
        assert_eq!(events[6].duration, 800);
        let mut detector = DtmfDetector::default();
        let heard: Vec<char> = payloads
            .iter()
            .filter_map(|p| detector.push(1, 5000, p))
            .collect();
        assert_eq!(heard, ['#']);
        assert!(key_press_payloads('x', 5).is_none());
    }

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let [hi, lo] = duration.to_be_bytes();
        [event, if end { 0x8A } else { 0x0A }, hi, lo]
    }

    #[test]
    fn events_map_to_keys() {
        assert_eq!(
            parse_event(&payload(0, false, 160)).map(|e| e.digit),
            Some('0')
        );
        assert_eq!(
            parse_event(&payload(10, false, 160)).map(|e| e.digit),
            Some('*')
        );
        assert_eq!(
            parse_event(&payload(11, true, 800)),
            Some(TelephoneEvent {
                digit: '#',
                end: true,
                duration: 800
            })
        );
        assert_eq!(
            parse_event(&payload(15, false, 0)).map(|e| e.digit),
            Some('D')
        );
        assert_eq!(
            parse_event(&payload(16, false, 0)),
            None,
            "flash is not a digit"
        );
        assert_eq!(parse_event(&[5, 0]), None, "short payload");
    }

    #[test]
    fn one_press_in_many_packets_is_one_digit_and_a_repeat_is_another() {
        let mut detector = DtmfDetector::default();
        let press = |d: &mut DtmfDetector, ts: u32| -> Vec<char> {
            let mut digits = Vec::new();
            for (duration, end) in [
                (160, false),
                (320, false),
                (480, false),
                (640, true),
                (640, true),
                (640, true),
            ] {
                digits.extend(d.push(7, ts, &payload(1, end, duration)));
            }
            digits
        };
        assert_eq!(press(&mut detector, 1000), vec!['1']);
        assert_eq!(
            press(&mut detector, 2600),
            vec!['1'],
            "the same key pressed again has a new timestamp"
        );
    }
}
