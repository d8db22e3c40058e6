//! Matching a failed recipient of an analysed notice to the tracked sent
//! message it concerns (issue 4, "Matching a bounce to what was sent").
//!
//! Pure: no I/O, no clock, no store. The caller looks the candidates up (by
//! the Message-IDs the notice cites, and by the recipient's address within
//! the window) and hands them in; this module only decides. Strongest method
//! first: `reply_headers`, `embedded_original`, `recipient_window`, then
//! `unmatched` (architecture.md, "Decisions already taken": Matching).
//!
//! It never guesses: a message is only chosen when the notice cites it, or
//! when it was sent to this very address within the window, so a bounce for
//! an address we never wrote to (a CC'd list, say) is not blamed on another
//! contact.

use crate::time::{days_from_civil, days_in_month};
use serde::{Deserialize, Serialize};

use crate::bounce::{Recipient, Report};
use crate::track::{TrackedMessage, normalise_address};

/// Default matching window: seven days before the notice.
pub const DEFAULT_WINDOW_SECS: i64 = 7 * 24 * 3600;

/// Clock skew tolerated between the sending host and the notice's clock: a
/// tracked send up to this long *after* the notice still fits the window.
pub const CLOCK_SKEW_SECS: i64 = 5 * 60;

/// Subjects shorter than this (after normalisation) only match when equal;
/// containment of very short strings says nothing.
const MIN_CONTAINED_LEN: usize = 8;

/// How a failed recipient was tied to a tracked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The notice's In-Reply-To / References cite the tracked Message-ID.
    ReplyHeaders,
    /// The original Message-ID found inside the notice is tracked.
    EmbeddedOriginal,
    /// The recipient was sent a tracked message within the window.
    RecipientWindow,
    /// Nothing fits.
    Unmatched,
}

/// How sure a match is (architecture.md, "Matching").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The notice cites our message (reply headers, embedded original).
    Certain,
    /// Recipient window with a matching subject.
    Likely,
    /// Recipient window without a matching subject.
    Possible,
}

/// The decision for one failed recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// How it was matched.
    pub method: Method,
    /// How sure; `None` for [`Method::Unmatched`].
    pub confidence: Option<Confidence>,
    /// The tracked message it concerns; `None` when unmatched.
    pub message: Option<TrackedMessage>,
    /// True when the notice carried no reference to our message (a separate
    /// gateway notice), so the match rests on address and time alone.
    pub detection_limited: bool,
    /// The security gateway that sent the notice, when recognised.
    pub gateway: Option<String>,
    /// The address that actually failed, normalised, when it differs from
    /// what the tracked message lists (alias, list expansion) or the notice
    /// names a Final-Recipient.
    pub final_address: Option<String>,
}

/// Tunables of matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How far before the notice a tracked send may lie (seconds).
    pub window_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            window_secs: DEFAULT_WINDOW_SECS,
        }
    }
}

/// A Message-ID without angle brackets and surrounding whitespace; `None`
/// when nothing is left.
fn normalise_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The Message-IDs a notice cites: (reply ids from In-Reply-To/References of
/// `report.message`, embedded ids from `report.original.message_id`),
/// normalised (no angle brackets, trimmed) and without duplicates.
///
/// Reply ids are ordered most recent first: In-Reply-To (the message replied
/// to), then References from last to first, since RFC 5322 §3.6.4 appends the
/// parent at the end.
pub fn cited_ids(report: &Report) -> (Vec<String>, Vec<String>) {
    let mut reply: Vec<String> = Vec::new();
    let ordered = report
        .message
        .in_reply_to
        .iter()
        .chain(report.message.references.iter().rev());
    for id in ordered.filter_map(|id| normalise_id(id)) {
        if !reply.contains(&id) {
            reply.push(id);
        }
    }
    let embedded = report
        .original
        .message_id
        .as_deref()
        .and_then(normalise_id)
        .into_iter()
        .collect();
    (reply, embedded)
}

/// The normalised addresses a failed recipient goes by: the address sent
/// to, then its Final-Recipient.
fn recipient_addresses(address: &str, final_address: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let candidates = std::iter::once(address).chain(final_address);
    for address in candidates.filter_map(normalise_address) {
        if !out.contains(&address) {
            out.push(address);
        }
    }
    out
}

/// Whether the tracked message lists one of `addresses` among its recipients.
fn lists_any(message: &TrackedMessage, addresses: &[String]) -> bool {
    message.recipients.iter().any(|r| {
        // Stored addresses are normalised already; normalise again so that a
        // caller handing in raw ones still compares correctly.
        let stored = normalise_address(&r.address).unwrap_or_else(|| r.address.clone());
        addresses.contains(&stored)
    })
}

/// Picks among the tracked messages whose id is one of `ids` (ranked by
/// position in `ids`): one that lists this recipient first, else the best
/// ranked. Returns the message and whether it lists the recipient.
fn pick_cited<'a>(
    ids: &[String],
    by_id: &'a [TrackedMessage],
    addresses: &[String],
) -> Option<(&'a TrackedMessage, bool)> {
    let cited = ids.iter().flat_map(|id| {
        by_id
            .iter()
            .filter(move |m| normalise_id(&m.message_id).as_ref() == Some(id))
    });
    let mut first = None;
    for message in cited {
        if lists_any(message, addresses) {
            return Some((message, true));
        }
        first = first.or(Some(message));
    }
    first.map(|m| (m, false))
}

