//! Which paths may name a room.

/// Longest room name, in bytes.
pub const MAX_ROOM_NAME: usize = 128;

/// Checks a room name (a path without its query): it starts with `/`, has
/// at most [`MAX_ROOM_NAME`] bytes, and only letters, digits and `-_.~/`.
/// The error says why, for a 400 body.
pub fn validate_room(name: &str) -> Result<(), String> {
    if !name.starts_with('/') {
        return Err("a room name starts with /".into());
    }
    if name.len() > MAX_ROOM_NAME {
        return Err(format!(
            "room name is {} bytes; at most {MAX_ROOM_NAME} are allowed",
            name.len()
        ));
    }
    match name
        .bytes()
        .find(|&b| !(b.is_ascii_alphanumeric() || b"-_.~/".contains(&b)))
    {
        Some(bad) => Err(format!(
            "room names may hold only letters, digits and -_.~/ (found {:?})",
            bad as char
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_names() {
        assert!(validate_room("/").is_ok());
        assert!(validate_room("/prices/btc-usd").is_ok());
        assert!(validate_room("/a_b.c~d").is_ok());
        assert!(validate_room("/with space").is_err());
        assert!(validate_room("/percent%20").is_err());
        assert!(validate_room("/ünï").is_err());
        assert!(validate_room(&format!("/{}", "a".repeat(127))).is_ok());
        assert!(validate_room(&format!("/{}", "a".repeat(128))).is_err());
    }
}
