//! What the SIPp caller sends as media: an RTP stream built here, from a
//! recording decoded by voicegate's own decoder (G.711 μ-law, PT 0, 20 ms
//! packets) and DTMF key presses as RFC 4733 telephone-event packets (PT 101),
//! written as a classic libpcap file (Ethernet, IPv4, UDP) that SIPp's
//! `<exec play_pcap_audio="…"/>` replays with the recorded timing.
//!
//! SIPp keeps each packet's UDP payload as it is and rewrites only the ports
//! and addresses, so sequence numbers, timestamps and markers arrive exactly
//! as built here.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use voicegate::audio::g711::{mulaw_encode, to_i16};
use voicegate::audio::{ChannelPick, Recording, CALL_RATE, FRAME_SAMPLES};

/// Payload type of G.711 μ-law (RFC 3551, static).
pub const PT_PCMU: u8 = 0;
/// Payload type the scenarios offer for telephone-event.
pub const PT_EVENT: u8 = 101;
/// One RTP packet per 20 ms.
pub const PACKET_S: f64 = 0.020;
/// μ-law silence (the code for linear 0).
pub const MULAW_SILENCE: u8 = 0xFF;
/// Interim packets of one key press (durations 160, 320, … samples): 100 ms.
pub const PRESS_PACKETS: usize = 5;
/// The end packet (E bit) of a key press, sent this many times (RFC 4733
/// §2.5.1.4 recommends three).
pub const END_PACKETS: usize = 3;

const SSRC: u32 = 0x5EED_CA11;
const FIRST_SEQ: u16 = 4000;
const FIRST_TIMESTAMP: u32 = 160_000;
/// pcap time of the first packet. Not 0: SIPp's pacing treats a zero
/// timestamp as "no previous packet" and would send the second packet early.
const PCAP_EPOCH_S: u32 = 1_700_000_000;
/// The UDP ports written into the pcap. SIPp replaces them with its media
/// port and the far end's; all packets use the same pair, so they all go to
/// the negotiated RTP port (SIPp sends packet port − lowest port + offset).
const PCAP_SRC_PORT: u16 = 40_000;
const PCAP_DST_PORT: u16 = 40_002;

/// A DTMF key pressed at a time from the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Press {
    pub at_s: f64,
    pub key: char,
}

/// One RTP packet and when to send it, in seconds from the first packet.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedPacket {
    pub at_s: f64,
    pub rtp: Vec<u8>,
}

/// What the caller sends: audio (a recording, or silence) and key presses.
#[derive(Debug, Clone)]
pub struct CallerMedia {
    recording: Option<PathBuf>,
    seconds: Option<f64>,
    presses: Vec<Press>,
}

impl CallerMedia {
    /// μ-law silence for `seconds`.
    pub fn silence(seconds: f64) -> CallerMedia {
        CallerMedia {
            recording: None,
            seconds: Some(seconds),
            presses: Vec::new(),
        }
    }

    /// The whole recording at `path`, mixed to mono, at 8 kHz.
    pub fn recording(path: &Path) -> CallerMedia {
        CallerMedia {
            recording: Some(path.to_path_buf()),
            seconds: None,
            presses: Vec::new(),
        }
    }

    /// Only the first `seconds` of the recording (or that much silence).
    pub fn first_seconds(mut self, seconds: f64) -> CallerMedia {
        self.seconds = Some(seconds);
        self
    }

    /// Presses `key` (0-9, *, #, A-D) at `at_s` seconds: the audio packets
    /// while the key is down and its end is reported are left out.
    pub fn press(mut self, at_s: f64, key: char) -> CallerMedia {
        assert!(event_code(key).is_some(), "not a DTMF key: {key:?}");
        self.presses.push(Press { at_s, key });
        self
    }

