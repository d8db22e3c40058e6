//! Reading the headers of a parsed message into the report's shapes.

use mail_parser::{Address, DateTime, HeaderValue, Message};

use super::report::{MessageInfo, OriginalInfo};
use super::text;

/// The analysed message's own headers.
pub fn message_info(msg: &Message<'_>) -> MessageInfo {
    MessageInfo {
        message_id: msg.message_id().and_then(clean_id),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        from: first_address(msg.from()),
        subject: subject(msg),
        date: msg.date().and_then(utc_rfc3339),
    }
}

/// The decoded Subject, whitespace folded and bounded to 998 characters (the
/// RFC 5322 line limit): what the analysis matches markers against, so a
/// hostile 200 KB subject costs no more than an ordinary one.
pub fn subject(msg: &Message<'_>) -> Option<String> {
    msg.subject().map(|s| text::squash(s, 998))
}

/// An embedded original's headers.
pub fn original_info(msg: &Message<'_>) -> OriginalInfo {
    OriginalInfo {
        message_id: msg.message_id().and_then(clean_id),
        subject: msg.subject().map(|s| text::squash(s, 998)),
        from: first_address(msg.from()),
        to: all_addresses(msg.to()),
        date: msg.date().and_then(utc_rfc3339),
    }
}

/// Strips angle brackets and whitespace from a Message-ID; `None` when empty.
pub fn clean_id(raw: &str) -> Option<String> {
    let id = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.len() <= 998).then(|| id.to_string())
}

/// Every id of an In-Reply-To / References value (a text or a list).
pub fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => split_ids(t),
        HeaderValue::TextList(list) => list.iter().flat_map(|t| split_ids(t)).collect(),
        _ => Vec::new(),
    }
}

fn split_ids(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(clean_id)
        .take(100)
        .collect()
}

/// The first address of an address header, lower-cased.
pub fn first_address(addr: Option<&Address<'_>>) -> Option<String> {
    addr?
        .iter()
        .find_map(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| is_plausible(a))
}

/// Not empty and not a bare `@` (Courier writes the null sender as `<@>`).
fn is_plausible(address: &str) -> bool {
    !address.is_empty() && !address.starts_with('@') && !address.ends_with('@')
}

pub fn all_addresses(addr: Option<&Address<'_>>) -> Vec<String> {
    let Some(addr) = addr else {
        return Vec::new();
    };
    addr.iter()
        .filter_map(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| is_plausible(a))
        .take(100)
        .collect()
}

/// The date as RFC 3339 in UTC (`2026-11-23T10:15:00Z`), when it is valid.
pub fn utc_rfc3339(date: &DateTime) -> Option<String> {
    if !date.is_valid() {
        return None;
    }
    let ts = date.to_timestamp();
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A header's raw value (unparsed), looked up case-insensitively by name.
pub fn raw_header<'a>(msg: &'a Message<'_>, name: &str) -> Option<&'a str> {
    let header = msg
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    // Headers left unparsed carry their raw text as the value.
    if let HeaderValue::Text(text) = header.value() {
        return Some(text.trim());
    }
    let start = usize::try_from(header.offset_start()).ok()?;
    let end = usize::try_from(header.offset_end()).ok()?;
    let bytes = msg.raw_message().get(start..end)?;
    std::str::from_utf8(bytes).ok().map(str::trim)
}

/// The message's header block (at most `cap` bytes), lower-cased, for marker
/// searches over header names and values together.
pub fn header_block_lower(msg: &Message<'_>, cap: usize) -> String {
    let raw = msg.raw_message();
    let end = usize::try_from(msg.root_part().offset_body)
        .unwrap_or(0)
        .min(raw.len())
        .min(cap);
    String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).to_lowercase()
}

/// Whether the message has a header of this name at all.
pub fn has_header(msg: &Message<'_>, name: &str) -> bool {
    msg.headers()
        .iter()
        .any(|h| h.name().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_to_utc() {
        let date = DateTime {
            year: 2014,
            month: 7,
            day: 10,
            hour: 16,
            minute: 31,
            second: 43,
            tz_before_gmt: false,
            tz_hour: 9,
            tz_minute: 0,
        };
        assert_eq!(utc_rfc3339(&date).as_deref(), Some("2014-07-10T07:31:43Z"));
    }

    #[test]
    fn ids_are_cleaned() {
        assert_eq!(clean_id(" <a@b> "), Some("a@b".into()));
        assert_eq!(clean_id("<>"), None);
        assert_eq!(split_ids("<a@b> <c@d>"), vec!["a@b", "c@d"]);
    }
}
