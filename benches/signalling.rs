//! CPU cost of SIP signalling and G.711 per unit of work: parsing a typical
//! INVITE (the capacity issue asks for ≥ 200,000 a second per core), a whole
//! answered call set-up through the sans-IO user agent, and one 20 ms frame
//! of G.711 each way. Run: `cargo bench --bench signalling`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voicegate::audio::g711::{mulaw_decode, mulaw_encode, to_f32, to_i16};
use voicegate::sip::{parse_message, Peer, SipEvent, Transport, UserAgent};

/// An INVITE as trunks send them: a few Vias, Record-Route, PAI, an SDP offer.
fn typical_invite(call: u64) -> String {
    let sdp = "v=0\r\no=- 8832 8832 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
    format!(
        "INVITE sip:800@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-{call}-1;rport\r\n\
         Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-{call}-0\r\n\
         Record-Route: <sip:198.51.100.1;lr>\r\n\
         Max-Forwards: 69\r\n\
         From: \"Caller\" <sip:+15550100123@198.51.100.7>;tag=f{call}\r\n\
         To: <sip:800@127.0.0.1>\r\n\
         Call-ID: {call}-bench@198.51.100.7\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:+15550100123@198.51.100.7:5060>\r\n\
         P-Asserted-Identity: <sip:+15550100123@trunk.example>\r\n\
         Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REFER, NOTIFY, INFO\r\n\
         Supported: timer, replaces\r\n\
         Session-Expires: 1800\r\n\
         User-Agent: trunk/1.0\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn parsing(c: &mut Criterion) {
    let invite = typical_invite(1);
    let mut group = c.benchmark_group("SIP");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse a typical INVITE", |b| {
        b.iter(|| parse_message(invite.as_bytes()).unwrap())
    });
    group.finish();
}

/// INVITE in, the gateway's accept, 100/180/200 out: what one call set-up
/// costs the signalling task.
fn call_setup(c: &mut Criterion) {
    let caller = Peer {
        addr: "127.0.0.1:5071".parse().unwrap(),
        transport: Transport::Udp,
    };
    let media = "127.0.0.1:20000".parse().unwrap();
    let invites: Vec<String> = (0..1000).map(typical_invite).collect();
    let mut group = c.benchmark_group("SIP");
    group.throughput(Throughput::Elements(1));
    group.bench_function("answer one call (INVITE to 200 OK)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for round in 0..iterations {
                // A fresh user agent every 1,000 calls keeps its tables at a
                // realistic size.
                let mut ua =
                    UserAgent::new("127.0.0.1:5060".parse().unwrap(), "ivr", Duration::ZERO);
                ua.set_max_calls(2000);
                let invite = &invites[(round % 1000) as usize];
                let started = std::time::Instant::now();
                ua.handle_datagram(Duration::ZERO, caller, invite.as_bytes());
                while let Some(event) = ua.poll_event() {
                    if let SipEvent::Incoming { call, .. } = event {
                        ua.accept(Duration::from_millis(1), &call, media);
                    }
                }
                while ua.poll_transmit().is_some() {}
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

/// Calls set up and ended at a steady rate, the way the serve loop drives
/// the user agent: each datagram in, then the next timeout asked for, and
/// timers run when due. Ended legs and remembered answers stay 32 s for
/// retransmissions (RFC 3261 section 17), so at 500 calls a second the user
/// agent holds about 16,000 ended legs: what one more call costs with them.
struct SteadySetups {
    ua: UserAgent,
    caller: Peer,
    media: std::net::SocketAddr,
    now: Duration,
    spacing: Duration,
    calls: u64,
}

impl SteadySetups {
    fn new(calls_per_second: u32) -> SteadySetups {
        let mut ua = UserAgent::new("127.0.0.1:5060".parse().unwrap(), "ivr", Duration::ZERO);
        ua.set_max_calls(100_000);
        SteadySetups {
            ua,
            caller: Peer {
                addr: "127.0.0.1:5071".parse().unwrap(),
                transport: Transport::Udp,
            },
            media: "127.0.0.1:20000".parse().unwrap(),
            now: Duration::ZERO,
            spacing: Duration::from_secs(1) / calls_per_second,
            calls: 0,
        }
    }

    /// INVITE, accept, ACK and BYE of one call.
    fn one_call(&mut self) {
        self.calls += 1;
        let call = self.calls;
        self.receive(typical_invite(call));
        while let Some(event) = self.ua.poll_event() {
            if let SipEvent::Incoming { call, .. } = event {
                self.ua.accept(self.now, &call, self.media);
            }
        }
        let tag = self.answer_tag();
        let in_dialog = |method: &str, cseq: u32| {
            format!(
                "{method} sip:800@127.0.0.1:5060 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-{call}-{method}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:+15550100123@198.51.100.7>;tag=f{call}\r\n\
                 To: <sip:800@127.0.0.1>;tag={tag}\r\n\
                 Call-ID: {call}-bench@198.51.100.7\r\n\
                 CSeq: {cseq} {method}\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        };
        self.receive(in_dialog("ACK", 1));
        self.receive(in_dialog("BYE", 2));
        while self.ua.poll_event().is_some() {}
        while self.ua.poll_transmit().is_some() {}
        self.now += self.spacing;
    }

    fn receive(&mut self, message: String) {
        if self.ua.next_timeout().is_some_and(|due| due <= self.now) {
            self.ua.handle_timeout(self.now);
        }
        self.ua
            .handle_datagram(self.now, self.caller, message.as_bytes());
        self.ua.next_timeout();
    }

    fn answer_tag(&mut self) -> String {
        let mut tag = String::new();
        while let Some(sent) = self.ua.poll_transmit() {
            let reply = parse_message(&sent.bytes).unwrap();
            if let Some(to) = reply.header("to") {
                if let Some((_, found)) = to.split_once(";tag=") {
                    tag = found.to_string();
                }
            }
        }
        tag
    }
}

fn steady_setups(c: &mut Criterion) {
    let mut load = SteadySetups::new(500);
    // 40 s of calls first: the ended legs and answers reach their steady number.
    for _ in 0..20_000 {
        load.one_call();
    }
    let mut group = c.benchmark_group("SIP");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "one call set up and ended at 500 a second (16,000 ended legs kept)",
        |b| b.iter(|| load.one_call()),
    );
    group.finish();
}

fn g711(c: &mut Criterion) {
    let frame: Vec<f32> = (0..160).map(|n| (n as f32 / 10.0).sin() * 0.3).collect();
    let mut group = c.benchmark_group("G.711");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one 20 ms frame, μ-law out and back", |b| {
        b.iter(|| {
            frame
                .iter()
                .map(|s| to_f32(mulaw_decode(mulaw_encode(to_i16(*s)))))
                .sum::<f32>()
        })
    });
    group.finish();
}

criterion_group!(benches, parsing, call_setup, steady_setups, g711);
criterion_main!(benches);
