//! An idiomatic tokio + tokio-tungstenite broadcast server with the seed's
//! behaviour: `GET /` answers `Hello, World!`, every WebSocket client is
//! greeted with `Hello, World!`, and each message it sends is forwarded to
//! every other open client. Default `WebSocketConfig`; one unbounded channel
//! per client in a shared peer map, as the library's own examples do.
//!
//! Port: the `PORT` environment variable, else the first argument, else 8080.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_channel::mpsc::{UnboundedSender, unbounded};
use futures_util::{StreamExt, TryStreamExt, future};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

type PeerMap = Arc<Mutex<HashMap<u64, UnboundedSender<Message>>>>;

const GREETING: &str = "Hello, World!";
const HTTP_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .or_else(|| std::env::args().nth(1))
        .unwrap_or_else(|| "8080".to_owned());
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let listener = TcpListener::bind(format!("{host}:{port}")).await?;
    println!("tokio-tungstenite peer listening on {host}:{port}");

    let peers = PeerMap::default();
    let next_id = AtomicU64::new(0);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(handle_connection(stream, peers.clone(), id));
    }
}

async fn handle_connection(mut stream: TcpStream, peers: PeerMap, id: u64) {
    let _ = stream.set_nodelay(true);
    match is_websocket_upgrade(&stream).await {
        Some(true) => {}
        Some(false) => {
            let _ = stream.write_all(HTTP_REPLY).await;
            let _ = stream.shutdown().await;
            return;
        }
        None => return,
    }
    let Ok(websocket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };

    let (outgoing, incoming) = websocket.split();
    let (sender, receiver) = unbounded();
    // The greeting goes first into this client's queue, before anyone can
    // forward to it.
    let _ = sender.unbounded_send(Message::text(GREETING));
    peers.lock().unwrap().insert(id, sender);

    let forward_others = incoming.try_for_each(|message| {
        if message.is_text() || message.is_binary() {
            let peers = peers.lock().unwrap();
            for (_, peer) in peers.iter().filter(|(peer_id, _)| **peer_id != id) {
                let _ = peer.unbounded_send(message.clone());
            }
        }
        future::ok(())
    });
    let write_queue = receiver.map(Ok).forward(outgoing);

    futures_util::pin_mut!(forward_others, write_queue);
    future::select(forward_others, write_queue).await;
    peers.lock().unwrap().remove(&id);
}

/// Peeks at the request head (without consuming it, so that tungstenite can
/// read it) to tell a WebSocket upgrade from a plain HTTP request. `None` when
/// the client goes away or never finishes its request head.
async fn is_websocket_upgrade(stream: &TcpStream) -> Option<bool> {
    let mut head = [0u8; 4096];
    // A request head arrives in one segment on loopback in practice; the
    // retries only cover a client that writes it in pieces.
    for _ in 0..500 {
        let n = stream.peek(&mut head).await.ok()?;
        if n == 0 {
            return None;
        }
        let seen = &head[..n];
        if seen.windows(4).any(|w| w == b"\r\n\r\n") || n == head.len() {
            let text = String::from_utf8_lossy(seen).to_ascii_lowercase();
            let upgrade = text
                .lines()
                .any(|line| line.starts_with("upgrade:") && line.contains("websocket"));
            return Some(upgrade);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}
