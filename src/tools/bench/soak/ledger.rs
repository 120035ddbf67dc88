//! The healthy clients' books: what each sent, and at each receiver the
//! next sequence number expected from every sender of its room and from the
//! room's HTTP publisher. A message that is not the next one is a loss, a
//! duplicate or a reordering; at the end every count must have caught up.

/// Bytes of a healthy client's message.
pub(super) const MESSAGE_LEN: usize = 32;

/// Client `client` is a member of room `client % rooms`, at place `client / rooms`.
pub(super) struct Ledger {
    clients: usize,
    rooms: usize,
    places: usize,
    /// Next sequence number expected, `[receiver * places + sender's place]`.
    next_from: Vec<u64>,
    /// Next publish sequence number expected, per receiver.
    next_publish: Vec<u64>,
    /// Messages each client sent.
    sent: Vec<u64>,
    /// Messages received as expected.
    pub delivered: u64,
    /// Messages out of place (lost before them, duplicated, reordered, foreign).
    pub anomalies: u64,
    /// The first anomalies, described.
    pub examples: Vec<String>,
}

/// A healthy client's message: `H`, sender, sequence number, padding.
pub(super) fn client_message(sender: u32, seq: u64) -> [u8; MESSAGE_LEN] {
    let mut message = [b'.'; MESSAGE_LEN];
    message[0] = b'H';
    message[1..5].copy_from_slice(&sender.to_le_bytes());
    message[5..13].copy_from_slice(&seq.to_le_bytes());
    message
}

/// An HTTP publisher's body: `P`, room, sequence number, padding.
pub(super) fn publish_body(room: u32, seq: u64) -> [u8; MESSAGE_LEN] {
    let mut body = client_message(room, seq);
    body[0] = b'P';
    body
}

fn decode(payload: &[u8]) -> Option<(u8, u32, u64)> {
    if payload.len() != MESSAGE_LEN {
        return None;
    }
    let id = u32::from_le_bytes(payload[1..5].try_into().ok()?);
    let seq = u64::from_le_bytes(payload[5..13].try_into().ok()?);
    Some((payload[0], id, seq))
}

impl Ledger {
    /// Books for `clients` spread over `rooms`.
    pub fn new(clients: usize, rooms: usize) -> Ledger {
        let places = clients.div_ceil(rooms);
        Ledger {
            clients,
            rooms,
            places,
            next_from: vec![0; clients * places],
            next_publish: vec![0; clients],
            sent: vec![0; clients],
            delivered: 0,
            anomalies: 0,
            examples: Vec::new(),
        }
    }

    /// The room of a client.
    pub fn room_of(&self, client: usize) -> usize {
        client % self.rooms
    }

    /// The next message of `sender`, counted as sent.
    pub fn next_message(&mut self, sender: usize) -> [u8; MESSAGE_LEN] {
        let seq = self.sent[sender];
        self.sent[sender] += 1;
        client_message(sender as u32, seq)
    }

    /// Messages sent by all clients.
    pub fn total_sent(&self) -> u64 {
        self.sent.iter().sum()
    }

    /// Checks one message received by `receiver`.
    pub fn receive(&mut self, receiver: usize, payload: &[u8]) {
        let room = self.room_of(receiver);
        let (who, id, seq, index) = match decode(payload) {
            Some((b'H', sender, seq)) => {
                let sender = sender as usize;
                if sender >= self.clients || sender == receiver || self.room_of(sender) != room {
                    let what = format!("message of client {sender}, from another room or itself");
                    return self.anomaly(receiver, what);
                }
                let index = receiver * self.places + sender / self.rooms;
                ("client", sender, seq, Some(index))
            }
            Some((b'P', publish_room, seq)) if publish_room as usize == room => {
                ("publisher", room, seq, None)
            }
            _ => {
                let what = format!("foreign message of {} bytes", payload.len());
                return self.anomaly(receiver, what);
            }
        };
        let expected = match index {
            Some(index) => &mut self.next_from[index],
            None => &mut self.next_publish[receiver],
        };
        let wanted = *expected;
        *expected = seq + 1;
        if seq == wanted {
            self.delivered += 1;
        } else {
            let what = if seq > wanted {
                "lost"
            } else {
                "repeated or reordered"
            };
            self.anomaly(
                receiver,
                format!("{who} {id}: got #{seq}, expected #{wanted} ({what})"),
            );
        }
    }

    fn anomaly(&mut self, receiver: usize, what: String) {
        self.anomalies += 1;
        if self.examples.len() < 20 {
            self.examples.push(format!("client {receiver}: {what}"));
        }
    }

    /// Messages not yet received: each sender's count (and each room's
    /// accepted publishes, `accepted[room]`) against what each receiver has.
    pub fn missing(&self, accepted: &[u64]) -> u64 {
        let mut missing = 0;
        for receiver in 0..self.clients {
            let room = self.room_of(receiver);
            for sender in (room..self.clients).step_by(self.rooms) {
                if sender != receiver {
                    let have = self.next_from[receiver * self.places + sender / self.rooms];
                    missing += self.sent[sender].saturating_sub(have);
                }
            }
            missing += accepted[room].saturating_sub(self.next_publish[receiver]);
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_in_order_leaves_nothing_missing() {
        let mut ledger = Ledger::new(6, 2); // rooms {0, 2, 4} and {1, 3, 5}
        for sender in 0..6 {
            for _ in 0..3 {
                let message = ledger.next_message(sender);
                for receiver in (sender % 2..6).step_by(2).filter(|&r| r != sender) {
                    ledger.receive(receiver, &message);
                }
            }
        }
        let accepted = [2, 0];
        for seq in 0..2 {
            for receiver in [0, 2, 4] {
                ledger.receive(receiver, &publish_body(0, seq));
            }
        }
        assert_eq!(ledger.missing(&accepted), 0);
        assert_eq!(ledger.delivered, 6 * 3 * 2 + 2 * 3);
        assert_eq!(ledger.anomalies, 0);
        assert_eq!(ledger.total_sent(), 18);
    }

    #[test]
    fn gaps_repeats_and_strangers_are_anomalies() {
        let mut ledger = Ledger::new(4, 2);
        let first = ledger.next_message(0);
        let second = ledger.next_message(0);
        ledger.receive(2, &second); // the first was lost
        ledger.receive(2, &first); // and came late
        ledger.receive(1, &first); // another room
        ledger.receive(0, &first); // its own
        ledger.receive(2, b"Hello");
        ledger.receive(2, &publish_body(1, 0)); // another room's publish
        assert_eq!(ledger.anomalies, 6);
        assert!(
            ledger.examples[0].contains("got #1, expected #0 (lost)"),
            "{:?}",
            ledger.examples
        );
        assert!(ledger.examples[1].contains("repeated or reordered"));
        assert_eq!(
            ledger.missing(&[0, 0]),
            1,
            "client 2 still lacks #1 in order"
        );
    }
}