    /// The packets in sending order.
    pub fn packets(&self) -> Vec<TimedPacket> {
        let samples = self.samples();
        let mut frames: Vec<Vec<u8>> = samples
            .chunks(FRAME_SAMPLES)
            .map(|chunk| {
                let mut frame: Vec<u8> = chunk.iter().map(|&s| mulaw_encode(to_i16(s))).collect();
                frame.resize(FRAME_SAMPLES, MULAW_SILENCE);
                frame
            })
            .collect();
        let mut presses = self.presses.clone();
        presses.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        // Frame index at which each press starts; the stream is long enough
        // for the last press's end packets.
        let starts: Vec<usize> = presses
            .iter()
            .map(|press| (press.at_s / PACKET_S).round().max(0.0) as usize)
            .collect();
        if let Some(&last) = starts.last() {
            let needed = last + PRESS_PACKETS + END_PACKETS;
            if frames.len() < needed {
                frames.resize(needed, vec![MULAW_SILENCE; FRAME_SAMPLES]);
            }
        }
        for pair in starts.windows(2) {
            assert!(
                pair[1] >= pair[0] + PRESS_PACKETS + END_PACKETS,
                "key presses closer than {} ms overlap",
                (PRESS_PACKETS + END_PACKETS) * 20
            );
        }

        let mut packets = Vec::with_capacity(frames.len());
        let mut seq = FIRST_SEQ;
        let mut next_press = 0;
        let mut talkspurt_starts = true;
        let mut index = 0;
        while index < frames.len() {
            let timestamp = FIRST_TIMESTAMP.wrapping_add((index * FRAME_SAMPLES) as u32);
            if next_press < presses.len() && index == starts[next_press] {
                let code = event_code(presses[next_press].key).expect("checked key");
                for step in 0..PRESS_PACKETS + END_PACKETS {
                    let end = step >= PRESS_PACKETS;
                    let duration = (FRAME_SAMPLES * (step.min(PRESS_PACKETS - 1) + 1)) as u16;
                    let payload = telephone_event(code, end, duration);
                    packets.push(TimedPacket {
                        at_s: (index + step) as f64 * PACKET_S,
                        rtp: rtp(PT_EVENT, step == 0, seq, timestamp, &payload),
                    });
                    seq = seq.wrapping_add(1);
                }
                index += PRESS_PACKETS + END_PACKETS;
                next_press += 1;
                talkspurt_starts = true;
                continue;
            }
            packets.push(TimedPacket {
                at_s: index as f64 * PACKET_S,
                rtp: rtp(PT_PCMU, talkspurt_starts, seq, timestamp, &frames[index]),
            });
            seq = seq.wrapping_add(1);
            talkspurt_starts = false;
            index += 1;
        }
        packets
    }

    /// Writes the stream as a pcap file and returns how many packets it has.
    pub fn write_pcap(&self, path: &Path) -> io::Result<usize> {
        let packets = self.packets();
        write_pcap(path, &packets)?;
        Ok(packets.len())
    }

    /// The audio at 8 kHz: the recording (cut to `seconds` if set) or silence.
    fn samples(&self) -> Vec<f32> {
        let limit = self
            .seconds
            .map(|s| (s * f64::from(CALL_RATE)).round() as usize);
        let Some(path) = &self.recording else {
            return vec![0.0; limit.unwrap_or(0)];
        };
        let mut recording = Recording::open(path, ChannelPick::Mix)
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", path.display()));
        let mut samples = Vec::new();
        while let Some(block) = recording
            .next_block()
            .unwrap_or_else(|error| panic!("cannot decode {}: {error}", path.display()))
        {
            samples.extend_from_slice(&block);
            if limit.is_some_and(|limit| samples.len() >= limit) {
                break;
            }
        }
        if let Some(limit) = limit {
            samples.truncate(limit);
        }
        samples
    }
}

/// RFC 4733 §3.2 event code of a DTMF key.
pub fn event_code(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(key as u8 - b'A' + 12),
        _ => None,
    }
}

/// The key of an RFC 4733 DTMF event code.
pub fn event_key(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// RFC 4733 §2.3 payload: event, E bit, volume 10 (−10 dBm0), duration.
fn telephone_event(code: u8, end: bool, duration: u16) -> [u8; 4] {
    let [high, low] = duration.to_be_bytes();
    [code, if end { 0x80 } else { 0x00 } | 10, high, low]
}

fn rtp(payload_type: u8, marker: bool, seq: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(payload_type)
        .marked(marker)
        .sequence(Seq::from(seq))
        .timestamp(timestamp)
        .ssrc(SSRC)
        .payload(payload)
        .build()
        .expect("valid RTP packet")
}

/// Writes `packets` as a classic libpcap file (magic a1b2c3d4, version 2.4,
/// microsecond timestamps, linktype 1 Ethernet), each an Ethernet frame with
/// an IPv4 header (correct lengths and header checksum) and a UDP header
/// (checksum 0, "none", which IPv4 allows), 127.0.0.1 to 127.0.0.1.
pub fn write_pcap(path: &Path, packets: &[TimedPacket]) -> io::Result<()> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (index, packet) in packets.iter().enumerate() {
        let frame = ethernet_frame(index as u16, &packet.rtp);
        let micros = (packet.at_s * 1e6).round() as u64;
        let seconds = PCAP_EPOCH_S + (micros / 1_000_000) as u32;
        out.extend_from_slice(&seconds.to_le_bytes());
        out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes()); // captured
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes()); // on the wire
        out.extend_from_slice(&frame);
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(&out)?;
    file.sync_all()
}

