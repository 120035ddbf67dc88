//! permessage-deflate over real sockets: compressing and plain clients in
//! one room, both ways, across workers; a broadcast compressed at most once
//! per worker; the bomb, corrupt data and RSV1 rules.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use support::{IO_TIMEOUT, Relay, SAMPLE_KEY, client_frame};
use wsrelay::protocol::client::{
    self as ws, ClientDeflate, RequestOptions, ResponseHead, ServerFrame,
};
use wsrelay::protocol::frame::deflate::{Compressor, RSV1};

/// A client on the relay's client core that may offer permessage-deflate.
struct Peer {
    stream: TcpStream,
    pending: Vec<u8>,
    deflate: Option<ClientDeflate>,
}

/// A message as received: whether its frame had RSV1, and its bytes (inflated).
type Received = (bool, Vec<u8>);

impl Peer {
    /// Opens a connection; permessage-deflate is negotiated exactly if offered.
    fn open(addr: SocketAddr, room: &str, offer: bool) -> Peer {
        let peer = Peer::connect(addr, room, offer);
        assert_eq!(peer.deflate.is_some(), offer);
        peer
    }

    /// Opens a connection, offering permessage-deflate if `offer`.
    fn connect(addr: SocketAddr, room: &str, offer: bool) -> Peer {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let options = RequestOptions {
            deflate: offer,
            ..RequestOptions::default()
        };
        let mut request = Vec::new();
        ws::write_request(room, "localhost", SAMPLE_KEY, &options, &mut request).unwrap();
        stream.write_all(&request).unwrap();
        let mut peer = Peer {
            stream,
            pending: Vec::new(),
            deflate: None,
        };
        loop {
            if let Some(head) = ResponseHead::parse(&peer.pending).unwrap() {
                let upgraded = head.check_upgrade_offering(SAMPLE_KEY, &[], offer).unwrap();
                let params = upgraded.deflate;
                let head_len = head.head_len();
                peer.pending.drain(..head_len);
                peer.deflate = params.map(ClientDeflate::new);
                break;
            }
            peer.fill();
        }
        assert_eq!(peer.next().1, b"Hello, World!", "the greeting");
        peer
    }

    fn fill(&mut self) -> bool {
        support::read_more(&mut self.stream, &mut self.pending)
    }

