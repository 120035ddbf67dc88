//! `Sec-WebSocket-Extensions` (RFC 6455 section 9.1) and the negotiation of
//! permessage-deflate (RFC 7692 section 7.1).
//!
//! The relay takes the first valid permessage-deflate offer and answers it
//! with no context takeover both ways, so no connection keeps zlib state
//! between messages, and with the client's `server_max_window_bits` if it
//! asked for one. An invalid offer (an unknown or repeated parameter, a
//! value out of range) is declined: the next offer is tried, and without
//! one the connection opens without the extension.

use crate::protocol::frame::deflate::Deflate;

/// The extension's name.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// One offer: the extension's name and its parameters (values unquoted).
#[derive(Debug, PartialEq, Eq)]
pub struct Offer<'a> {
    /// The extension token.
    pub name: &'a str,
    /// `(name, value)` pairs in order.
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

/// Splits a header value into its offers (`,`) and parameters (`;`); quotes
/// around a value are removed (the value must still be a token).
pub fn parse_offers(header: &str) -> Vec<Offer<'_>> {
    split_outside_quotes(header, ',')
        .filter_map(|offer| {
            let mut parts = split_outside_quotes(offer, ';').map(str::trim);
            let name = parts.next().filter(|name| !name.is_empty())?;
            let params = parts
                .map(|param| match param.split_once('=') {
                    Some((key, value)) => (key.trim(), Some(unquote(value.trim()))),
                    None => (param, None),
                })
                .collect();
            Some(Offer { name, params })
        })
        .collect()
}

fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    text.split(move |c| {
        if c == '"' {
            quoted = !quoted;
        }
        c == separator && !quoted
    })
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// What the relay accepted: the setting of the connection and the
/// response header's value.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The negotiated extension.
    pub deflate: Deflate,
    /// The value of `Sec-WebSocket-Extensions` in the 101.
    pub response: String,
}

/// The first valid permessage-deflate offer in `header`, accepted.
pub fn negotiate_deflate(header: Option<&str>) -> Option<Accepted> {
    parse_offers(header?)
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .find_map(accept)
}

/// Accepts one permessage-deflate offer, or declines it (`None`) when it is
/// invalid (RFC 7692 section 7.1).
fn accept(offer: &Offer<'_>) -> Option<Accepted> {
    let mut seen = Vec::with_capacity(offer.params.len());
    let mut server_window = None;
    for &(name, value) in &offer.params {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None;
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            // The client's own window: the relay's inflater takes any.
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(bits)) => {
                window_bits(bits)?;
            }
            ("server_max_window_bits", Some(bits)) => server_window = Some(window_bits(bits)?),
            _ => return None,
        }
        seen.push(name);
    }
    let deflate = server_window.unwrap_or(Deflate::FULL_WINDOW);
    let mut response =
        format!("{PERMESSAGE_DEFLATE}; server_no_context_takeover; client_no_context_takeover");
    if let Some(window) = server_window {
        response.push_str(&format!(
            "; server_max_window_bits={}",
            window.window_bits()
        ));
    }
    Some(Accepted { deflate, response })
}

/// A window-bits value: a decimal 8-15 without leading zeros.
fn window_bits(value: &str) -> Option<Deflate> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Deflate::with_window(value.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    fn answer(header: &str) -> Option<(u8, String)> {
        negotiate_deflate(Some(header)).map(|a| (a.deflate.window_bits(), a.response))
    }

    #[test]
    fn negotiation_table() {
        let window = |bits: u8| format!("{BASE}; server_max_window_bits={bits}");
        let cases: &[(&str, Option<(u8, String)>)] = &[
            ("permessage-deflate", Some((15, BASE.into()))),
            (
                "permessage-deflate; client_max_window_bits",
                Some((15, BASE.into())),
            ),
            (
                "Permessage-Deflate; client_max_window_bits=10",
                Some((15, BASE.into())),
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                Some((15, BASE.into())),
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                Some((15, BASE.into())),
            ),
            (
                "permessage-deflate; server_max_window_bits=8",
                Some((8, window(8))),
            ),
            (
                "permessage-deflate; server_max_window_bits=\"12\"",
                Some((12, window(12))),
            ),
            (
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=15; \
                 client_max_window_bits=9; server_no_context_takeover",
                Some((15, window(15))),
            ),
            // Invalid: declined.
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; server_max_window_bits=7", None),
            ("permessage-deflate; server_max_window_bits=16", None),
            ("permessage-deflate; server_max_window_bits=010", None),
            ("permessage-deflate; client_max_window_bits=x", None),
            ("permessage-deflate; server_no_context_takeover=1", None),
            ("permessage-deflate; unknown", None),
            (
                "permessage-deflate; client_max_window_bits; client_max_window_bits",
                None,
            ),
            ("x-webkit-deflate-frame", None),
            ("", None),
        ];
        for (header, expected) in cases {
            assert_eq!(&answer(header), expected, "{header}");
        }
    }

    #[test]
    fn the_first_valid_offer_wins() {
        // Autobahn 13.7's three offers, and an invalid one before a valid one.
        let offers = "permessage-deflate; server_no_context_takeover; server_max_window_bits=8, \
                      permessage-deflate; client_no_context_takeover; client_max_window_bits, \
                      permessage-deflate";
        assert_eq!(answer(offers).unwrap().0, 8);
        let offers = "permessage-deflate; server_max_window_bits=99, permessage-deflate; \
                      server_max_window_bits=10";
        assert_eq!(answer(offers).unwrap().0, 10);
        let offers = "foo; bar=\"a,b\", permessage-deflate";
        assert_eq!(answer(offers).unwrap().0, 15);
        assert_eq!(negotiate_deflate(None), None);
    }

    #[test]
    fn offers_and_parameters_are_split() {
        let offers = parse_offers("a; x=1; y, b;z=\"q\"");
        assert_eq!(offers.len(), 2);
        assert_eq!(offers[0].name, "a");
        assert_eq!(offers[0].params, vec![("x", Some("1")), ("y", None)]);
        assert_eq!(offers[1].params, vec![("z", Some("q"))]);
    }
}
