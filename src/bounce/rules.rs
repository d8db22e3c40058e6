//! The diagnostic-text rule table: phrases that name a reason.
//!
//! This is the one place that learns a new MTA's wording. Every phrase is
//! matched case-insensitively as a substring of the diagnostic text through a
//! single Aho-Corasick automaton built once; when several rules match, the one
//! listed first wins, so the table is ordered from the most specific reason to
//! the most generic one. Phrases are facts about what real MTAs write.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::reason::Reason;

mod generic;
mod specific;

pub(crate) use generic::GENERIC;
pub(crate) use specific::SPECIFIC;

/// How strongly a phrase names its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// A phrase of [`SPECIFIC`].
    Specific,
    /// A word of [`GENERIC`].
    Generic,
}

struct Compiled {
    automaton: AhoCorasick,
    /// `(priority, reason, strength)` of each pattern, indexed by pattern id;
    /// the priority orders SPECIFIC before GENERIC and each table top-down.
    rule_of: Vec<(u16, Reason, Strength)>,
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
    let mut patterns = Vec::new();
    let mut rule_of = Vec::new();
    let tables = [(SPECIFIC, Strength::Specific), (GENERIC, Strength::Generic)];
    let mut priority: u16 = 0;
    for (table, strength) in tables {
        for (reason, phrases) in table.iter() {
            for phrase in phrases.iter() {
                patterns.push(*phrase);
                rule_of.push((priority, *reason, strength));
            }
            priority = priority.saturating_add(1);
        }
    }
    let automaton = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&patterns)
        .ok()?;
    Some(Compiled { automaton, rule_of })
});

/// The highest-priority reason named by `text`, with how strongly it is named.
pub fn reason_from_text(text: &str) -> Option<(Reason, Strength)> {
    let compiled = COMPILED.as_ref()?;
    let mut best: Option<(u16, Reason, Strength)> = None;
    for found in compiled.automaton.find_overlapping_iter(text) {
        let Some(&rule) = compiled.rule_of.get(found.pattern().as_usize()) else {
            continue;
        };
        if !phrase_is_whole(text, found.start(), found.end()) {
            continue;
        }
        if best.is_none_or(|b| rule.0 < b.0) {
            best = Some(rule);
            if rule.0 == 0 {
                break;
            }
        }
    }
    best.map(|(_, reason, strength)| (reason, strength))
}

/// The reason `text` names with a specific phrase.
pub fn specific_reason(text: &str) -> Option<Reason> {
    reason_from_text(text)
        .filter(|(_, s)| *s == Strength::Specific)
        .map(|(r, _)| r)
}

/// The reason `text` names with any phrase, specific or generic.
pub fn any_reason(text: &str) -> Option<Reason> {
    reason_from_text(text).map(|(r, _)| r)
}

/// Short phrases (`spf`, `uce`, `dns`) must not match inside longer words
/// (`"responce"`, `"dnsbl"` is its own phrase): a phrase that starts or ends
/// with a letter needs a non-letter beside it.
fn phrase_is_whole(text: &str, start: usize, end: usize) -> bool {
    if end - start > 5 {
        return true;
    }
    let bytes = text.as_bytes();
    let before = start
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(|b| b.is_ascii_alphabetic());
    let after = bytes.get(end).is_some_and(|b| b.is_ascii_alphabetic());
    !(before || after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automaton_builds() {
        assert!(COMPILED.is_some());
    }

    #[test]
    fn specific_text_beats_generic() {
        assert_eq!(
            any_reason("552 5.2.2 Mailbox full, user unknown"),
            Some(Reason::MailboxFull)
        );
        assert_eq!(
            any_reason(
                "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
            ),
            Some(Reason::UserUnknown)
        );
        assert_eq!(
            any_reason(
                "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"
            ),
            Some(Reason::Blocked)
        );
        assert_eq!(any_reason("250 OK"), None);
    }

    #[test]
    fn short_phrases_need_word_boundaries() {
        assert_eq!(any_reason("the responce was late"), None);
        assert_eq!(any_reason("SPF check failed"), Some(Reason::AuthFailure));
    }
}
