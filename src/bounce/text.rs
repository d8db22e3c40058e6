//! Small, allocation-light text scanners shared by the parsers: e-mail
//! addresses, enhanced status codes, SMTP reply codes, whitespace folding.
//!
//! They work on bytes and never index out of bounds: hostile text yields
//! `None` or an empty result, never a panic.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// A list of phrases compiled once into one ASCII-case-insensitive
/// Aho-Corasick automaton: one linear pass over a text answers "which phrase
/// occurs first in the text" or "which phrase listed first occurs at all".
pub struct PhraseSet {
    automaton: Option<AhoCorasick>,
}

impl PhraseSet {
    /// Compiles `phrases` (an automaton that cannot be built matches nothing).
    pub fn new(phrases: &[&str]) -> Self {
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(phrases)
            .ok();
        PhraseSet { automaton }
    }

    /// Whether any phrase occurs in `haystack`.
    pub fn is_match(&self, haystack: impl AsRef<[u8]>) -> bool {
        self.automaton
            .as_ref()
            .is_some_and(|a| a.is_match(haystack.as_ref()))
    }

    /// The byte span of the leftmost occurrence of any phrase.
    pub fn leftmost(&self, haystack: &str) -> Option<(usize, usize)> {
        let found = self.automaton.as_ref()?.find(haystack)?;
        Some((found.start(), found.end()))
    }

    /// The index of the phrase listed first among those that occur.
    pub fn first_listed(&self, haystack: &str) -> Option<usize> {
        self.automaton
            .as_ref()?
            .find_overlapping_iter(haystack)
            .map(|m| m.pattern().as_usize())
            .min()
    }
}

/// Bytes allowed in the local part of an address we recognise in free text.
fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b) || b >= 0x80
}

/// Bytes allowed in a domain we recognise in free text.
fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' || b >= 0x80
}

/// Every e-mail address found in `text`, in order, lower-cased, without
/// duplicates. An address needs a local part and a domain with a dot.
pub fn addresses(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (start, end) in address_spans(text) {
        if let Some(found) = text.get(start..end) {
            let lowered = found.to_ascii_lowercase();
            if !out.contains(&lowered) {
                out.push(lowered);
            }
        }
    }
    out
}

/// The address in a span, normalised: lower-cased, without the quotes that
/// prose puts around it (`'bob@example.com'`) and without an X.400 routing
/// prefix (`dda:SMTP=bob@example.com`, `SMTP:bob@example.com`).
pub fn normalise_address(found: &str) -> String {
    let mut lowered = found.to_ascii_lowercase();
    for prefix in ["dda:smtp=", "smtp=", "smtp:", "rfc822;"] {
        if let Some(rest) = lowered.strip_prefix(prefix) {
            lowered = rest.to_string();
        }
    }
    let (local, domain) = lowered.rsplit_once('@').unwrap_or((lowered.as_str(), ""));
    let local = local.trim_start_matches(['\'', '"', '`']);
    format!("{local}@{domain}")
}

/// The byte spans of the addresses in `text`.
pub fn address_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut search_from = 0;
    while let Some(rel) = bytes.get(search_from..).and_then(memchr_at) {
        let at = search_from + rel;
        search_from = at + 1;
        // Walk left over the local part.
        let mut start = at;
        while start > 0 && bytes.get(start - 1).is_some_and(|&b| is_local_byte(b)) {
            start -= 1;
        }
        // A local part never starts with a dot; quoted local parts are rare in NDRs.
        while bytes.get(start) == Some(&b'.') && start < at {
            start += 1;
        }
        // Walk right over the domain.
        let mut end = at + 1;
        while bytes.get(end).is_some_and(|&b| is_domain_byte(b)) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes.get(end - 1), Some(b'.') | Some(b'-')) {
            end -= 1;
        }
        if start == at || end <= at + 1 {
            continue;
        }
        let domain = bytes.get(at + 1..end).unwrap_or_default();
        if !domain.contains(&b'.') || domain.first() == Some(&b'.') {
            continue;
        }
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        spans.push((start, end));
        search_from = end;
    }
    spans
}

