//! Fan-out semantics with real WebSocket clients.

mod support;

use std::time::Duration;
use support::*;
use tungstenite::Message;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

#[test]
fn new_client_is_greeted() {
    let relay = Relay::start();
    let mut client = connect_raw(&relay.url());
    assert_eq!(next_message(&mut client), Message::text("Hello, World!"));
}

#[test]
fn custom_greeting_and_empty_greeting() {
    let relay = Relay::start_with(|c| c.rooms.greeting = Some("welcome".into()));
    let mut client = connect_raw(&relay.url());
    assert_eq!(next_message(&mut client), Message::text("welcome"));

    let silent = Relay::start_with(|c| c.rooms.greeting = None);
    let mut client = connect_raw(&silent.url());
    assert_silent(&mut client, Duration::from_millis(200));
}

#[test]
fn broadcast_skips_sender() {
    let relay = Relay::start();
    let mut clients = connect_many(&relay, 3);
    clients[0].send(Message::text("from zero")).unwrap();
    assert_eq!(next_message(&mut clients[1]), Message::text("from zero"));
    assert_eq!(next_message(&mut clients[2]), Message::text("from zero"));
    assert_silent(&mut clients[0], Duration::from_millis(200));
}

#[test]
fn binary_stays_binary_and_text_stays_text() {
    let relay = Relay::start();
    let mut clients = connect_many(&relay, 2);
    clients[0]
        .send(Message::binary(vec![0u8, 159, 146, 150]))
        .unwrap();
    clients[0].send(Message::text("plain")).unwrap();
    assert_eq!(
        next_message(&mut clients[1]),
        Message::binary(vec![0u8, 159, 146, 150])
    );
    assert_eq!(next_message(&mut clients[1]), Message::text("plain"));
}

#[test]
fn one_mib_message_is_forwarded_whole() {
    let relay = Relay::start();
    let mut clients = connect_many(&relay, 2);
    let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    clients[0].send(Message::binary(payload.clone())).unwrap();
    assert_eq!(next_message(&mut clients[1]), Message::binary(payload));
}

#[test]
fn fragmented_message_is_forwarded_as_one_message() {
    let relay = Relay::start();
    let mut clients = connect_many(&relay, 2);
    let parts = ["frag", "men", "ted"];
    for (i, part) in parts.iter().enumerate() {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let last = i == parts.len() - 1;
        let frame = Frame::message(part.as_bytes().to_vec(), opcode, last);
        clients[0].write(Message::Frame(frame)).unwrap();
    }
    clients[0].flush().unwrap();
    assert_eq!(next_message(&mut clients[1]), Message::text("fragmented"));
}

#[test]
fn echo_mode_answers_the_sender_only_and_does_not_greet() {
    let relay = Relay::start_with(|c| {
        c.rooms.mode = wsrelay::config::Mode::Echo;
        c.rooms.greeting = None;
    });
    let mut a = connect_raw(&relay.url());
    let mut b = connect_raw(&relay.url());
    relay.wait_for("two open", |_| relay.websockets() == 2);
    a.send(Message::text("echo me")).unwrap();
    assert_eq!(next_message(&mut a), Message::text("echo me"));
    assert_silent(&mut b, Duration::from_millis(200));
}

/// Every worker accepts for itself from the one listener, taking turns by
/// load: clients connecting one after another land evenly on all workers.
#[test]
fn clients_connecting_in_turn_are_spread_evenly_over_the_workers() {
    let relay = Relay::start_with(|c| c.listen.workers = 4);
    let _clients = connect_many(&relay, 8);
    let per_worker: Vec<u64> = relay
        .handle()
        .stats()
        .workers
        .iter()
        .map(|w| w.connections.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    assert_eq!(per_worker, vec![2; 4]);
}

#[test]
fn clients_on_different_workers_all_receive() {
    let relay = Relay::start_with(|c| c.listen.workers = 4);
    let mut clients = connect_many(&relay, 8);
    clients[3].send(Message::text("across threads")).unwrap();
    for (i, client) in clients.iter_mut().enumerate() {
        if i != 3 {
            assert_eq!(next_message(client), Message::text("across threads"));
        }
    }
}

/// 50 clients each send 20 messages; every other client must get every
/// message exactly once, and each sender's messages in order.
#[test]
fn fifty_clients_twenty_messages_each_exactly_once_in_order() {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 20;
    let relay = Relay::start_with(|c| c.listen.workers = 3);
    let clients = connect_many(&relay, CLIENTS);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(me, mut client)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for n in 0..MESSAGES {
                    client.send(Message::text(format!("{me}:{n}"))).unwrap();
                }
                let mut next_expected = vec![0usize; CLIENTS];
                for _ in 0..(CLIENTS - 1) * MESSAGES {
                    let text = next_message(&mut client).into_text().unwrap();
                    let (sender, n) = text.split_once(':').unwrap();
                    let (sender, n): (usize, usize) = (sender.parse().unwrap(), n.parse().unwrap());
                    assert_ne!(sender, me, "a client got its own message back");
                    assert_eq!(n, next_expected[sender], "client {me}: order from {sender}");
                    next_expected[sender] += 1;
                }
                assert_silent(&mut client, Duration::from_millis(100));
                next_expected
            })
        })
        .collect();
    for (me, thread) in threads.into_iter().enumerate() {
        let counts = thread.join().expect("client thread");
        for (sender, count) in counts.into_iter().enumerate() {
            let expected = if sender == me { 0 } else { MESSAGES };
            assert_eq!(count, expected);
        }
    }
}
