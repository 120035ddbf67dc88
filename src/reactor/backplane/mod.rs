//! `--backplane`: rooms that span every relay connected to one Redis.
//!
//! Two threads of their own, with blocking Redis connections and no async
//! runtime. The publisher drains a byte-capped queue that the workers fill
//! (one entry per message, not per member) and sends it as pipelined
//! PUBLISH batches. The subscriber holds the pub/sub connection: it
//! subscribes to a room's channel when the room's first local connection
//! joins and unsubscribes when its last leaves, and hands each message from
//! another relay to the workers as a `Command::Broadcast`, encoded once.
//! Both reconnect on their own with capped, jittered backoff; while Redis
//! is away, messages bound for it are dropped and counted.

mod backoff;
mod publisher;
mod rooms;
mod subscriber;

use crate::config::backplane::BackplaneConfig;
use crate::observe::stats::Stats;
use crate::protocol::envelope::{self, Body, Envelope};
use crate::protocol::frame::Frame;
use crate::reactor::commands::WorkerHandle;
use crate::rooms::Registry;
use crossbeam_channel::Sender;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one Redis command may take before the connection counts as lost.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the workers hand to the backplane, and the threads to each other.
#[derive(Debug)]
enum Outgoing {
    /// PUBLISH `buf[..split]` (the channel) `buf[split..]` (the envelope);
    /// also SET as the room's retained message when `retain` is on.
    /// `counted`: a message (published or dropped counts), not a control envelope.
    Publish {
        buf: Vec<u8>,
        split: usize,
        retain: bool,
        counted: bool,
    },
    /// Refresh the expiry of the room's retained message.
    Refresh(Box<str>),
    /// Read the room's retained message and hand it to the subscriber.
    Fetch(Box<str>),
}

/// Whether a message was queued for the other relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Waiting for Redis.
    Queued,
    /// Redis is away or the queue is full: dropped and counted.
    Dropped,
}

impl Outcome {
    /// The word in a publish's 202 body.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Dropped => "dropped",
        }
    }
}

/// The workers' side of the backplane.
#[derive(Debug)]
pub struct Backplane {
    /// This relay's id in envelopes (its own messages come back from Redis).
    node: Box<str>,
    prefix: Box<str>,
    retain_ttl: Option<Duration>,
    outgoing: Sender<Outgoing>,
    /// Bytes in `outgoing`, capped by `--backplane-queue`.
    queued: Arc<AtomicUsize>,
    queue_cap: usize,
    stats: Arc<Stats>,
}

impl Backplane {
    /// Offers a client's or an HTTP publish's message to the other relays.
    pub fn publish(
        &self,
        room: &str,
        from_publisher: bool,
        to_publishers: bool,
        frame: &Frame,
    ) -> Outcome {
        let Some((kind, payload)) = envelope::message_of(frame) else {
            return Outcome::Dropped;
        };
        let envelope = Envelope {
            origin: self.node.as_bytes(),
            from_publisher,
            to_publishers,
            body: Body::Message { kind, payload },
        };
        let retain = from_publisher && !to_publishers && self.retain_ttl.is_some();
        self.send(room, &envelope, retain, true)
    }

    /// Queues an envelope for `room`'s channel; `counted` messages that
    /// do not fit are counted as dropped (control envelopes are resent anyway).
    fn send(&self, room: &str, envelope: &Envelope<'_>, retain: bool, counted: bool) -> Outcome {
        if !self.stats.backplane.publisher_up.load(Relaxed) {
            return self.dropped(counted);
        }
        let mut buf = Vec::new();
        buf.extend_from_slice(self.channel(room).as_bytes());
        let split = buf.len();
        envelope.encode_into(&mut buf);
        let size = buf.len();
        if self.queued.fetch_add(size, Relaxed) + size > self.queue_cap {
            self.queued.fetch_sub(size, Relaxed);
            return self.dropped(counted);
        }
        let item = Outgoing::Publish {
            buf,
            split,
            retain,
            counted,
        };
        if self.outgoing.send(item).is_err() {
            self.queued.fetch_sub(size, Relaxed);
            return self.dropped(counted);
        }
        Outcome::Queued
    }

    fn control(&self, item: Outgoing) {
        if self.stats.backplane.publisher_up.load(Relaxed) {
            let _ = self.outgoing.send(item);
        }
    }

    fn dropped(&self, counted: bool) -> Outcome {
        if counted {
            self.stats.backplane.dropped.fetch_add(1, Relaxed);
        }
        Outcome::Dropped
    }

    /// The pub/sub channel of `room`.
    fn channel(&self, room: &str) -> String {
        format!("{}:{room}", self.prefix)
    }

    /// The key of `room`'s retained message.
    fn retain_key(&self, room: &str) -> String {
        format!("{}:retain:{room}", self.prefix)
    }
}

