//! The publishing thread: drains the queue the workers fill and sends it
//! to Redis in pipelined batches (one round trip for many messages).

use super::{Context, Outgoing};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Entries sent in one pipeline.
const BATCH_ITEMS: usize = 512;
/// Bytes sent in one pipeline (a larger message goes alone).
const BATCH_BYTES: usize = 1 << 20;
/// How often an idle publisher looks at the stop flag.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// A retained message read from Redis: the room and the envelope, if any.
pub(super) type Fetched = (Box<str>, Option<Vec<u8>>);

pub(super) fn run(context: &Context, queue: &Receiver<Outgoing>, fetched: &Sender<Fetched>) {
    while let Some(mut connection) = context.connect("publisher") {
        context.stats().publisher_up.store(true, Relaxed);
        let lost = serve(context, &mut connection, queue, fetched);
        context.stats().publisher_up.store(false, Relaxed);
        let Err(error) = lost else {
            return; // stopping
        };
        log::warn!("backplane: publisher lost Redis: {error}; reconnecting");
        // Nothing more is queued while down; what is queued is lost.
        discard(context, queue.try_iter());
    }
}

/// Publishes batches until the connection fails (`Err`) or the relay stops.
fn serve(
    context: &Context,
    connection: &mut redis::Connection,
    queue: &Receiver<Outgoing>,
    fetched: &Sender<Fetched>,
) -> redis::RedisResult<()> {
    let mut batch = Vec::new();
    loop {
        if context.stopping() {
            return Ok(());
        }
        match queue.recv_timeout(IDLE_WAKE) {
            Ok(item) => batch.push(item),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let mut bytes = size(&batch[0]);
        while batch.len() < BATCH_ITEMS && bytes < BATCH_BYTES {
            let Ok(item) = queue.try_recv() else { break };
            bytes += size(&item);
            batch.push(item);
        }
        if let Err(error) = send(context, connection, &mut batch, fetched) {
            discard(context, batch.drain(..));
            return Err(error);
        }
    }
}

/// Sends one batch as a pipeline; fetched retained messages go to the subscriber.
fn send(
    context: &Context,
    connection: &mut redis::Connection,
    batch: &mut Vec<Outgoing>,
    fetched: &Sender<Fetched>,
) -> redis::RedisResult<()> {
    let backplane = &context.backplane;
    let ttl_ms = backplane.retain_ttl.map_or(0, |ttl| ttl.as_millis() as u64);
    let mut pipe = redis::pipe();
    let mut fetches = Vec::new();
    let mut messages = 0u64;
    for item in batch.iter() {
        match item {
            Outgoing::Publish {
                buf,
                split,
                retain,
                counted,
            } => {
                let (channel, envelope) = buf.split_at(*split);
                pipe.cmd("PUBLISH").arg(channel).arg(envelope).ignore();
                if *retain {
                    let room = String::from_utf8_lossy(&channel[backplane.prefix.len() + 1..]);
                    pipe.cmd("SET")
                        .arg(backplane.retain_key(&room))
                        .arg(envelope)
                        .arg("PX")
                        .arg(ttl_ms.max(1))
                        .ignore();
                }
                messages += u64::from(*counted);
            }
            Outgoing::Refresh(room) => {
                pipe.cmd("PEXPIRE")
                    .arg(backplane.retain_key(room))
                    .arg(ttl_ms.max(1))
                    .ignore();
            }
            Outgoing::Fetch(room) => {
                pipe.cmd("GET").arg(backplane.retain_key(room));
                fetches.push(room.clone());
            }
        }
    }
    let values: Vec<Option<Vec<u8>>> = pipe.query(connection)?;
    let bytes: usize = batch.drain(..).map(|item| size(&item)).sum();
    backplane.queued.fetch_sub(bytes, Relaxed);
    context.stats().published.fetch_add(messages, Relaxed);
    for (room, value) in fetches.into_iter().zip(values) {
        let _ = fetched.send((room, value));
    }
    Ok(())
}

/// Forgets queued entries, counting the messages among them as dropped.
fn discard(context: &Context, items: impl Iterator<Item = Outgoing>) {
    let (mut bytes, mut messages) = (0usize, 0u64);
    for item in items {
        bytes += size(&item);
        if let Outgoing::Publish { counted: true, .. } = item {
            messages += 1;
        }
    }
    context.backplane.queued.fetch_sub(bytes, Relaxed);
    context.stats().dropped.fetch_add(messages, Relaxed);
}

/// Bytes an entry holds against `--backplane-queue`.
fn size(item: &Outgoing) -> usize {
    match item {
        Outgoing::Publish { buf, .. } => buf.len(),
        Outgoing::Refresh(_) | Outgoing::Fetch(_) => 0,
    }
}
