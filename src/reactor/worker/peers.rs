//! The other workers as one worker sees them: how to reach each, the
//! broadcasts waiting for room in its inbox, and whether it needs a wake.
//!
//! A full inbox never loses a broadcast: the command waits here in order,
//! and while any wait the worker stops reading its own clients, so overload
//! pushes back over TCP. It then sleeps in its poll until the peer, having
//! made room, wakes it (see `WorkerHandle::room_wanted`).

use crate::protocol::frame::Frame;
use crate::protocol::frame::deflate::{Deflate, Deflated};
use crate::reactor::commands::{Audience, Command, WorkerHandle};
use crate::rooms::RoomId;
use std::collections::VecDeque;

/// One other worker.
struct Peer {
    /// Its worker number.
    index: usize,
    handle: WorkerHandle,
    /// Commands its full inbox could not take yet, oldest first.
    stalled: VecDeque<Command>,
    /// Sent something this turn: wake it once at the end of the turn.
    wake: bool,
}

impl Peer {
    /// Sends now, or queues behind what is already waiting (keeping order).
    fn send(&mut self, command: Command) {
        if !self.stalled.is_empty() {
            self.stalled.push_back(command);
            return;
        }
        match self.handle.try_send(command) {
            Ok(()) => self.wake = true,
            Err(command) => self.stalled.push_back(command),
        }
    }

    /// Sends what waited, until the inbox is full again.
    fn retry_stalled(&mut self) {
        while let Some(command) = self.stalled.pop_front() {
            self.wake = true;
            if let Err(command) = self.handle.try_send(command) {
                self.stalled.push_front(command);
                break;
            }
        }
    }
}

/// Every worker but this one.
pub(super) struct Peers {
    peers: Vec<Peer>,
}

impl Peers {
    /// The handles of all workers, without this worker's own (`own`).
    pub(super) fn new(handles: Vec<WorkerHandle>, own: usize) -> Peers {
        let peers = handles
            .into_iter()
            .enumerate()
            .filter(|&(index, _)| index != own)
            .map(|(index, handle)| Peer {
                index,
                handle,
                stalled: VecDeque::new(),
                wake: false,
            })
            .collect();
        Peers { peers }
    }

    /// Whether some broadcast waits for room in a peer's inbox.
    pub(super) fn is_stalled(&self) -> bool {
        self.peers.iter().any(|peer| !peer.stalled.is_empty())
    }

    /// Hands `frame` to every peer, keeping per-peer order, with its
    /// compressed form if made with the full window (one any recipient takes;
    /// a smaller window is the sender's own business).
    pub(super) fn broadcast(
        &mut self,
        room: RoomId,
        audience: Audience,
        frame: &Frame,
        deflated: Option<Deflated>,
    ) {
        let deflated = deflated
            .filter(|d| d.window_bits == Deflate::FULL_WINDOW.window_bits())
            .map(|d| d.frame);
        for peer in &mut self.peers {
            peer.send(Command::Broadcast {
                room,
                audience,
                frame: frame.clone(),
                deflated: deflated.clone(),
            });
        }
    }

    /// Offers the waiting broadcasts again.
    pub(super) fn retry_stalled(&mut self) {
        for peer in &mut self.peers {
            peer.retry_stalled();
        }
    }

    /// Wakes every peer (this worker's inbox has room for one that waited).
    pub(super) fn wake_all(&mut self) {
        for peer in &mut self.peers {
            peer.wake = true;
        }
    }

    /// Wakes worker `index` at once (it is to accept what this one left).
    pub(super) fn wake_worker(&self, index: usize) {
        if let Some(peer) = self.peers.iter().find(|peer| peer.index == index) {
            peer.handle.wake();
        }
    }

    /// Wakes each peer that was sent something this turn, once.
    pub(super) fn wake(&mut self) {
        for peer in &mut self.peers {
            if std::mem::take(&mut peer.wake) {
                peer.handle.wake();
            }
        }
    }
}