fn memchr_at(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'@')
}

/// Lower-cases an address and strips `<>`, quotes, `rfc822;` and whitespace.
pub fn clean_address(raw: &str) -> Option<String> {
    let mut s = raw.trim();
    if let Some((kind, rest)) = s.split_once(';')
        && !kind.contains('@')
    {
        s = rest.trim();
    }
    let s = s
        .trim_matches(|c: char| c == '<' || c == '>' || c == '"' || c == '\'' || c.is_whitespace());
    let first = addresses(s).into_iter().next();
    match first {
        Some(a) => Some(a),
        None if s.contains('@') && !s.contains(char::is_whitespace) => Some(s.to_ascii_lowercase()),
        None => None,
    }
}

/// The first RFC 3463 enhanced status code (`x.y.z`, class 2, 4 or 5) in `text`.
///
/// The code must stand alone: `192.0.2.5` or `5.1.1.1` are not status codes.
pub fn enhanced_status(text: &str) -> Option<String> {
    enhanced_status_spans(text)
        .into_iter()
        .next()
        .and_then(|(s, e)| text.get(s..e).map(str::to_string))
}

/// The enhanced status code of the remote server's own answer in `text`: the
/// first code that directly follows an SMTP reply code (`550 5.7.1`,
/// `550-'5.7.1`), else the first code at all. Relays such as Amazon SES put
/// their own summary code in front of the quoted answer.
pub fn answer_status(text: &str) -> Option<String> {
    let spans = enhanced_status_spans(text);
    let after_reply = spans.iter().find(|&&(start, _)| {
        let before = text
            .get(..start)
            .unwrap_or_default()
            .trim_end_matches([' ', '-', '\'', '"']);
        let tail: Vec<u8> = before.bytes().rev().take(4).collect();
        tail.len() >= 3
            && tail.iter().take(3).all(u8::is_ascii_digit)
            && tail.get(3).is_none_or(|b| !b.is_ascii_alphanumeric())
    });
    after_reply
        .or(spans.first())
        .and_then(|&(s, e)| text.get(s..e).map(str::to_string))
}

/// The remote server's own answer inside a relay's diagnostic: from the reply
/// code that precedes [`answer_status`] when it is not at the start
/// (`5.1.0 - Unknown address error 550-'5.7.1 ... Access denied'`), else all.
pub fn remote_answer(text: &str) -> &str {
    let Some(code) = answer_status(text) else {
        return text;
    };
    let Some(pos) = text.find(code.as_str()) else {
        return text;
    };
    if pos == 0 {
        return text;
    }
    let before = text.get(..pos).unwrap_or_default();
    let trimmed = before.trim_end_matches([' ', '-', '\'', '"']);
    let start = trimmed.len().saturating_sub(3);
    if start == 0 {
        return text;
    }
    text.get(start..).unwrap_or(text)
}

