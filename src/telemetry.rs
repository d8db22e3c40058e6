//! Metrics: every name rebound exports, declared once here, a small
//! in-process registry of counters and histograms, and their rendering in
//! the Prometheus text exposition format (version 0.0.4), served by the API
//! at `GET /metrics`.
//!
//! The pipeline counts through the typed functions below
//! ([`messages_scanned`], [`bounce`], ...), which write to one process-wide
//! [`Registry`] ([`global`]). Gauges that describe stored state (the outbox
//! backlog, each inbox's health) are not kept here: the API computes them
//! from the store at scrape time, so they cannot drift from it.
//!
//! A series is identified by its metric and label values; the label names
//! are fixed by the [`Metric`]. Keep label values bounded (inbox ids, taxonomy
//! reasons, match methods): never an address or a message id.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

/// What kind of series a metric has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (reset when the process restarts).
    Counter,
    /// A value that goes up and down (computed at scrape time).
    Gauge,
    /// Observations counted in cumulative buckets, with their sum.
    Histogram,
}

impl MetricKind {
    /// The name in a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric: its name, help text, kind and label names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// The exported name (`rebound_..._total` for counters).
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Label names, in the order values are given.
    pub labels: &'static [&'static str],
    /// A histogram's bucket bounds (ascending; `+Inf` is implied); empty
    /// for other kinds.
    pub buckets: &'static [f64],
}

/// New messages handed on by a source, per inbox.
pub const MESSAGES_SCANNED: Metric = Metric {
    name: "rebound_messages_scanned_total",
    help: "New messages seen in synced folders (envelopes handed on).",
    kind: MetricKind::Counter,
    labels: &["inbox"],
    buckets: &[],
};

/// Bounced recipients, per kind (`hard`, `soft`, `pending`) and taxonomy reason.
pub const BOUNCES: Metric = Metric {
    name: "rebound_bounces_total",
    help: "Bounced recipients found in notices, by kind and taxonomy reason.",
    kind: MetricKind::Counter,
    labels: &["kind", "reason"],
    buckets: &[],
};

/// Match outcomes, per method (`reply_headers`, ..., `unmatched`).
pub const MATCHES: Metric = Metric {
    name: "rebound_matches_total",
    help: "Notice addresses matched to tracked messages, by match method.",
    kind: MetricKind::Counter,
    labels: &["method"],
    buckets: &[],
};

/// Events written to the outbox, per event type.
pub const EVENTS_WRITTEN: Metric = Metric {
    name: "rebound_events_written_total",
    help: "Events written to the outbox, by event type.",
    kind: MetricKind::Counter,
    labels: &["type"],
    buckets: &[],
};

/// Events the callback receiver accepted.
pub const CALLBACK_DELIVERIES: Metric = Metric {
    name: "rebound_callback_deliveries_total",
    help: "Events delivered to the callback (accepted by the receiver).",
    kind: MetricKind::Counter,
    labels: &[],
    buckets: &[],
};

/// Failed callback attempts, per class (`retryable`, `permanent`).
pub const CALLBACK_FAILURES: Metric = Metric {
    name: "rebound_callback_failures_total",
    help: "Failed callback delivery attempts, by class (retryable, permanent).",
    kind: MetricKind::Counter,
    labels: &["class"],
    buckets: &[],
};

/// IMAP reconnects (a new connection after a lost or failed one), per inbox.
pub const IMAP_RECONNECTS: Metric = Metric {
    name: "rebound_imap_reconnects_total",
    help: "IMAP reconnects after a lost or failed connection, by inbox.",
    kind: MetricKind::Counter,
    labels: &["inbox"],
    buckets: &[],
};

/// From an event's write to the outbox to its delivery, in seconds.
pub const DELIVERY_LATENCY: Metric = Metric {
    name: "rebound_delivery_latency_seconds",
    help: "Time from an event's write to the outbox to its delivery, in seconds.",
    kind: MetricKind::Histogram,
    labels: &[],
    buckets: DELIVERY_LATENCY_BUCKETS,
};