fn ethernet_frame(ip_id: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut frame = Vec::with_capacity(14 + ip_len);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // destination MAC (local)
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // source MAC (local)
    frame.extend_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    let mut ip = [0u8; 20];
    ip[0] = 0x45; // version 4, 5 words
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&[127, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[127, 0, 0, 1]);
    let checksum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&PCAP_SRC_PORT.to_be_bytes());
    frame.extend_from_slice(&PCAP_DST_PORT.to_be_bytes());
    frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
    frame.extend_from_slice(&0u16.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// RFC 791 header checksum: one's complement of the one's complement sum.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|word| u32::from(u16::from_be_bytes([word[0], word[1]])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// A packet read back from a pcap: its time from the first packet and its
/// UDP payload, after the headers were checked.
#[derive(Debug)]
pub struct ReadPacket {
    pub at_s: f64,
    pub udp_payload: Vec<u8>,
}

/// Reads a pcap written by [`write_pcap`] back, checking the global header
/// and every frame's Ethernet, IPv4 and UDP fields. Errors name what is wrong.
pub fn read_pcap(path: &Path) -> Result<Vec<ReadPacket>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let u16le = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    if bytes.len() < 24 {
        return Err("shorter than a pcap global header".into());
    }
    if u32le(0) != 0xa1b2_c3d4 {
        return Err(format!("magic {:#010x}, not a1b2c3d4", u32le(0)));
    }
    if (u16le(4), u16le(6)) != (2, 4) {
        return Err(format!("version {}.{}, not 2.4", u16le(4), u16le(6)));
    }
    if u32le(20) != 1 {
        return Err(format!("linktype {}, not 1 (Ethernet)", u32le(20)));
    }
    let mut packets = Vec::new();
    let mut at = 24;
    let mut first: Option<f64> = None;
    while at < bytes.len() {
        if at + 16 > bytes.len() {
            return Err(format!("record header cut at byte {at}"));
        }
        let time = f64::from(u32le(at)) + f64::from(u32le(at + 4)) / 1e6;
        let (captured, original) = (u32le(at + 8) as usize, u32le(at + 12) as usize);
        if captured != original {
            return Err(format!(
                "packet at byte {at} truncated: {captured} of {original}"
            ));
        }
        let frame = bytes
            .get(at + 16..at + 16 + captured)
            .ok_or_else(|| format!("frame at byte {at} runs past the end"))?;
        at += 16 + captured;
        if frame.len() < 42 || frame[12..14] != [0x08, 0x00] {
            return Err(format!("frame {} is not Ethernet + IPv4", packets.len()));
        }
        let ip = &frame[14..34];
        if ip[0] != 0x45 || ip[9] != 17 {
            return Err(format!(
                "frame {}: not a 20-byte IPv4 header of UDP",
                packets.len()
            ));
        }
        if ipv4_checksum(ip) != 0 {
            return Err(format!(
                "frame {}: wrong IPv4 header checksum",
                packets.len()
            ));
        }
        let ip_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let udp = &frame[34..];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        if ip_len != frame.len() - 14 || udp_len != udp.len() {
            return Err(format!(
                "frame {}: IPv4 length {ip_len}, UDP length {udp_len}, for a {}-byte frame",
                packets.len(),
                frame.len()
            ));
        }
        let start = *first.get_or_insert(time);
        packets.push(ReadPacket {
            at_s: time - start,
            udp_payload: udp[8..].to_vec(),
        });
    }
    Ok(packets)
}