/// Decides, for one failed `recipient` of `report`, which tracked message it
/// concerns. Strongest method first.
///
/// `by_id`: tracked messages of the notice's account whose Message-ID is
/// among [`cited_ids`] (the caller looked them up; others are ignored).
/// `by_recipient`: tracked messages sent to this recipient's address within
/// the window before `notice_time` (Unix seconds: the notice's internal date,
/// else its Date header; see [`notice_time`]). Both are re-checked here, so a
/// broader candidate list cannot produce a wrong match.
pub fn match_recipient(
    report: &Report,
    recipient: &Recipient,
    notice_time: i64,
    by_id: &[TrackedMessage],
    by_recipient: &[TrackedMessage],
    settings: &Settings,
) -> Match {
    match_address(
        report,
        &recipient.address,
        recipient.final_address.as_deref(),
        notice_time,
        by_id,
        by_recipient,
        settings,
    )
}

/// [`match_recipient`] for an address that is not a bounce's recipient
/// entry: the complainant of a feedback report, the sender of an
/// auto-reply. `address` is the address mail was sent to, `final_address`
/// where it ended up when the notice says so.
pub fn match_address(
    report: &Report,
    address: &str,
    final_address: Option<&str>,
    notice_time: i64,
    by_id: &[TrackedMessage],
    by_recipient: &[TrackedMessage],
    settings: &Settings,
) -> Match {
    let addresses = recipient_addresses(address, final_address);
    let final_address = final_address.and_then(normalise_address);
    let (reply_ids, embedded_ids) = cited_ids(report);

    let by_reply = pick_cited(&reply_ids, by_id, &addresses).map(|p| (Method::ReplyHeaders, p));
    let by_embedded =
        pick_cited(&embedded_ids, by_id, &addresses).map(|p| (Method::EmbeddedOriginal, p));
    // Reply headers first; but when the message they cite was not sent to
    // this recipient and the embedded original was, the embedded original is
    // the better evidence (References also name older messages of a thread).
    let cited = match (by_reply, by_embedded) {
        (Some((_, (_, false))), Some(embedded @ (_, (_, true)))) => Some(embedded),
        (reply @ Some(_), _) => reply,
        (None, embedded) => embedded,
    };
    if let Some((method, (message, listed))) = cited {
        // The notice cites our message but it was not sent to this
        // address (alias, list expansion): it still concerns that
        // message; keep the address that failed (architecture.md).
        let final_address = if listed {
            final_address
        } else {
            final_address.or_else(|| addresses.first().cloned())
        };
        return Match {
            method,
            confidence: Some(Confidence::Certain),
            message: Some(message.clone()),
            detection_limited: false,
            gateway: report.gateway.clone(),
            final_address,
        };
    }

    // The window only trusts the address we sent to (Original-Recipient
    // when the notice gives it): a message sent to the Final-Recipient
    // directly is another send, and picking it would be a guess.
    let sent_to: Vec<String> = normalise_address(address).into_iter().collect();
    if let Some((message, subject_matches)) =
        pick_in_window(report, notice_time, by_recipient, &sent_to, settings)
    {
        return Match {
            method: Method::RecipientWindow,
            confidence: Some(if subject_matches {
                Confidence::Likely
            } else {
                Confidence::Possible
            }),
            message: Some(message.clone()),
            detection_limited: true,
            gateway: report.gateway.clone(),
            final_address,
        };
    }

    Match {
        method: Method::Unmatched,
        confidence: None,
        message: None,
        detection_limited: false,
        gateway: report.gateway.clone(),
        final_address,
    }
}