/// The spans of every standalone enhanced status code in `text`.
pub fn enhanced_status_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if matches!(b, b'2' | b'4' | b'5') && bytes.get(i + 1) == Some(&b'.') {
            let before_ok = i == 0
                || bytes.get(i - 1).is_some_and(|&p| {
                    !(p.is_ascii_alphanumeric() || p == b'.' || p == b'-' || p == b'_')
                });
            if before_ok && let Some(end) = status_tail(bytes, i + 2) {
                out.push((i, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Parses `y.z` of `x.y.z` from `from`; returns the end of the code.
fn status_tail(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let y_start = i;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) && i - y_start < 3 {
        i += 1;
    }
    if i == y_start || bytes.get(i) != Some(&b'.') {
        return None;
    }
    i += 1;
    let z_start = i;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) && i - z_start < 3 {
        i += 1;
    }
    if i == z_start {
        return None;
    }
    // Not part of a longer dotted number (an IP address) or a word.
    match bytes.get(i) {
        Some(b'.') if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => None,
        Some(b) if b.is_ascii_alphanumeric() || *b == b'@' || *b == b'-' => None,
        _ => Some(i),
    }
}

/// The first SMTP reply code (2xx, 4xx, 5xx) that stands as a word in `text`:
/// at the start of the text or a line, or after `said:`/`:`/`'`, and followed by
/// a space, `-`, or the end.
pub fn smtp_code(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        let window = bytes.get(i..i + 3).unwrap_or_default();
        let first = window.first().copied().unwrap_or(0);
        if matches!(first, b'2' | b'4' | b'5') && window.iter().all(u8::is_ascii_digit) {
            let before_ok = i == 0
                || bytes.get(i - 1).is_some_and(|&p| {
                    matches!(
                        p,
                        b' ' | b'\t'
                            | b'\n'
                            | b'\r'
                            | b':'
                            | b'\''
                            | b'"'
                            | b'('
                            | b'['
                            | b'<'
                            | b'='
                            | b'#'
                    )
                });
            let after_ok = match bytes.get(i + 3) {
                None => true,
                Some(&n) => matches!(
                    n,
                    b' ' | b'-' | b'\t' | b'\n' | b'\r' | b')' | b']' | b'\'' | b'"' | b','
                ),
            };
            // `- ` after a number that is part of a date or an IP is rare; a
            // second digit group (`550.1`) would have failed `after_ok` already.
            if before_ok && after_ok {
                let code = u16::from(first - b'0') * 100
                    + u16::from(window.get(1).copied().unwrap_or(b'0') - b'0') * 10
                    + u16::from(window.get(2).copied().unwrap_or(b'0') - b'0');
                let second = code / 10 % 10;
                // RFC 5321 §4.2: the second digit is 0-5.
                if second <= 5 {
                    return Some(code);
                }
            }
        }
        i += 1;
    }
    None
}

/// Collapses runs of whitespace into one space and trims; bounds the length.
pub fn squash(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars));
    let mut pending_space = false;
    let mut count = 0;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
        if count >= max_chars {
            break;
        }
    }
    out
}

/// Removes the reply-code prefixes that multi-line SMTP replies repeat on
/// every line (RFC 5321 §4.2.1: `550-5.7.1 first line` / `550 5.7.1 last`),
/// so the text reads as one sentence. The first prefix is kept.
pub fn unfold_reply(text: &str) -> String {
    let Some(code) = smtp_code(text) else {
        return text.to_string();
    };
    let code = code.to_string();
    let status = enhanced_status(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut first = true;
    while let Some(pos) = rest.find(code.as_str()) {
        let (before, after) = rest.split_at(pos);
        let tail = after.get(3..).unwrap_or_default();
        let sep_ok = tail.starts_with(' ') || tail.starts_with('-');
        let tail = tail.get(1..).unwrap_or_default();
        let boundary_ok = before.is_empty() || before.ends_with(' ');
        if first || !sep_ok || !boundary_ok {
            out.push_str(before);
            out.push_str(after.get(..3).unwrap_or_default());
            rest = after.get(3..).unwrap_or_default();
            first = first && !(sep_ok && boundary_ok);
            continue;
        }
        out.push_str(before);
        rest = match &status {
            Some(st) if tail.starts_with(st.as_str()) => {
                tail.get(st.len()..).unwrap_or_default().trim_start()
            }
            _ => tail,
        };
    }
    out.push_str(rest);
    squash(&out, usize::MAX)
}

/// Case-insensitive ASCII `contains`.
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    find_ci(haystack, needle).is_some()
}

/// Case-insensitive ASCII `find`.
pub fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() {
        return Some(0);
    }
    if n.len() > h.len() {
        return None;
    }
    let first = n.first()?.to_ascii_lowercase();
    (0..=h.len() - n.len()).find(|&i| {
        h.get(i).is_some_and(|b| b.to_ascii_lowercase() == first)
            && h.get(i..i + n.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(n))
    })
}

