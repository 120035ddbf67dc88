//! The validated scale-out settings: the Redis backplane's URL (its
//! password kept out of every log), channel prefix and queue cap.

use std::fmt;

/// A Redis URL whose password never reaches `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Checks `url` is a `redis://` URL the client accepts.
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let shape = "--backplane must look like redis://[:PASSWORD@]HOST:PORT[/DB]";
        if !url.starts_with("redis://") {
            return Err(shape.into());
        }
        // The client's own error could quote the URL, password and all.
        redis::IntoConnectionInfo::into_connection_info(url).map_err(|_| shape.to_string())?;
        Ok(RedisUrl(url.to_string()))
    }

    /// The URL itself, for the Redis client only.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    /// The URL with its credentials replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = &self.0["redis://".len()..];
        match rest.rsplit_once('@') {
            Some((_, host)) => write!(f, "redis://***@{host}"),
            None => write!(f, "redis://{rest}"),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// The validated backplane settings.
#[derive(Debug, Clone)]
pub struct BackplaneConfig {
    /// Where Redis is.
    pub url: RedisUrl,
    /// Channel and key prefix.
    pub prefix: String,
    /// Byte cap of the queue towards Redis.
    pub queue_bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked_everywhere_but_the_client() {
        let url = RedisUrl::parse("redis://:s3cret@10.0.0.5:6380/2").unwrap();
        assert_eq!(url.to_string(), "redis://***@10.0.0.5:6380/2");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.secret(), "redis://:s3cret@10.0.0.5:6380/2");
        let plain = RedisUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(plain.to_string(), "redis://127.0.0.1:6379");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let error = RedisUrl::parse("http://:s3cret@host").unwrap_err();
        assert!(!error.contains("s3cret"));
        assert!(RedisUrl::parse("redis://:s3cret@host:notaport").is_err());
    }
}
