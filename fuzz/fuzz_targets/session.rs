//! A whole session (request head, upgrade, frames) on arbitrary bytes in
//! two reads: no panic, and head buffering stays under the head limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wsrelay::config::Config;
use wsrelay::endpoints::routes;
use wsrelay::protocol::http::MAX_HEAD;
use wsrelay::protocol::session::{AdmitAll, Context, Session};

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::with_listen("127.0.0.1:0".parse().unwrap()))
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let cut = (cut as usize * bytes.len()) / 255;
    let mut context = Context {
        config: config(),
        greeting: None,
        router: routes::route,
        peer: &|| Some(std::net::Ipv4Addr::LOCALHOST.into()),
        gate: &mut AdmitAll,
        codec: &mut Default::default(),
    };
    let mut session = Session::new();
    let mut events = Vec::new();
    for piece in [&bytes[..cut], &bytes[cut..]] {
        let mut piece = piece.to_vec();
        session.receive_all(&mut piece, &mut context, &mut events);
        if session.is_reading_request() {
            assert!(session.buffered() <= 2 * MAX_HEAD.max(bytes.len()));
        }
    }
});