/// The key presses in an RTP stream, each with the time of its first packet:
/// one per distinct telephone-event timestamp.
pub fn decode_presses(packets: &[ReadPacket]) -> Vec<Press> {
    let mut presses: Vec<(u32, Press)> = Vec::new();
    for packet in packets {
        let Ok(reader) = RtpReader::new(&packet.udp_payload) else {
            continue;
        };
        if reader.payload_type() != PT_EVENT || reader.payload().len() < 4 {
            continue;
        }
        if presses.iter().any(|(ts, _)| *ts == reader.timestamp()) {
            continue;
        }
        if let Some(key) = event_key(reader.payload()[0]) {
            presses.push((
                reader.timestamp(),
                Press {
                    at_s: packet.at_s,
                    key,
                },
            ));
        }
    }
    presses.into_iter().map(|(_, press)| press).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn pcap_of_silence_and_keys_reads_back_with_its_timing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.pcap");
        let media = CallerMedia::silence(3.0).press(1.0, '4').press(2.0, '#');
        let written = media.write_pcap(&path).unwrap();
        let packets = read_pcap(&path).unwrap();
        // 150 frames of 20 ms; each press replaces 8 audio frames by 8 events.
        assert_eq!(written, 150);
        assert_eq!(packets.len(), 150);

        let mut audio = 0;
        let mut previous_seq: Option<u16> = None;
        for (index, packet) in packets.iter().enumerate() {
            assert!(
                close(packet.at_s, index as f64 * PACKET_S),
                "packet {index} at {}",
                packet.at_s
            );
            let rtp = RtpReader::new(&packet.udp_payload).unwrap();
            assert_eq!(rtp.version(), 2);
            assert_eq!(rtp.ssrc(), SSRC);
            let seq = u16::from(rtp.sequence_number());
            if let Some(previous) = previous_seq {
                assert_eq!(seq, previous.wrapping_add(1), "sequence numbers run on");
            }
            previous_seq = Some(seq);
            if rtp.payload_type() == PT_PCMU {
                audio += 1;
                assert_eq!(rtp.payload(), &[MULAW_SILENCE; FRAME_SAMPLES][..]);
                // The audio clock runs with the packet clock.
                assert_eq!(
                    rtp.timestamp(),
                    FIRST_TIMESTAMP + (index * FRAME_SAMPLES) as u32
                );
            }
        }
        assert_eq!(audio, 150 - 2 * (PRESS_PACKETS + END_PACKETS));
        let first = RtpReader::new(&packets[0].udp_payload).unwrap();
        assert!(first.mark(), "the first packet starts a talkspurt");

        let presses = decode_presses(&packets);
        assert_eq!(
            presses,
            vec![
                Press {
                    at_s: 1.0,
                    key: '4'
                },
                Press {
                    at_s: 2.0,
                    key: '#'
                }
            ]
        );
    }

    #[test]
    fn a_key_press_is_rfc_4733_packets_on_one_timestamp() {
        let packets = CallerMedia::silence(0.0).press(0.5, '0').packets();
        let events: Vec<_> = packets
            .iter()
            .filter_map(|p| {
                let rtp = RtpReader::new(&p.rtp).unwrap();
                (rtp.payload_type() == PT_EVENT).then(|| {
                    let payload = rtp.payload().to_vec();
                    (p.at_s, rtp.mark(), rtp.timestamp(), payload)
                })
            })
            .collect();
        assert_eq!(events.len(), PRESS_PACKETS + END_PACKETS);
        let timestamp = events[0].2;
        assert_eq!(timestamp, FIRST_TIMESTAMP + 25 * FRAME_SAMPLES as u32);
        for (step, (at_s, marker, ts, payload)) in events.iter().enumerate() {
            assert!(close(*at_s, 0.5 + step as f64 * PACKET_S));
            assert_eq!(*marker, step == 0, "marker only on the first packet");
            assert_eq!(*ts, timestamp, "one timestamp for the whole event");
            assert_eq!(payload[0], 0, "event 0 is the key 0");
            let end = payload[1] & 0x80 != 0;
            assert_eq!(end, step >= PRESS_PACKETS);
            assert_eq!(payload[1] & 0x3F, 10, "volume");
            let duration = u16::from_be_bytes([payload[2], payload[3]]);
            let expected = 160 * (step.min(PRESS_PACKETS - 1) + 1) as u16;
            assert_eq!(duration, expected);
        }
        // The silence before the press is there; the stream ends with the press.
        assert_eq!(packets.len(), 25 + PRESS_PACKETS + END_PACKETS);
    }

    #[test]
    fn a_recording_becomes_pcmu_packets_from_the_decoder() {
        let path = crate::repo_path("fixtures/calls/calm_caller/call.flac");
        let media = CallerMedia::recording(&path).first_seconds(2.0);
        let packets = media.packets();
        assert_eq!(packets.len(), 100);
        let mut loud = 0;
        for packet in &packets {
            let rtp = RtpReader::new(&packet.rtp).unwrap();
            assert_eq!(rtp.payload_type(), PT_PCMU);
            assert_eq!(rtp.payload().len(), FRAME_SAMPLES);
            if rtp.payload().iter().any(|&b| b & 0x7F < 0x60) {
                loud += 1;
            }
        }
        // Not silence: the caller's voice is in there.
        assert!(loud > 0, "all 100 packets are near silence");
    }

    #[test]
    fn ipv4_checksum_of_a_known_header() {
        // RFC 1071-style example header (Wikipedia's IPv4 checksum example).
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_checksum(&header), 0xb861);
    }
}
