//! INTERNALDATE (RFC 3501 §9 `date-time`: `"17-Jul-1996 02:44:25 -0700"`)
//! to RFC 3339 UTC (`1996-07-17T09:44:25Z`), without a date library.

use crate::time::{civil_from_days, days_from_civil};

/// Converts an IMAP `date-time` to RFC 3339 UTC; `None` when malformed.
pub(super) fn internal_date_to_rfc3339(text: &str) -> Option<String> {
    let mut parts = text.split_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some() {
        return None;
    }

    let mut d = date.split('-');
    let day: i64 = d.next()?.trim().parse().ok()?;
    let month = month_number(d.next()?)?;
    let year: i64 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }

    let mut t = time.split(':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.parse().ok()?;
    if t.next().is_some()
        || hour > 23
        || minute > 59
        || second > 60
        || hour < 0
        || minute < 0
        || second < 0
    {
        return None;
    }

    // zone = ("+" / "-") 4DIGIT
    let sign = match zone.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits = zone.get(1..)?;
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let zone_hours: i64 = digits.get(..2)?.parse().ok()?;
    let zone_minutes: i64 = digits.get(2..)?.parse().ok()?;
    let offset = sign * (zone_hours * 3600 + zone_minutes * 60);

    let days = days_from_civil(year, month, day);
    let local = days * 86_400 + hour * 3600 + minute * 60 + second.min(59);
    let utc = local - offset;
    let (y, m, dd) = civil_from_days(utc.div_euclid(86_400));
    let secs = utc.rem_euclid(86_400);
    Some(format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    ))
}

fn month_number(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| i64::try_from(i + 1).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_utc() {
        assert_eq!(
            internal_date_to_rfc3339("17-Jul-1996 02:44:25 -0700").as_deref(),
            Some("1996-07-17T09:44:25Z")
        );
        assert_eq!(
            internal_date_to_rfc3339(" 1-Jan-2024 00:30:00 +0100").as_deref(),
            Some("2023-12-31T23:30:00Z")
        );
        assert_eq!(
            internal_date_to_rfc3339("29-Feb-2024 23:59:59 +0000").as_deref(),
            Some("2024-02-29T23:59:59Z")
        );
        assert_eq!(
            internal_date_to_rfc3339("01-Mar-2000 12:00:00 -1200").as_deref(),
            Some("2000-03-02T00:00:00Z")
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "17-Jul-1996",
            "17-Foo-1996 02:44:25 -0700",
            "17-Jul-1996 25:00:00 +0000",
            "17-Jul-1996 02:44:25 0700",
            "17-Jul-1996 02:44:25 -07",
            "x-y-z a:b:c +0000",
        ] {
            assert_eq!(internal_date_to_rfc3339(bad), None, "{bad}");
        }
    }
}