/// The best tracked message sent to one of `addresses` within the window,
/// and whether its subject matches the notice's.
fn pick_in_window<'a>(
    report: &Report,
    notice_time: i64,
    by_recipient: &'a [TrackedMessage],
    addresses: &[String],
    settings: &Settings,
) -> Option<(&'a TrackedMessage, bool)> {
    let earliest = notice_time.saturating_sub(settings.window_secs);
    let latest = notice_time.saturating_add(CLOCK_SKEW_SECS);
    // The original's subject when the notice shows it; else the notice's own
    // subject, which gateways often build as "Undeliverable: <subject>".
    let wanted = report
        .original
        .subject
        .as_deref()
        .or(report.message.subject.as_deref())
        .map(normalise_subject);
    by_recipient
        .iter()
        .filter(|m| (earliest..=latest).contains(&m.sent_at) && lists_any(m, addresses))
        .map(|m| {
            let (matches, overlap) = match (&wanted, m.subject.as_deref()) {
                (Some(wanted), Some(subject)) => {
                    let subject = normalise_subject(subject);
                    (
                        subjects_match(wanted, &subject),
                        token_overlap(wanted, &subject),
                    )
                }
                _ => (false, 0),
            };
            (m, matches, overlap)
        })
        // Message-ID last, so that the choice does not depend on the order
        // the caller listed the candidates in.
        .max_by_key(|(m, matches, overlap)| (*matches, *overlap, m.sent_at, &m.message_id))
        .map(|(m, matches, _)| (m, matches))
}

/// Reply, forward and non-delivery prefixes stripped from subjects, lower
/// case (German, Scandinavian and French forms included).
const SUBJECT_PREFIXES: &[&str] = &[
    "re:",
    "fwd:",
    "fw:",
    "aw:",
    "wg:",
    "sv:",
    "vs:",
    "tr:",
    "undeliverable:",
    "undelivered:",
    "unzustellbar:",
    "returned mail:",
    "delivery failure:",
    "failure notice:",
];

/// Lower case, runs of whitespace collapsed, reply/forward/NDR prefixes
/// stripped (repeatedly: "Re: Fwd: x" is "x").
pub fn normalise_subject(subject: &str) -> String {
    let mut text = subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    loop {
        let stripped = SUBJECT_PREFIXES
            .iter()
            .find_map(|prefix| text.strip_prefix(prefix))
            .map(|rest| rest.trim_start().to_string());
        match stripped {
            Some(rest) => text = rest,
            None => return text,
        }
    }
}

/// Two normalised subjects match when equal (and non-empty), or when one
/// contains the other and the shorter has at least [`MIN_CONTAINED_LEN`]
/// characters.
fn subjects_match(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (short, long) = if a.chars().count() <= b.chars().count() {
        (a, b)
    } else {
        (b, a)
    };
    short.chars().count() >= MIN_CONTAINED_LEN && long.contains(short)
}

/// Jaccard overlap of the alphanumeric words of two subjects, in per mille.
fn token_overlap(a: &str, b: &str) -> u32 {
    let words = |s: &str| -> Vec<String> {
        let mut out: Vec<String> = s
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let (a, b) = (words(a), words(b));
    let common = a.iter().filter(|w| b.contains(w)).count();
    let union = a.len() + b.len() - common;
    if union == 0 {
        return 0;
    }
    u32::try_from(common * 1000 / union).unwrap_or(0)
}

/// The notice's time for the window (architecture.md: its internal date,
/// its Date header when there is none), in Unix seconds. Both are RFC 3339
/// UTC text `YYYY-MM-DDTHH:MM:SSZ`; anything else is `None`.
pub fn notice_time(envelope_internal_date: Option<&str>, report: &Report) -> Option<i64> {
    envelope_internal_date
        .and_then(parse_utc)
        .or_else(|| report.message.date.as_deref().and_then(parse_utc))
}

/// Strict parser for `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339 §5.6, UTC, no
/// fraction), the form the envelope and the report use.
pub fn parse_utc(text: &str) -> Option<i64> {
    let bytes: &[u8; 20] = text.as_bytes().try_into().ok()?;
    let [
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
        b'Z',
    ] = *bytes
    else {
        return None;
    };
    let num = |digits: &[u8]| -> Option<i64> {
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let year = num(&[y0, y1, y2, y3])?;
    let month = num(&[mo0, mo1])?;
    let day = num(&[d0, d1])?;
    let hour = num(&[h0, h1])?;
    let minute = num(&[mi0, mi1])?;
    let second = num(&[s0, s1])?;
    // RFC 3339 §5.6 allows second 60 (leap second).
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}
