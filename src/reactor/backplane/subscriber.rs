//! The subscribing thread: one pub/sub connection, a channel per room that
//! has a local connection, and delivery of other relays' messages to the
//! workers through the same `Command::Broadcast` as a local broadcast.

use super::publisher::Fetched;
use super::rooms::{ANNOUNCE_EVERY, Subscribed};
use super::{Context, Outgoing, REDIS_TIMEOUT};
use crate::protocol::envelope::{Body, Envelope};
use crate::protocol::frame::{self, Frame};
use crate::reactor::commands::{Audience, Command};
use crate::rooms::{RoomId, RoomInfo};
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How long a read waits for a message before joins and leaves get a look.
const POLL: Duration = Duration::from_millis(10);
/// How long a worker's full inbox may hold up a message from Redis.
const INBOX_WAIT: Duration = Duration::from_secs(1);

pub(super) fn run(
    context: &Context,
    changes: &Receiver<Arc<RoomInfo>>,
    fetched: &Receiver<Fetched>,
) {
    let mut rooms = Subscribed::default();
    while let Some(mut connection) = context.connect("subscriber") {
        let mut listener = Listener {
            context,
            rooms: &mut rooms,
            next_announce: Instant::now() + ANNOUNCE_EVERY,
            next_refresh: Instant::now(),
        };
        let lost = listener.listen(&mut connection.as_pubsub(), changes, fetched);
        context.stats().subscriber_up.store(false, Relaxed);
        let Err(error) = lost else {
            return; // stopping
        };
        log::warn!("backplane: subscriber lost Redis: {error}; reconnecting");
    }
}

struct Listener<'a> {
    context: &'a Context,
    rooms: &'a mut Subscribed,
    next_announce: Instant,
    next_refresh: Instant,
}

type PubSub<'c> = redis::PubSub<'c>;