/// The bucket bounds of [`DELIVERY_LATENCY`], in seconds: from sub-second
/// hand-offs to retries that take an hour.
pub const DELIVERY_LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Undelivered events in the outbox (computed at scrape time).
pub const OUTBOX_BACKLOG: Metric = Metric {
    name: "rebound_outbox_backlog",
    help: "Undelivered events in the outbox, dead letters not included.",
    kind: MetricKind::Gauge,
    labels: &[],
    buckets: &[],
};

/// Age of the oldest undelivered event, in seconds (0 when none).
pub const OUTBOX_OLDEST_AGE: Metric = Metric {
    name: "rebound_outbox_oldest_age_seconds",
    help: "Age of the oldest undelivered event in the outbox, in seconds (0 when there is none).",
    kind: MetricKind::Gauge,
    labels: &[],
    buckets: &[],
};

/// 1 when a configured inbox is connected or idle, else 0 (scrape time).
pub const INBOX_UP: Metric = Metric {
    name: "rebound_inbox_up",
    help: "1 when the inbox is connected or idle, 0 otherwise (disabled, backing off, auth failed, unknown).",
    kind: MetricKind::Gauge,
    labels: &["inbox", "account"],
    buckets: &[],
};

/// Always 1, labelled with the version (scrape time).
pub const BUILD_INFO: Metric = Metric {
    name: "rebound_build_info",
    help: "Always 1; the version label says which rebound is running.",
    kind: MetricKind::Gauge,
    labels: &["version"],
    buckets: &[],
};

/// Every metric the registry keeps (counters and histograms), in exposition order.
pub const RECORDED: &[Metric] = &[
    MESSAGES_SCANNED,
    BOUNCES,
    MATCHES,
    EVENTS_WRITTEN,
    CALLBACK_DELIVERIES,
    CALLBACK_FAILURES,
    IMAP_RECONNECTS,
    DELIVERY_LATENCY,
];

/// The gauges the API computes at scrape time.
pub const SCRAPED: &[Metric] = &[OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, INBOX_UP, BUILD_INFO];

/// Counts `n` new messages of `inbox`.
pub fn messages_scanned(inbox: &str, n: u64) {
    global().add(&MESSAGES_SCANNED, &[inbox], n);
}

/// Counts one bounced recipient (`kind`: `hard`, `soft`, `pending`;
/// `reason`: the taxonomy reason, `unknown` when none).
pub fn bounce(kind: &str, reason: &str) {
    global().add(&BOUNCES, &[kind, reason], 1);
}

/// Counts one match outcome (`method`: [`crate::policy::method_name`]).
pub fn matched(method: &str) {
    global().add(&MATCHES, &[method], 1);
}

/// Counts `n` events of type `event_type` written to the outbox.
pub fn events_written(event_type: &str, n: u64) {
    global().add(&EVENTS_WRITTEN, &[event_type], n);
}

/// Counts `n` events the callback receiver accepted.
pub fn callback_delivered(n: u64) {
    global().add(&CALLBACK_DELIVERIES, &[], n);
}

/// Counts one failed callback attempt (`class`: `retryable` or `permanent`).
pub fn callback_failed(class: &str) {
    global().add(&CALLBACK_FAILURES, &[class], 1);
}

/// Counts one IMAP reconnect of `inbox`.
pub fn imap_reconnect(inbox: &str) {
    global().add(&IMAP_RECONNECTS, &[inbox], 1);
}

/// Records one event's delivery latency (write to delivery), in seconds.
pub fn delivery_latency(seconds: f64) {
    global().observe(&DELIVERY_LATENCY, &[], seconds);
}

/// The process-wide registry the functions above write to.
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::default)
}

