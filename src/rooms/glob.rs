//! Shell-style patterns for `--rooms-publisher-only`: `*` matches any run of
//! bytes (slashes included), `?` one byte; everything else matches itself.

/// Whether `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it currently absorbs up to.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, absorbed)) => {
                    p = star + 1;
                    t = absorbed + 1;
                    backtrack = Some((star, absorbed + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn stars_and_question_marks() {
        assert!(glob_match("/game/*", "/game/42"));
        assert!(glob_match("/game/*", "/game/a/b"));
        assert!(!glob_match("/game/*", "/games"));
        assert!(glob_match("*", "/"));
        assert!(glob_match("/r?om", "/room"));
        assert!(!glob_match("/r?om", "/rooom"));
        assert!(glob_match("/*/live", "/btc/live"));
        assert!(!glob_match("/*/live", "/btc/live/x"));
        assert!(glob_match("/a*b*c", "/aXXbYYc"));
        assert!(glob_match("/exact", "/exact"));
        assert!(!glob_match("/exact", "/exactly"));
    }
}
