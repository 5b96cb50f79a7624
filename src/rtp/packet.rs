//! Reading RTP packets (RFC 3550 section 5.1) from untrusted datagrams with
//! rtp-rs, into the fields the call path uses.

/// The parts of an RTP packet the media path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RTP packet ({0}): dropped")]
pub struct RtpError(String);

/// Parses one datagram; anything malformed is an error, never a panic.
pub fn parse_rtp(datagram: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let reader =
        rtp_rs::RtpReader::new(datagram).map_err(|error| RtpError(format!("{error:?}")))?;
    Ok(RtpPacket {
        payload_type: reader.payload_type(),
        marker: reader.mark(),
        sequence: reader.sequence_number().into(),
        timestamp: reader.timestamp(),
        ssrc: reader.ssrc(),
        payload: reader.payload(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_pcmu_packet_reads_back() {
        let mut datagram = vec![
            0x80, 0x80, 0x12, 0x34, 0, 0, 0x0F, 0xA0, 0xDE, 0xAD, 0xBE, 0xEF,
        ];
        datagram.extend([0xFFu8; 160]);
        let packet = parse_rtp(&datagram).unwrap();
        assert_eq!(
            (
                packet.payload_type,
                packet.marker,
                packet.sequence,
                packet.timestamp,
                packet.ssrc
            ),
            (0, true, 0x1234, 4000, 0xDEADBEEF)
        );
        assert_eq!(packet.payload.len(), 160);
    }

    #[test]
    fn short_or_wrong_version_datagrams_are_errors() {
        assert!(parse_rtp(&[0x80, 0x00, 0x00]).is_err());
        assert!(parse_rtp(&[0x40; 20]).is_err(), "version 1");
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(datagram in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(packet) = parse_rtp(&datagram) {
                prop_assert!(packet.payload.len() <= datagram.len());
            }
        }
    }
}