/// One series: its metric name and label values.
type SeriesKey = (&'static str, Vec<String>);

/// The value of one series.
#[derive(Debug, Clone)]
enum Value {
    Counter(u64),
    Histogram {
        bounds: &'static [f64],
        /// Per bucket, observations `<=` its bound (not cumulative yet).
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

/// Counters and histograms of one process. Cheap enough for per-batch and
/// per-event updates (one short lock); not meant for per-byte counting.
#[derive(Debug, Default)]
pub struct Registry {
    series: Mutex<BTreeMap<SeriesKey, Value>>,
}

impl Registry {
    /// Adds `by` to a counter series (created at 0). Label values are
    /// matched to the metric's label names in order.
    pub fn add(&self, metric: &Metric, labels: &[&str], by: u64) {
        let key = (metric.name, label_values(metric, labels));
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let value = series.entry(key).or_insert(Value::Counter(0));
        if let Value::Counter(n) = value {
            *n = n.saturating_add(by);
        }
    }

    /// Records one observation in a histogram series (the metric's
    /// buckets). A NaN is ignored.
    pub fn observe(&self, metric: &Metric, labels: &[&str], value: f64) {
        let bounds = metric.buckets;
        if value.is_nan() {
            return;
        }
        let key = (metric.name, label_values(metric, labels));
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let entry = series.entry(key).or_insert_with(|| Value::Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        });
        if let Value::Histogram {
            bounds,
            counts,
            sum,
            count,
        } = entry
        {
            if let Some(i) = bounds.iter().position(|b| value <= *b)
                && let Some(c) = counts.get_mut(i)
            {
                *c += 1;
            }
            *sum += value;
            *count += 1;
        }
    }

    /// A counter's current value (0 when the series does not exist).
    pub fn counter(&self, metric: &Metric, labels: &[&str]) -> u64 {
        let key = (metric.name, label_values(metric, labels));
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        match series.get(&key) {
            Some(Value::Counter(n)) => *n,
            _ => 0,
        }
    }

    /// Writes every metric of `metrics` with its series: `# HELP` and
    /// `# TYPE` lines, then one line per sample. A counter without labels
    /// and without a series shows 0; a histogram without labels shows empty
    /// buckets.
    pub fn render_into(&self, out: &mut Exposition, metrics: &[Metric]) {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for metric in metrics {
            out.family(metric);
            let mut any = false;
            let own = series
                .range((metric.name, Vec::new())..)
                .take_while(|((name, _), _)| *name == metric.name);
            for ((_, labels), value) in own {
                any = true;
                let pairs = pairs(metric, labels);
                match value {
                    Value::Counter(n) => out.sample(metric.name, &pairs, *n as f64),
                    Value::Histogram {
                        bounds,
                        counts,
                        sum,
                        count,
                    } => out.histogram(metric.name, &pairs, bounds, counts, *sum, *count),
                }
            }
            if !any && metric.labels.is_empty() {
                match metric.kind {
                    MetricKind::Counter | MetricKind::Gauge => out.sample(metric.name, &[], 0.0),
                    MetricKind::Histogram => {
                        let empty = vec![0; metric.buckets.len()];
                        out.histogram(metric.name, &[], metric.buckets, &empty, 0.0, 0);
                    }
                }
            }
        }
    }
}

fn label_values(metric: &Metric, labels: &[&str]) -> Vec<String> {
    (0..metric.labels.len())
        .map(|i| labels.get(i).copied().unwrap_or("").to_string())
        .collect()
}

fn pairs<'a>(metric: &Metric, values: &'a [String]) -> Vec<(&'static str, &'a str)> {
    metric
        .labels
        .iter()
        .copied()
        .zip(values.iter().map(String::as_str))
        .collect()
}

/// A Prometheus text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// The `# HELP` and `# TYPE` lines of a metric.
    pub fn family(&mut self, metric: &Metric) {
        let _ = writeln!(
            self.text,
            "# HELP {} {}",
            metric.name,
            escape_help(metric.help)
        );
        let _ = writeln!(self.text, "# TYPE {} {}", metric.name, metric.kind.as_str());
    }

    /// One sample line: `name{label="value",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        write_labels(&mut self.text, labels, None);
        let _ = writeln!(self.text, " {}", format_value(value));
    }

    /// A histogram's `_bucket` (cumulative, `+Inf` last), `_sum` and `_count` lines.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
        count: u64,
    ) {
        let mut cumulative = 0u64;
        for (bound, n) in bounds.iter().zip(counts) {
            cumulative += n;
            let le = format_value(*bound);
            let _ = write!(self.text, "{name}_bucket");
            write_labels(&mut self.text, labels, Some(&le));
            let _ = writeln!(self.text, " {cumulative}");
        }
        let _ = write!(self.text, "{name}_bucket");
        write_labels(&mut self.text, labels, Some("+Inf"));
        let _ = writeln!(self.text, " {count}");
        let _ = write!(self.text, "{name}_sum");
        write_labels(&mut self.text, labels, None);
        let _ = writeln!(self.text, " {}", format_value(sum));
        let _ = write!(self.text, "{name}_count");
        write_labels(&mut self.text, labels, None);
        let _ = writeln!(self.text, " {count}");
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.text
    }
}

