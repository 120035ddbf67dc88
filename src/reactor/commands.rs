//! Commands between threads and the handles used to send them.

use crate::policy::admission::Admission;
use crate::protocol::frame::Frame;
use crate::rooms::RoomId;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::Waker;
use mio::net::TcpStream;
use std::sync::Arc;

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
    },
    /// Close every connection with 1001 and stop.
    Shutdown,
}

/// A socket the acceptor hands to a worker.
#[derive(Debug)]
pub struct Adopted {
    /// The accepted socket.
    pub stream: TcpStream,
    /// Its peer address.
    pub peer: std::net::SocketAddr,
    /// Its counts against the connection limits; whoever ends the
    /// connection (or refuses to take it) releases them.
    pub admission: Admission,
}

/// How other threads reach one worker.
#[derive(Clone, Debug)]
pub struct WorkerHandle {
    /// Broadcasts and control commands (bounded).
    pub inbox: Sender<Command>,
    /// Newly accepted sockets (unbounded: the acceptor must never block).
    pub adopt: Sender<Adopted>,
    /// Wakes the worker's poll.
    pub waker: Arc<Waker>,
}

/// The receiving ends a worker owns.
pub struct WorkerInbox {
    /// Broadcasts and control commands.
    pub inbox: Receiver<Command>,
    /// Newly accepted sockets.
    pub adopt: Receiver<Adopted>,
}

impl WorkerHandle {
    /// Offers a command without blocking; gives it back when the inbox is full.
    pub fn try_send(&self, command: Command) -> Result<(), Command> {
        match self.inbox.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(command)) => Err(command),
            // A worker that is gone has no clients left to deliver to.
            Err(TrySendError::Disconnected(_)) => Ok(()),
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