/// The running backplane threads.
#[derive(Debug)]
pub struct BackplaneThreads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BackplaneThreads {
    /// Stops both threads and waits for them (within a Redis timeout).
    pub fn stop(self) {
        self.stop.store(true, Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Everything the backplane threads share.
struct Context {
    backplane: Arc<Backplane>,
    registry: Arc<Registry>,
    workers: Vec<WorkerHandle>,
    url: crate::config::backplane::RedisUrl,
    stop: Arc<AtomicBool>,
}

/// Starts the publisher and subscriber threads.
pub fn start(
    config: &BackplaneConfig,
    retain_ttl: Option<Duration>,
    registry: Arc<Registry>,
    stats: Arc<Stats>,
    workers: Vec<WorkerHandle>,
) -> io::Result<(Arc<Backplane>, BackplaneThreads)> {
    let (outgoing, queue) = crossbeam_channel::unbounded();
    let (fetched_tx, fetched_rx) = crossbeam_channel::unbounded();
    let node = format!("{:016x}", rand::random::<u64>());
    stats.backplane.enabled.store(true, Relaxed);
    log::info!("backplane: node {node}, Redis at {}", config.url);
    let backplane = Arc::new(Backplane {
        node: node.into(),
        prefix: config.prefix.as_str().into(),
        retain_ttl,
        outgoing,
        queued: Arc::new(AtomicUsize::new(0)),
        queue_cap: config.queue_bytes,
        stats,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let context = Arc::new(Context {
        backplane: backplane.clone(),
        registry: registry.clone(),
        workers,
        url: config.url.clone(),
        stop: stop.clone(),
    });
    let changes = registry.watch();
    let publisher = {
        let context = context.clone();
        std::thread::Builder::new()
            .name("wsrelay-backplane-pub".into())
            .spawn(move || publisher::run(&context, &queue, &fetched_tx))?
    };
    let subscriber = std::thread::Builder::new()
        .name("wsrelay-backplane-sub".into())
        .spawn(move || subscriber::run(&context, &changes, &fetched_rx))?;
    Ok((
        backplane,
        BackplaneThreads {
            stop,
            threads: vec![publisher, subscriber],
        },
    ))
}

impl Context {
    fn stats(&self) -> &crate::observe::backplane::BackplaneStats {
        &self.backplane.stats.backplane
    }

    fn stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Opens a connection to Redis, retrying with backoff until it works
    /// or the relay stops; `None` when stopping.
    fn connect(&self, role: &str) -> Option<redis::Connection> {
        let mut backoff = backoff::Backoff::new();
        let mut warned = false;
        loop {
            if self.stopping() {
                return None;
            }
            match self.try_connect() {
                Ok(connection) => {
                    log::info!("backplane: {role} connected to {}", self.url);
                    return Some(connection);
                }
                Err(error) if !warned => {
                    warned = true;
                    log::warn!(
                        "backplane: {role} cannot reach {}: {error}; retrying",
                        self.url
                    );
                }
                Err(_) => {}
            }
            self.pause(backoff.next_wait(rand::random::<f64>()));
        }
    }

    fn try_connect(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url.secret())?;
        let connection = client.get_connection_with_timeout(Duration::from_secs(1))?;
        connection.set_write_timeout(Some(REDIS_TIMEOUT))?;
        connection.set_read_timeout(Some(REDIS_TIMEOUT))?;
        Ok(connection)
    }

    /// Sleeps in short steps, so that stopping is not delayed by a backoff.
    fn pause(&self, wait: Duration) {
        let step = Duration::from_millis(50);
        let mut left = wait;
        while !left.is_zero() && !self.stopping() {
            std::thread::sleep(left.min(step));
            left = left.saturating_sub(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{OP_TEXT, encode};

    #[test]
    fn the_queue_holds_up_to_its_byte_cap_and_nothing_while_redis_is_away() {
        let (outgoing, queue) = crossbeam_channel::unbounded();
        let stats = Arc::new(Stats::new(1));
        let backplane = Backplane {
            node: "n".into(),
            prefix: "p".into(),
            retain_ttl: None,
            outgoing,
            queued: Arc::new(AtomicUsize::new(0)),
            queue_cap: 100,
            stats: stats.clone(),
        };
        // "p:/r" and an envelope of 4 + 1 + 40 bytes: 49 bytes each.
        let frame = encode(OP_TEXT, &[b'x'; 40]);
        let publish = || backplane.publish("/r", false, false, &frame);
        assert_eq!(publish(), Outcome::Dropped, "Redis away");
        stats.backplane.publisher_up.store(true, Relaxed);
        assert_eq!(publish(), Outcome::Queued);
        assert_eq!(publish(), Outcome::Queued);
        assert_eq!(publish(), Outcome::Dropped, "over --backplane-queue");
        assert_eq!(backplane.queued.load(Relaxed), 98);
        assert_eq!(queue.len(), 2);
        assert_eq!(stats.backplane.dropped.load(Relaxed), 2);
    }
}