/// `{a="x",b="y"}` (nothing when there are no labels), with `le` last.
fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&escape_label(value));
        out.push('"');
    }
    out.push('}');
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help texts escape backslash and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers without a fraction; `+Inf`, `-Inf`, `NaN` as Prometheus spells them.
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_text_format() {
        let r = Registry::default();
        r.add(&BOUNCES, &["hard", "mailbox_does_not_exist"], 2);
        r.add(&BOUNCES, &["soft", "mailbox_full"], 1);
        r.add(&BOUNCES, &["hard", "mailbox_does_not_exist"], 1);
        r.add(&MESSAGES_SCANNED, &["a\"b\\c\nd"], 5);
        r.observe(&DELIVERY_LATENCY, &[], 0.3);
        r.observe(&DELIVERY_LATENCY, &[], 7200.0);
        let mut out = Exposition::new();
        r.render_into(&mut out, RECORDED);
        let text = out.finish();
        assert!(text.contains(
            "rebound_bounces_total{kind=\"hard\",reason=\"mailbox_does_not_exist\"} 3\n"
        ));
        assert!(text.contains("rebound_bounces_total{kind=\"soft\",reason=\"mailbox_full\"} 1\n"));
        assert!(text.contains("rebound_messages_scanned_total{inbox=\"a\\\"b\\\\c\\nd\"} 5\n"));
        assert!(text.contains("rebound_callback_deliveries_total 0\n"));
        assert!(text.contains("rebound_delivery_latency_seconds_bucket{le=\"0.25\"} 0\n"));
        assert!(text.contains("rebound_delivery_latency_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("rebound_delivery_latency_seconds_bucket{le=\"3600\"} 1\n"));
        assert!(text.contains("rebound_delivery_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("rebound_delivery_latency_seconds_sum 7200.3\n"));
        assert!(text.contains("rebound_delivery_latency_seconds_count 2\n"));
        assert!(text.contains("# TYPE rebound_bounces_total counter\n"));
        assert_eq!(r.counter(&BOUNCES, &["hard", "mailbox_does_not_exist"]), 3);
        assert_eq!(r.counter(&BOUNCES, &["hard", "other"]), 0);
    }

    #[test]
    fn names_are_unique_and_counters_end_in_total() {
        let mut names: Vec<&str> = RECORDED.iter().chain(SCRAPED).map(|m| m.name).collect();
        for m in RECORDED.iter().chain(SCRAPED) {
            assert!(m.name.starts_with("rebound_"), "{}", m.name);
            assert_eq!(
                m.kind == MetricKind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
        }
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), before);
    }
}