/// A crude but bounded HTML-to-text conversion: drops tags, `<style>`/`<script>`
/// contents, and decodes the few entities NDRs use.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_decoded(&mut out, rest.get(..lt).unwrap_or_default());
        let after = rest.get(lt..).unwrap_or_default();
        let lower_tag: String = after
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        // An unclosed <style>/<script> swallows the rest: each search either
        // jumps past its match or ends the walk, so the work stays linear.
        let skip_to = if lower_tag.starts_with("<style") {
            Some(find_ci(after, "</style>").map_or(after.len(), |p| p + 8))
        } else if lower_tag.starts_with("<script") {
            Some(find_ci(after, "</script>").map_or(after.len(), |p| p + 9))
        } else {
            None
        };
        let end = match skip_to {
            Some(e) => e,
            None => match after.find('>') {
                Some(gt) => gt + 1,
                None => after.len(),
            },
        };
        let tag = after.get(..end).unwrap_or_default().to_ascii_lowercase();
        if tag.starts_with("<br")
            || tag.starts_with("<p")
            || tag.starts_with("</p")
            || tag.starts_with("<div")
            || tag.starts_with("</div")
            || tag.starts_with("<tr")
            || tag.starts_with("</tr")
            || tag.starts_with("<li")
            || tag.starts_with("</h")
        {
            out.push('\n');
        } else if tag.starts_with("<td") || tag.starts_with("</td") {
            out.push(' ');
        }
        rest = after.get(end..).unwrap_or_default();
    }
    push_decoded(&mut out, rest);
    out
}

fn push_decoded(out: &mut String, text: &str) {
    if !text.contains('&') {
        out.push_str(text);
        return;
    }
    let decoded = text
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.push_str(&decoded);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses_in_text() {
        assert_eq!(
            addresses("<Kijitora@Example.org>: host said... and bob@x.example."),
            vec!["kijitora@example.org", "bob@x.example"]
        );
        assert!(addresses("user@localhost and @@ and a@b").is_empty());
    }

    #[test]
    fn status_codes_stand_alone() {
        assert_eq!(
            enhanced_status("550 5.1.1 <a@b.c> User unknown"),
            Some("5.1.1".into())
        );
        assert_eq!(
            enhanced_status("host 192.0.2.5 said 5.7.1"),
            Some("5.7.1".into())
        );
        assert_eq!(enhanced_status("version 5.1.1.2"), None);
        assert_eq!(enhanced_status("#5.2.2 full"), Some("5.2.2".into()));
    }

    #[test]
    fn smtp_codes_stand_alone() {
        assert_eq!(smtp_code("host said: 550-5.1.1 no"), Some(550));
        assert_eq!(smtp_code("192.0.2.250 said"), None);
        assert_eq!(smtp_code("id 12550 x"), None);
        assert_eq!(smtp_code("'452 too many'"), Some(452));
    }

    #[test]
    fn multi_line_replies_unfold() {
        assert_eq!(
            unfold_reply("550-5.7.1 Messages with multiple 550 5.7.1 addresses in From: header"),
            "550-5.7.1 Messages with multiple addresses in From: header"
        );
        assert_eq!(
            unfold_reply("550 5.1.1 user unknown"),
            "550 5.1.1 user unknown"
        );
        assert_eq!(unfold_reply("no code here"), "no code here");
    }

    #[test]
    fn html_to_text_is_linear_on_unclosed_styles() {
        let hostile = "<style>".repeat(200_000);
        let started = std::time::Instant::now();
        assert_eq!(html_to_text(&hostile), "");
        assert!(started.elapsed().as_secs() < 5);
        assert_eq!(html_to_text("a<br>b &amp; c<style>x</style>d"), "a\nb & cd");
    }

    #[test]
    fn squash_folds_whitespace() {
        assert_eq!(squash("  a \n\t b  ", 100), "a b");
        assert_eq!(squash("abcdef", 3), "abc");
    }

    #[test]
    fn clean_address_strips_decorations() {
        assert_eq!(
            clean_address("rfc822; <Bob@Example.COM>"),
            Some("bob@example.com".into())
        );
        assert_eq!(clean_address("nothing here"), None);
    }
}
