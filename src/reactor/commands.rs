//! Commands between threads and the handles used to send them.

use crate::protocol::frame::Frame;
use crate::rooms::RoomId;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::Waker;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Broadcast commands a worker's inbox holds before senders must wait: a
/// sender that finds it full keeps the command and stops reading its
/// clients until there is room, so overload pushes back over TCP.
pub const INBOX_CAPACITY: usize = 4096;

/// Which connections of a room a broadcast is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The room's members (chat, publisher messages, HTTP publishes).
    Members,
    /// The room's publishers (members' messages in publisher-fed rooms).
    Publishers,
}

/// A message from another thread to a worker.
#[derive(Debug)]
pub enum Command {
    /// Queue this frame on the worker's connections of `room` in `audience`.
    Broadcast {
        /// Room id.
        room: RoomId,
        /// Members or publishers.
        audience: Audience,
        /// The encoded frame.
        frame: Frame,
        /// Its permessage-deflate form with the full window, if the sender
        /// made it already (RSV1 set; valid for every recipient).
        deflated: Option<Frame>,
    },
}

/// How other threads reach one worker.
#[derive(Clone, Debug)]
pub struct WorkerHandle {
    /// Broadcasts (bounded).
    pub inbox: Sender<Command>,
    /// Wakes the worker's poll.
    pub waker: Arc<Waker>,
    /// Set by a worker that found the inbox full: the owner wakes the other
    /// workers once it has taken commands out, so the waiting one sleeps
    /// in its poll instead of retrying in a loop.
    pub room_wanted: Arc<AtomicBool>,
}

/// The receiving ends a worker owns.
pub struct WorkerInbox {
    /// Broadcasts.
    pub inbox: Receiver<Command>,
    /// The flag of [`WorkerHandle::room_wanted`] for this inbox.
    pub room_wanted: Arc<AtomicBool>,
}

impl WorkerInbox {
    /// Whether some worker waits for room in this inbox (and forgets it):
    /// called after taking commands out, to wake the other workers.
    pub fn room_was_wanted(&self) -> bool {
        self.room_wanted.swap(false, Ordering::AcqRel)
    }
}

impl WorkerHandle {
    /// Offers a command without blocking; gives it back when the inbox is
    /// full, having asked the owner for a wake once there is room.
    pub fn try_send(&self, command: Command) -> Result<(), Command> {
        let command = match self.inbox.try_send(command) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(command)) => command,
            // A worker that is gone has no clients left to deliver to.
            Err(TrySendError::Disconnected(_)) => return Ok(()),
        };
        self.room_wanted.store(true, Ordering::Release);
        // The owner may have drained (and found no flag) in between: try again.
        match self.inbox.try_send(command) {
            Err(TrySendError::Full(command)) => Err(command),
            _ => Ok(()),
        }
    }

    /// Wakes the worker; a failed wake only delays delivery to the next tick.
    pub fn wake(&self) {
        if let Err(error) = self.waker.wake() {
            log::warn!("waking a worker failed: {error}");
        }
    }
}

impl WorkerHandle {
    /// Offers a command, waiting up to `wait` for room in the inbox (the
    /// backplane's way in: Redis buffers for it meanwhile); whether it went.
    pub fn send_waiting(&self, command: Command, wait: std::time::Duration) -> bool {
        match self.inbox.send_timeout(command, wait) {
            Ok(()) => true,
            Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => false,
            // A worker that is gone has no clients left to deliver to.
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_finding_the_inbox_full_asks_its_owner_for_a_wake() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (inbox_tx, inbox_rx) = crossbeam_channel::bounded(1);
        let room_wanted = Arc::new(AtomicBool::new(false));
        let handle = WorkerHandle {
            inbox: inbox_tx,
            waker,
            room_wanted: room_wanted.clone(),
        };
        let inbox = WorkerInbox {
            inbox: inbox_rx,
            room_wanted,
        };
        let command = || Command::Broadcast {
            room: 0,
            audience: Audience::Members,
            frame: crate::protocol::frame::encode(crate::protocol::frame::OP_TEXT, b"x"),
            deflated: None,
        };
        assert!(handle.try_send(command()).is_ok());
        assert!(!inbox.room_was_wanted(), "room to spare: nobody waits");
        assert!(handle.try_send(command()).is_err());
        inbox.inbox.try_recv().unwrap();
        assert!(
            inbox.room_was_wanted(),
            "the owner made room: wake the waiter"
        );
        assert!(!inbox.room_was_wanted(), "once");
    }
}