    /// The next frame: first byte and payload.
    fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some(frame) = ServerFrame::parse_header(&self.pending, usize::MAX).unwrap()
                && self.pending.len() >= frame.frame_len()
            {
                frame.check_with(self.deflate.is_some()).unwrap();
                assert!(frame.fin, "the relay sends whole messages");
                let payload = self.pending[frame.payload()].to_vec();
                self.pending.drain(..frame.frame_len());
                return Some((frame.first_byte(), payload));
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// The next data message, inflated if it came compressed.
    fn next(&mut self) -> Received {
        loop {
            let (first, payload) = self.frame().expect("a message");
            if first & 0x0F == 0x9 || first & 0x0F == 0xA {
                continue;
            }
            let compressed = first & RSV1 != 0;
            if !compressed {
                return (false, payload);
            }
            let deflate = self.deflate.as_mut().expect("RSV1 only where negotiated");
            return (true, deflate.inflate(&payload, 1 << 24).unwrap().to_vec());
        }
    }

    /// Sends a text message, compressed if negotiated.
    fn send(&mut self, text: &[u8]) {
        let mut wire = Vec::new();
        match &mut self.deflate {
            Some(deflate) => deflate.encode(0x1, text, [1, 2, 3, 4], &mut wire),
            None => ws::encode_masked(0x1, text, [1, 2, 3, 4], &mut wire),
        }
        self.stream.write_all(&wire).unwrap();
    }

    fn expect_close(&mut self) -> u16 {
        while let Some((first, payload)) = self.frame() {
            if first & 0x0F == 0x8 {
                return ws::close_code(&payload).unwrap();
            }
        }
        panic!("no close frame");
    }
}

fn json(bytes: usize) -> Vec<u8> {
    let item = r#"{"symbol":"ETH-USD","bid":3021.55,"ask":3021.61,"ts":1700000000},"#;
    let mut text = b"[".to_vec();
    while text.len() + item.len() < bytes {
        text.extend_from_slice(item.as_bytes());
    }
    text.push(b'0');
    text.push(b']');
    text
}

fn compressions(relay: &Relay) -> u64 {
    relay.handle().stats().total(|w| &w.deflate_compressions)
}

fn start() -> Relay {
    Relay::start_with(|config| {
        config.listen.workers = 2;
        config.limits.max_message = 64 * 1024;
    })
}

#[test]
fn compressing_and_plain_clients_share_a_room_both_ways() {
    let relay = start();
    // Round-robin: the peers land on both workers.
    let mut zipped: Vec<Peer> = (0..3)
        .map(|_| Peer::open(relay.addr, "/mix", true))
        .collect();
    let mut plain: Vec<Peer> = (0..2)
        .map(|_| Peer::open(relay.addr, "/mix", false))
        .collect();
    relay.wait_for("five open", |_| relay.websockets() == 5);
    let message = json(3000);

    zipped[0].send(&message);
    for peer in &mut zipped[1..] {
        assert_eq!(peer.next(), (true, message.clone()));
    }
    for peer in &mut plain {
        assert_eq!(peer.next(), (false, message.clone()));
    }
    let after_one = compressions(&relay);
    assert!(
        (1..=2).contains(&after_one),
        "at most once per worker: {after_one}"
    );

    plain[0].send(&message);
    for peer in &mut zipped {
        assert_eq!(peer.next(), (true, message.clone()));
    }
    assert_eq!(plain[1].next(), (false, message.clone()));
    assert!(compressions(&relay) - after_one <= 2);

    // Under --deflate-threshold (128 bytes): plain, RSV1 clear, for everyone.
    let before = compressions(&relay);
    zipped[1].send(b"short");
    assert_eq!(zipped[0].next(), (false, b"short".to_vec()));
    assert_eq!(plain[0].next(), (false, b"short".to_vec()));
    assert_eq!(compressions(&relay), before);
}

#[test]
fn nothing_is_compressed_when_no_recipient_negotiated() {
    let relay = start();
    let mut sender = Peer::open(relay.addr, "/plain", true);
    let mut receivers: Vec<Peer> = (0..3)
        .map(|_| Peer::open(relay.addr, "/plain", false))
        .collect();
    relay.wait_for("four open", |_| relay.websockets() == 4);
    let message = json(2000);
    sender.send(&message);
    for peer in &mut receivers {
        assert_eq!(peer.next(), (false, message.clone()));
    }
    assert_eq!(compressions(&relay), 0);
}

#[test]
fn deflate_off_declines_every_offer() {
    let relay = Relay::start_with(|config| config.deflate.enabled = false);
    let mut a = Peer::connect(relay.addr, "/", true);
    let mut b = Peer::connect(relay.addr, "/", true);
    assert!(a.deflate.is_none() && b.deflate.is_none());
    a.send(&json(500));
    assert_eq!(b.next(), (false, json(500)));
}

fn compressed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Compressor::new(6).compress(payload, 15, &mut out);
    out
}

#[test]
fn a_bomb_gets_1009_and_the_relay_goes_on() {
    let relay = start();
    let mut bomber = Peer::open(relay.addr, "/", true);
    let mut witness = Peer::open(relay.addr, "/", true);
    // 16 MiB of zeros in about 16 KiB: a thousandfold bomb, past 64 KiB.
    let bomb = compressed(&vec![0u8; 16 << 20]);
    assert!(bomb.len() * 1000 <= 16 << 20, "{}", bomb.len());
    let frame = wsrelay::protocol::frame::encode_client(0x80 | RSV1 | 0x2, &bomb, Some([5; 4]));
    bomber.stream.write_all(&frame).unwrap();
    assert_eq!(bomber.expect_close(), 1009);
    // The limit itself is fine.
    let mut sender = Peer::open(relay.addr, "/", true);
    let limit = vec![b'x'; 64 * 1024];
    sender.send(&limit);
    assert_eq!(witness.next(), (true, limit));
}

#[test]
fn corrupt_data_and_misplaced_rsv1_are_refused() {
    let relay = start();
    let cases: [(bool, Vec<u8>, u16); 3] = [
        (
            true,
            client_frame(0x80 | RSV1 | 0x1, true, &[0xff; 16]),
            1007,
        ),
        (
            false,
            client_frame(0x80 | RSV1 | 0x1, true, &compressed(b"hi")),
            1002,
        ),
        (true, client_frame(0x80 | RSV1 | 0x9, true, b""), 1002),
    ];
    for (offer, frame, code) in cases {
        let mut peer = Peer::open(relay.addr, "/", offer);
        peer.stream.write_all(&frame).unwrap();
        assert_eq!(peer.expect_close(), code);
    }
}
