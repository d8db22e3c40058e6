//! What one attempt's answer means and when the next one is: pure functions
//! of the status, the headers, the attempt count and the clock.
//!
//! - 2xx: delivered.
//! - 408 and 429: the receiver asks us to come back; `Retry-After` (seconds
//!   or an HTTP date, RFC 9110 §10.2.3) is honoured, else the backoff. The
//!   same for 503 with `Retry-After`.
//! - any other 4xx: refused for good (a malformed request, a gone endpoint,
//!   a failed signature check on a receiver with the wrong secret): dead at
//!   once, so the lane is released; a redrive sends it again after a fix.
//! - 5xx, 3xx (redirects are not followed: a receiver that moved is a
//!   configuration to fix, not a place to re-send signed events to),
//!   timeouts and connection errors: retried with exponential backoff and
//!   full jitter, 1 s doubling up to [`BACKOFF_CAP_SECS`], until the retry
//!   budget is spent; then dead.

use std::time::Duration;

use crate::time::days_from_civil;

/// The first backoff ceiling.
pub const BACKOFF_BASE_SECS: i64 = 1;

/// The largest backoff ceiling: one hour.
pub const BACKOFF_CAP_SECS: i64 = 3600;

/// The shortest wait before any retry, whatever the jitter or a
/// `Retry-After: 0` says: next attempts are scheduled in whole seconds.
pub const MIN_RETRY_SECS: i64 = 1;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered,
    /// Worth trying again; `retry_after` is the receiver's own wish (seconds
    /// from now), when it said so.
    Retryable {
        /// The status and body excerpt, or the transport error.
        error: String,
        /// `Retry-After`, in seconds from now.
        retry_after: Option<i64>,
    },
    /// The receiver refused it for good.
    Permanent {
        /// The status and body excerpt.
        error: String,
    },
}

/// What to write after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Mark delivered.
    Delivered,
    /// Schedule the next attempt at this time (Unix seconds).
    RetryAt(i64),
    /// Dead-letter now.
    Dead,
}

/// Classifies an HTTP answer; `retry_after` is the header's value, `excerpt`
/// the start of the body, `now` the clock (for an HTTP-date Retry-After).
pub fn classify(status: u16, retry_after: Option<&str>, excerpt: &str, now: i64) -> Attempt {
    if (200..300).contains(&status) {
        return Attempt::Delivered;
    }
    let error = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    match status {
        408 | 429 | 503 => Attempt::Retryable {
            error,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        400..=499 => Attempt::Permanent { error },
        _ => Attempt::Retryable {
            error,
            retry_after: None,
        },
    }
}

/// The decision after an attempt: `attempts` is the number of failed
/// attempts before this one, `deadline` the end of the retry budget, `jitter`
/// a uniform random number in `[0, 1)`.
pub fn decide(attempt: &Attempt, attempts: u32, now: i64, deadline: i64, jitter: f64) -> Decision {
    match attempt {
        Attempt::Delivered => Decision::Delivered,
        Attempt::Permanent { .. } => Decision::Dead,
        Attempt::Retryable { retry_after, .. } => {
            if now >= deadline {
                return Decision::Dead;
            }
            let wait = match retry_after {
                Some(secs) => (*secs).max(MIN_RETRY_SECS),
                None => backoff(attempts.saturating_add(1), jitter),
            };
            // The last attempt falls on the deadline, not after it.
            Decision::RetryAt(now.saturating_add(wait).min(deadline))
        }
    }
}

/// The wait after the `failures`-th failed attempt (1 for the first): a
/// uniform draw ("full jitter") from `[0, ceiling]`, ceiling = 1 s doubling
/// up to [`BACKOFF_CAP_SECS`], and at least [`MIN_RETRY_SECS`].
pub fn backoff(failures: u32, jitter: f64) -> i64 {
    backoff_ceiling(failures).map_or(MIN_RETRY_SECS, |ceiling| {
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // The ceiling is at most an hour: exact in an f64 and back.
        let secs = (jitter * ceiling as f64).round() as i64;
        secs.clamp(MIN_RETRY_SECS, BACKOFF_CAP_SECS)
    })
}

/// The backoff ceiling after the `failures`-th failure, seconds.
pub fn backoff_ceiling(failures: u32) -> Option<i64> {
    let shift = failures.checked_sub(1)?.min(32);
    Some(
        BACKOFF_BASE_SECS
            .checked_shl(shift)
            .unwrap_or(BACKOFF_CAP_SECS)
            .min(BACKOFF_CAP_SECS),
    )
}

/// The end of an event's retry budget.
pub fn deadline(budget_from: i64, budget: Duration) -> i64 {
    budget_from.saturating_add(i64::try_from(budget.as_secs()).unwrap_or(i64::MAX))
}

/// `Retry-After` as seconds from `now`: delta-seconds, or an HTTP-date in
/// any of RFC 9110's three forms (§5.6.7). A date in the past is 0;
/// anything else unreadable is `None`.
pub fn parse_retry_after(value: &str, now: i64) -> Option<i64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // A huge number saturates rather than being ignored.
        return Some(value.parse::<i64>().unwrap_or(i64::MAX));
    }
    let at = parse_http_date(value)?;
    Some(at.saturating_sub(now).max(0))
}