impl Listener<'_> {
    fn listen(
        &mut self,
        pubsub: &mut PubSub<'_>,
        changes: &Receiver<Arc<RoomInfo>>,
        fetched: &Receiver<Fetched>,
    ) -> redis::RedisResult<()> {
        // Subscribing asks other relays and reads retained messages through
        // the publisher: give it a moment to connect too.
        let deadline = Instant::now() + REDIS_TIMEOUT;
        while !self.context.stats().publisher_up.load(Relaxed) && Instant::now() < deadline {
            self.context.pause(Duration::from_millis(10));
        }
        self.resubscribe(pubsub)?;
        self.context.stats().subscriber_up.store(true, Relaxed);
        loop {
            if self.context.stopping() {
                return Ok(());
            }
            for room in changes.try_iter() {
                self.reconcile(pubsub, &room.name)?;
            }
            for (room, envelope) in fetched.try_iter() {
                self.on_fetched(&room, envelope.as_deref());
            }
            pubsub.set_read_timeout(Some(POLL))?;
            match pubsub.get_message() {
                Ok(message) => {
                    self.on_message(message.get_channel_name(), message.get_payload_bytes())
                }
                Err(error) if error.is_timeout() => {}
                Err(error) => return Err(error),
            }
            self.periodic(pubsub)?;
        }
    }

    /// After (re)connecting: every room with a local connection subscribed
    /// again. What other relays said about their publishers is kept (claims
    /// do not expire while Redis is away) and asked again.
    fn resubscribe(&mut self, pubsub: &mut PubSub<'_>) -> redis::RedisResult<()> {
        let held: Vec<Box<str>> = self.rooms.names().map(Into::into).collect();
        for name in held {
            if !self
                .context
                .registry
                .get(&name)
                .is_some_and(|r| r.is_joined())
            {
                self.rooms.remove(&name);
                self.context.registry.forget(&name);
            }
        }
        for room in self.context.registry.joined() {
            self.subscribe(pubsub, &room.name)?;
            self.reconcile(pubsub, &room.name)?;
        }
        Ok(())
    }

    /// Subscribes to a room's channel, asks who publishes there and reads
    /// its retained message.
    fn subscribe(&mut self, pubsub: &mut PubSub<'_>, name: &str) -> redis::RedisResult<()> {
        let backplane = &self.context.backplane;
        pubsub.set_read_timeout(Some(REDIS_TIMEOUT))?;
        pubsub.subscribe(backplane.channel(name))?;
        self.rooms.insert(name);
        self.control(name, Body::WhoPublishes);
        if backplane.retain_ttl.is_some() {
            backplane.control(Outgoing::Fetch(name.into()));
        }
        Ok(())
    }

    /// Brings the subscription of `name` in line with the room's local
    /// connections, and announces a change of its local publishers.
    fn reconcile(&mut self, pubsub: &mut PubSub<'_>, name: &str) -> redis::RedisResult<()> {
        let backplane = &self.context.backplane;
        let room = self.context.registry.get(name).filter(|r| r.is_joined());
        match (&room, self.rooms.contains(name)) {
            (Some(_), false) => self.subscribe(pubsub, name)?,
            (None, true) => {
                pubsub.set_read_timeout(Some(REDIS_TIMEOUT))?;
                pubsub.unsubscribe(backplane.channel(name))?;
                self.rooms.remove(name);
                self.context.registry.forget(name);
            }
            _ => {}
        }
        self.context
            .stats()
            .subscriptions
            .store(self.rooms.len() as u64, Relaxed);
        if let Some(room) = room {
            let here = room.publishers.load(Relaxed) > 0;
            if self.rooms.set_local_publishers(name, here) {
                let body = if here {
                    Body::PublishersHere
                } else {
                    Body::PublishersGone
                };
                self.control(name, body);
            }
            room.remote_publishers
                .store(self.rooms.remote_count(name), Relaxed);
        }
        Ok(())
    }

    /// A message on a room's channel.
    fn on_message(&mut self, channel: &str, payload: &[u8]) {
        let backplane = &self.context.backplane;
        let Some(name) = channel
            .strip_prefix(&*backplane.prefix)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            return;
        };
        let envelope = match Envelope::decode(payload) {
            Ok(envelope) if envelope.origin == backplane.node.as_bytes() => return,
            Ok(envelope) => envelope,
            Err(error) => {
                log::debug!("backplane: not an envelope on {channel}: {error:?}");
                return;
            }
        };
        let count = match envelope.body {
            Body::Message { kind, payload } => {
                self.context.stats().received.fetch_add(1, Relaxed);
                // A message from Redis never creates a room.
                let Some(room) = self.context.registry.get(name) else {
                    return;
                };
                let frame = frame::encode(kind.opcode(), payload);
                let audience = if envelope.to_publishers {
                    Audience::Publishers
                } else {
                    Audience::Members
                };
                if envelope.from_publisher && audience == Audience::Members {
                    self.context.registry.published(&room, &frame);
                }
                self.deliver(room.id, audience, &frame);
                return;
            }
            Body::PublishersHere => self.rooms.heard(name, envelope.origin, Instant::now()),
            Body::PublishersGone => self.rooms.gone(name, envelope.origin),
            Body::WhoPublishes => {
                if self.rooms.has_local_publishers(name) {
                    self.control(name, Body::PublishersHere);
                }
                return;
            }
        };
        if let (Some(count), Some(room)) = (count, self.context.registry.get(name)) {
            room.remote_publishers.store(count, Relaxed);
        }
    }

    /// The retained message read from Redis after subscribing: kept and
    /// sent to the room's members unless a newer one arrived meanwhile.
    fn on_fetched(&mut self, name: &str, envelope: Option<&[u8]>) {
        let Some(Ok(Envelope {
            body: Body::Message { kind, payload },
            ..
        })) = envelope.map(Envelope::decode)
        else {
            return;
        };
        let Some(room) = self.context.registry.get(name) else {
            return;
        };
        let frame = frame::encode(kind.opcode(), payload);
        if self.context.registry.adopt_retained(&room, &frame) {
            self.deliver(room.id, Audience::Members, &frame);
        }
    }

    /// Hands one frame to every worker, as a local broadcast would.
    fn deliver(&self, room: RoomId, audience: Audience, frame: &Frame) {
        for worker in &self.context.workers {
            let command = Command::Broadcast {
                deflated: None,
                room,
                audience,
                frame: frame.clone(),
            };
            if !worker.send_waiting(command, INBOX_WAIT) {
                self.context.stats().dropped.fetch_add(1, Relaxed);
            }
            worker.wake();
        }
    }

    fn control(&self, room: &str, body: Body<'_>) {
        let backplane = &self.context.backplane;
        let envelope = Envelope {
            origin: backplane.node.as_bytes(),
            from_publisher: false,
            to_publishers: false,
            body,
        };
        backplane.send(room, &envelope, false, false);
    }

    /// Once a tick: forget silent relays' publishers; now and then say
    /// again where this relay has publishers, refresh retained messages'
    /// expiry, and check that Redis still answers.
    fn periodic(&mut self, pubsub: &mut PubSub<'_>) -> redis::RedisResult<()> {
        let now = Instant::now();
        for (name, count) in self.rooms.expire(now) {
            if let Some(room) = self.context.registry.get(name) {
                room.remote_publishers.store(count, Relaxed);
            }
        }
        if now >= self.next_announce {
            self.next_announce = now + ANNOUNCE_EVERY;
            let here: Vec<Box<str>> = self.rooms.published_here().map(Into::into).collect();
            for name in here {
                self.control(&name, Body::PublishersHere);
            }
            pubsub.set_read_timeout(Some(REDIS_TIMEOUT))?;
            pubsub.ping::<redis::Value>()?;
        }
        let backplane = &self.context.backplane;
        if let Some(ttl) = backplane.retain_ttl
            && now >= self.next_refresh
        {
            self.next_refresh = now + (ttl / 2).max(Duration::from_secs(1));
            for name in self.rooms.names() {
                backplane.control(Outgoing::Refresh(name.into()));
            }
        }
        Ok(())
    }
}
