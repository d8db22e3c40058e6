//! Reconnect pacing: jittered exponential backoff, a minimum interval between
//! logins, and sleeps that end early when the inbox is stopped.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Exponential backoff with "full jitter": the n-th wait is drawn uniformly
/// from `[base/2, base]` where `base = min(max, initial * 2^n)`, so that many
/// inboxes that failed together (a server restart) do not reconnect in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The next wait; each call doubles the base up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let base = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        let spread = base.saturating_sub(half).as_millis() as u64;
        half + Duration::from_millis(fastrand::u64(0..=spread))
    }

    /// Back to the first delay (after a successful session).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Keeps logins of one inbox at least `interval` apart, whatever the
/// backoff says: a server that accepts the login and then drops the
/// connection at once must not see a login storm.
#[derive(Debug)]
pub struct LoginLimiter {
    interval: Duration,
    last: Option<Instant>,
}

impl LoginLimiter {
    /// A limiter with the given minimum interval.
    pub fn new(interval: Duration) -> LoginLimiter {
        LoginLimiter {
            interval,
            last: None,
        }
    }

    /// How long to wait before the next login may start.
    pub fn wait_time(&self) -> Duration {
        match self.last {
            Some(last) => (last + self.interval).saturating_duration_since(Instant::now()),
            None => Duration::ZERO,
        }
    }

    /// Records that a login starts now.
    pub fn record(&mut self) {
        self.last = Some(Instant::now());
    }
}

/// Sleeps for `duration` unless `stop` is cancelled first; returns `false`
/// when it was cancelled.
pub async fn sleep_or_stop(duration: Duration, stop: &CancellationToken) -> bool {
    if duration.is_zero() {
        return !stop.is_cancelled();
    }
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let bases = [1, 2, 4, 8, 8, 8];
        for base in bases {
            let d = b.next_delay();
            let base = Duration::from_secs(base);
            assert!(
                d >= base / 2 && d <= base,
                "{d:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }

    #[tokio::test]
    async fn sleep_ends_early_when_stopped() {
        let stop = CancellationToken::new();
        stop.cancel();
        let started = std::time::Instant::now();
        assert!(!sleep_or_stop(Duration::from_secs(30), &stop).await);
        assert!(started.elapsed() < Duration::from_secs(1));
        let live = CancellationToken::new();
        assert!(sleep_or_stop(Duration::from_millis(5), &live).await);
    }

    #[test]
    fn limiter_spaces_logins() {
        let mut l = LoginLimiter::new(Duration::from_secs(10));
        assert_eq!(l.wait_time(), Duration::ZERO);
        l.record();
        assert!(l.wait_time() > Duration::from_secs(9));
    }
}