/// An HTTP-date as Unix seconds: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37
/// GMT`), the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) or
/// asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(value: &str) -> Option<i64> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let (day, month, year, clock) = match parts.as_slice() {
        [weekday, day, month, year, clock, "GMT"] if weekday.ends_with(',') => {
            (*day, *month, year.parse::<i64>().ok()?, *clock)
        }
        [weekday, date, clock, "GMT"] if weekday.ends_with(',') => {
            let mut fields = date.split('-');
            let (day, month, yy) = (fields.next()?, fields.next()?, fields.next()?);
            if fields.next().is_some() || yy.len() != 2 {
                return None;
            }
            let yy: i64 = yy.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years ahead is past.
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (day, month, year, *clock)
        }
        [_weekday, month, day, clock, year] => (*day, *month, year.parse::<i64>().ok()?, *clock),
        _ => return None,
    };
    let month = month_number(month)?;
    let day: i64 = day.parse().ok()?;
    if !(1..=crate::time::days_in_month(year, month)).contains(&day) {
        return None;
    }
    let mut hms = clock.split(':');
    let (h, m, s) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() {
        return None;
    }
    let (h, m, s): (i64, i64, i64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..=60).contains(&s) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// `Jan` → 1 ... `Dec` → 12 (case-sensitive, as RFC 9110 writes them).
fn month_number(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == name)
        .and_then(|i| i64::try_from(i + 1).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(200, None, "", 0), Attempt::Delivered);
        assert_eq!(classify(204, None, "x", 0), Attempt::Delivered);
        for status in [400, 401, 403, 404, 410, 422] {
            assert!(
                matches!(classify(status, None, "", 0), Attempt::Permanent { .. }),
                "{status}"
            );
        }
        for status in [301, 408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify(status, None, "", 0), Attempt::Retryable { .. }),
                "{status}"
            );
        }
        assert_eq!(
            classify(429, Some("120"), "slow down", 0),
            Attempt::Retryable {
                error: "HTTP 429: slow down".into(),
                retry_after: Some(120)
            }
        );
        // Retry-After only counts where it means "come back later".
        assert_eq!(
            classify(500, Some("120"), "", 0),
            Attempt::Retryable {
                error: "HTTP 500".into(),
                retry_after: None
            }
        );
    }

    #[test]
    fn backoff_doubles_to_an_hour_with_full_jitter() {
        let ceilings: Vec<i64> = (1..=14).filter_map(backoff_ceiling).collect();
        assert_eq!(
            ceilings,
            [
                1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600
            ]
        );
        assert_eq!(backoff_ceiling(u32::MAX), Some(3600));
        assert_eq!(backoff(10, 0.0), MIN_RETRY_SECS);
        assert_eq!(backoff(10, 0.5), 256);
        assert_eq!(backoff(10, 0.999_999_9), 512);
        assert_eq!(backoff(40, 1.0), 3600);
        assert_eq!(backoff(3, f64::NAN), MIN_RETRY_SECS);
    }

    #[test]
    fn decisions_respect_the_budget_and_retry_after() {
        let retry = Attempt::Retryable {
            error: "HTTP 500".into(),
            retry_after: None,
        };
        assert_eq!(decide(&retry, 0, 100, 1000, 0.99), Decision::RetryAt(101));
        assert_eq!(decide(&retry, 3, 100, 1000, 0.5), Decision::RetryAt(104));
        // Capped at the deadline; dead once it is reached.
        assert_eq!(decide(&retry, 12, 900, 1000, 0.9), Decision::RetryAt(1000));
        assert_eq!(decide(&retry, 12, 1000, 1000, 0.9), Decision::Dead);
        let later = Attempt::Retryable {
            error: "HTTP 429".into(),
            retry_after: Some(120),
        };
        assert_eq!(decide(&later, 0, 100, 1000, 0.0), Decision::RetryAt(220));
        let now = Attempt::Retryable {
            error: "HTTP 429".into(),
            retry_after: Some(0),
        };
        assert_eq!(decide(&now, 0, 100, 1000, 0.0), Decision::RetryAt(101));
        let gone = Attempt::Permanent {
            error: "HTTP 410".into(),
        };
        assert_eq!(decide(&gone, 0, 100, 1000, 0.0), Decision::Dead);
        assert_eq!(
            decide(&Attempt::Delivered, 5, 2000, 1000, 0.0),
            Decision::Delivered
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_all_three_dates() {
        // 1994-11-06T08:49:37Z
        let at = 784_111_777;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(at));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(at));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(at));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", at),
            Some(10)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", at),
            Some(0)
        );
        assert_eq!(parse_retry_after(" 120 ", 0), Some(120));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(i64::MAX)
        );
        for junk in [
            "",
            "-5",
            "1.5",
            "soon",
            "Sun, 31 Feb 2026 00:00:00 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(junk, 0), None, "{junk:?}");
        }
    }
}
