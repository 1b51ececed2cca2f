//! Times and durations on the command line: `--ttl 1h`, `--at now+2h`,
//! `--at 2026-11-27T12:00:00Z`, `--nbf 1790000000`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Current Unix time in seconds.
pub fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// A duration such as `90s`, `15m`, `1h 30m`, `2days` (humantime's syntax).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 90s, 15m, 1h, 7days)"))
}

/// A point in time, resolved against `now`: Unix seconds, RFC 3339, `now`, or
/// `now+DURATION` / `now-DURATION`.
pub fn parse_time(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    if let Some(rest) = s.strip_prefix("now") {
        let rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(now);
        }
        let (sign, d) = match (rest.strip_prefix('+'), rest.strip_prefix('-')) {
            (Some(d), _) => (1, d),
            (_, Some(d)) => (-1, d),
            _ => return Err(format!("{s:?}: expected now+DURATION or now-DURATION")),
        };
        let secs = parse_duration(d)?.as_secs() as i64;
        return Ok(now + sign * secs);
    }
    humantime::parse_rfc3339_weak(s)
        .map(unix)
        .map_err(|_| format!("{s:?} is not a time: use Unix seconds, RFC 3339 (2026-11-27T12:00:00Z), now, or now+1h"))
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// RFC 3339 for humans (UTC), or the raw number when it is out of range.
pub fn format_time(secs: i64) -> String {
    match u64::try_from(secs) {
        Ok(s) => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string(),
        Err(_) => format!("{secs} (before 1970)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("now", 100), Ok(100));
        assert_eq!(parse_time("now+1h", 100), Ok(3700));
        assert_eq!(parse_time("now - 90s", 100), Ok(10));
        assert_eq!(parse_time("1790000000", 0), Ok(1_790_000_000));
        assert_eq!(parse_time("1970-01-01T00:01:00Z", 0), Ok(60));
        assert!(parse_time("tomorrow", 0).is_err());
        assert!(parse_time("now*2", 0).is_err());
        assert_eq!(format_time(60), "1970-01-01T00:01:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert!(parse_duration("soon").is_err());
    }
}
