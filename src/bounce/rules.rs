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

/// `(reason, phrases)` in priority order: the first matching rule wins.
pub(crate) static RULES: &[(Reason, &[&str])] = &[
    (
        Reason::Suppressed,
        &[
            "on the suppression list",
            "on the account-level suppression list",
            "address is on the suppression",
            "suppressed by the sender",
            "is on a suppression list",
            "previously bounced",
        ],
    ),
    (
        Reason::VirusDetected,
        &[
            "virus detected",
            "contains a virus",
            "virus found",
            "infected with",
            "message contains malware",
            "malware detected",
            "a virus was found",
            "virus infected",
        ],
    ),
    (
        Reason::MailboxFull,
        &[
            "mailbox full",
            "mailbox is full",
            "mailbox is over",
            "mail box full",
            "mailbox has exceeded",
            "mailbox size limit exceeded",
            "mailbox over quota",
            "mailbox exceeds allowed size",
            "mailfolder is full",
            "over quota",
            "overquota",
            "over the quota",
            "quota exceeded",
            "exceeded quota",
            "quota violation",
            "exceeds quota",
            "exceed quota",
            "exceeded storage allocation",
            "exceeded its storage",
            "user is over quota",
            "user has exceeded",
            "out of storage",
            "not enough storage space",
            "insufficient storage space",
            "recipient's mailbox is full",
            "mailbox is currently full",
            "maildir over quota",
            "maildir delivery failed: error writing message: disk quota exceeded",
            "disk quota exceeded",
            "is over its size limit",
            "inbox is full",
            "account is full",
            "mailbox full",
            "storage quota",
            "would be over the allowed quota",
            "too much mail data",
            "user's mail quota",
            "size of the mailbox",
            "the user's space has been used up",
            "mailbox is out of space",
        ],
    ),
    (
        Reason::ExceedLimit,
        &[
            "message length exceeds administrative limit",
            "exceeds the recipient's limit",
        ],
    ),
    (
        Reason::MessageTooLarge,
        &[
            "message too large",
            "message is too large",
            "message too big",
            "message is too big",
            "message size exceeds",
            "message size limit",
            "exceeds size limit",
            "exceeds the maximum size",
            "exceeded the maximum message size",
            "size exceeds the maximum",
            "message exceeds maximum",
            "maximum message size exceeded",
            "message file too big",
            "mail size limit exceeded",
            "size limit exceeded",
            "too long for this system",
            "taille limite du message atteinte",
            "message is larger than",
            "size of the message exceeds",
            "line too long",
        ],
    ),
    (
        Reason::HasMoved,
        &[
            "address has moved",
            "mailbox has moved",
            "has been moved",
            "user has moved",
            "no longer with",
            "has changed his e-mail",
            "recipient has changed",
            "address changed",
            "new address is",
        ],
    ),
    (
        Reason::NotAccept,
        &[
            "does not accept mail",
            "does not accept e-mail",
            "accepts no mail",
            "null mx",
            "no mx record",
            "has no mx",
            "not accept any mail",
            "domain does not receive",
            "mail for this domain is not accepted",
            "we do not accept mail",
            "domain does not accept",
        ],
    ),
    (
        Reason::MailboxDisabled,
        &[
            "account disabled",
            "account has been disabled",
            "account is disabled",
            "account has been suspended",
            "account is suspended",
            "account suspended",
            "account has been locked",
            "account is locked",
            "mailbox disabled",
            "mailbox is disabled",
            "mailbox is inactive",
            "mailbox has been disabled",
            "mailbox unavailable due to inactivity",
            "mailbox currently suspended",
            "mailbox has been suspended",
            "mailbox is frozen",
            "account inactive",
            "account is inactive",
            "inactive account",
            "inactive user",
            "is inactive",
            "not an active",
            "is not active",
            "user suspended",
            "recipient suspended",
            "recipient is suspended",
            "email account that you tried to reach is disabled",
            "account that you tried to reach is disabled",
            "account has expired",
            "has been deactivated",
            "is deactivated",
            "account expired",
            "this account has been blocked",
            "mailbox is blocked",
            "user account has expired",
            "disabled recipient",
            "recipient address is disabled",
            "user not active",
            "temporarily disabled",
            "has been frozen",
            "extended inactivity",
            "mailbox is not available",
        ],
    ),
    (
        Reason::HostUnknown,
        &[
            "host unknown",
            "unknown host",
            "host not found",
            "hostname not found",
            "no such domain",
            "domain not found",
            "domain does not exist",
            "domain name not found",
            "domain could not be found",
            "name or service not known",
            "unrouteable address",
            "unroutable address",
            "unrouteable domain",
            "host or domain name not found",
            "recipient domain must exist",
            "domain must exist",
            "unknown domain",
            "no such host",
            "invalid domain",
            "domain is not registered",
            "couldn't find any host named",
            "all relevant mx records point to non-existent hosts",
            "mail domain has no valid",
            "the domain name in the e-mail address is incorrect",
            "dns error: domain name not found",
            "dns type 'mx' lookup of",
            "nxdomain",
            "no mx or a record",
            "no valid mx",
            "address domain not found",
            "unknown mail domain",
            "domain isn't in my list of allowed rcpthosts",
            "not in my list of allowed rcpthosts",
            "the recipient domain doesn't exist",
            "recipient domain not found",
        ],
    ),
    (
        Reason::UserUnknown,
        &[
            "user unknown",
            "unknown user",
            "no such user",
            "user not found",
            "no such mailbox",
            "mailbox not found",
            "mailbox unavailable",
            "mailbox does not exist",
            "mailbox doesn't exist",
            "no mailbox here",
            "no mailbox by that name",
            "invalid mailbox",
            "invalid recipient",
            "unknown recipient",
            "recipient unknown",
            "recipient not found",
            "recipient address rejected: user unknown",
            "recipient address rejected: access denied",
            "recipient does not exist",
            "recipient doesn't exist",
            "address does not exist",
            "address doesn't exist",
            "address not present in directory",
            "does not exist here",
            "doesn't have an account",
            "does not have an account",
            "email account that you tried to reach does not exist",
            "account that you tried to reach does not exist",
            "user doesn't exist",
            "user does not exist",
            "user account not found",
            "no such recipient",
            "no such account",
            "not a valid mailbox",
            "not a valid user",
            "unknown local part",
            "unknown address",
            "address unknown",
            "bad destination mailbox",
            "invalid address",
            "account does not exist",
            "account doesn't exist",
            "user not known",
            "user is unknown",
            "recipient is not known",
            "not our customer",
            "no such person",
            "no such local user",
            "unknown or illegal alias",
            "recipient no longer on server",
            "this user doesn't have a",
            "mailbox unknown",
            "sorry, no mailbox here by that name",
            "is not a known user",
            "no account by that name",
            "user invalid",
            "invalid user",
            "not listed in domino directory",
            "not listed in public name & address book",
            "no such address",
            "address rejected",
            "addressee unknown",
            "unknown account",
            "not a valid recipient",
            "couldn't be found",
            "could not be found",
            "wasn't found at",
            "was not found in",
            "mailbox name not allowed",
            "destination address does not exist",
            "unable to find",
            "the email address you entered couldn't be found",
            "delivery to the following recipient failed permanently",
            "requested action not taken: mailbox unavailable",
            "undeliverable address",
            "no valid recipients",
            "recipient rejected",
            "rcpt to: unknown",
            "address lookup failed",
            "user does not have a mailbox",
            "is not a valid",
            "non-existent",
            "nonexistent",
            "unknown email address",
            "does not exist",
            "alias not found",
            "no mailbox",
        ],
    ),
    (
        Reason::RequirePtr,
        &[
            "reverse dns",
            "reverse lookup",
            "ptr record",
            "no ptr",
            "rdns",
            "reverse hostname",
            "cannot find your hostname",
            "cannot resolve your address",
            "ip name lookup failed",
            "client host rejected: cannot find your hostname",
            "unresolvable address",
            "your ip has no",
            "no reverse",
            "reverse address",
            "cannot find your reverse hostname",
            "hostname does not resolve",
            "does not resolve to",
            "please set up a ptr",
            "ptr-lookup",
        ],
    ),
    (
        Reason::AuthFailure,
        &[
            "spf",
            "dkim",
            "dmarc",
            "sender policy framework",
            "is not allowed to send from",
            "not authorized to send",
            "not permitted to send",
            "authentication failed",
            "unauthenticated email",
            "failed authentication",
            "is not designated as a permitted sender",
            "does not designate",
            "domain owner has not authorized",
            "5.7.26",
            "5.7.23",
        ],
    ),
    (
        Reason::NoRelaying,
        &[
            "relay access denied",
            "relaying denied",
            "relay denied",
            "relaying not permitted",
            "relaying not allowed",
            "not permitted to relay",
            "unable to relay",
            "relay not permitted",
            "we do not relay",
            "relay not allowed",
            "no relaying",
            "relaying mail to",
            "cannot relay",
            "not a gateway",
            "relaying prohibited",
        ],
    ),
    (
        Reason::BadReputation,
        &[
            "reputation",
            "sender score",
            "temporarily deferred due to user complaints",
            "has been temporarily rate limited due to ip reputation",
        ],
    ),
    (
        Reason::Speeding,
        &[
            "please try again slower",
            "receiving mail at a rate that",
            "sending rate",
            "too many messages in this connection",
            "rate exceeded",
            "exceeded the rate limit",
        ],
    ),
    (
        Reason::RateLimited,
        &[
            "too many connections",
            "too many concurrent",
            "connection limit",
            "too many smtp sessions",
            "too many sessions",
            "rate limit",
            "ratelimit",
            "rate-limit",
            "greylist",
            "graylist",
            "grey-list",
            "gray-list",
            "try again later",
            "temporarily deferred",
            "temporarily rejected",
            "too many recipients",
            "too much mail",
            "throttl",
            "mail from this ip is temporarily",
            "veuillez essayer plus tard",
            "service refuse. veuillez essayer",
            "too many errors",
            "resources temporarily unavailable",
        ],
    ),
    (
        Reason::SpamDetected,
        &[
            "spam",
            "junk mail",
            "unsolicited",
            "bulk mail",
            "bulk e-mail",
            "message looks suspicious",
            "suspicious content",
            "content rejected",
            "rejected as junk",
            "classified as junk",
            "detected as junk",
            "uce",
            "message rejected due to content",
            "our system has detected that this message is",
            "likely unsolicited",
            "scored too high",
            "score too high",
            "high probability of being",
            "looks like spam",
            "phishing",
        ],
    ),
    (
        Reason::Blocked,
        &[
            "blacklist",
            "black list",
            "blocklist",
            "block list",
            "blacklisted",
            "listed at",
            "listed in",
            "listed on",
            "spamhaus",
            "spamcop",
            "sorbs",
            "barracudacentral",
            "dnsbl",
            " rbl",
            "rbl ",
            "blocked",
            "banned",
            "has been denied",
            "access denied",
            "client host rejected",
            "connection refused",
            "refused to talk to me",
            "not allowed to connect",
            "your network is",
            "dialup",
            "dial-up",
            "dynamic ip",
            "dynamic address",
            "residential",
            "poor reputation",
            "ip address has been",
            "your ip",
            "your host",
            "client ip",
            "service unavailable; client host",
            "we do not accept mail from",
            "you are not allowed",
            "is not allowed to connect",
            "connection rejected",
            "refused by policy",
            "host is blocked",
            "rejecting connections",
        ],
    ),
    (
        Reason::Rejected,
        &[
            "sender address rejected",
            "sender rejected",
            "sender was rejected",
            "sender is rejected",
            "sender denied",
            "sender blocked",
            "sender not allowed",
            "sender unknown",
            "sender verify failed",
            "sender verification",
            "domain of sender address",
            "sender domain must exist",
            "unknown sender",
            "invalid sender",
            "bad sender",
            "sender address not allowed",
            "address of sender",
            "mail from rejected",
            "from address rejected",
            "envelope sender",
            "return path",
            "your address has been",
            "sender's address",
            "sender address has null mx",
            "domain of your sender",
            "not accept mail from",
            "rejected by recipient",
            "does not accept mail from",
        ],
    ),
    (
        Reason::FailedStarttls,
        &[
            "starttls",
            "tls required",
            "must issue a starttls",
            "requires tls",
            "tls is required",
            "encryption required",
            "secure connection required",
            "tls negotiation failed",
        ],
    ),
    (
        Reason::NotCompliantRfc,
        &[
            "rfc 5322",
            "rfc5322",
            "rfc 2822",
            "rfc2822",
            "rfc 822",
            "rfc822 compliant",
            "not rfc compliant",
            "not compliant with rfc",
            "multiple addresses in from",
            "duplicate header",
            "bare linefeed",
            "bare lf",
            "not in accordance with rfc",
        ],
    ),
    (
        Reason::ContentError,
        &[
            "improper use of 8-bit data",
            "8-bit data",
            "message header",
            "header error",
            "invalid header",
            "malformed",
            "mime",
            "attachment",
            "content type",
            "message content",
            "content not accepted",
            "encoding",
            "illegal",
            "headers are invalid",
            "header too long",
        ],
    ),
    (
        Reason::Filtered,
        &[
            "filtered",
            "filter",
            "rejected by the recipient",
            "due to recipient's preferences",
            "not accepting mail",
            "recipient does not accept",
            "message refused",
            "user refuses",
            "refused by the recipient",
            "content filter",
            "rule imposed",
            "rejected by user",
            "receiving mail from",
            "delivery not authorized",
            "message rejected",
        ],
    ),
    (
        Reason::PolicyViolation,
        &[
            "policy",
            "prohibited",
            "not allowed",
            "not permitted",
            "administratively denied",
            "violat",
            "domain is not allowed",
            "restricted",
            "denied by",
            "refused",
        ],
    ),
    (
        Reason::SecurityError,
        &[
            "authentication required",
            "authentication is required",
            "security",
            "insecure",
            "not authorized",
            "unauthorized",
            "permission denied",
        ],
    ),
    (
        Reason::Expired,
        &[
            "retry time not reached",
            "retry timeout exceeded",
            "delivery time expired",
            "delivery expired",
            "message expired",
            "has expired",
            "timeout exceeded",
            "could not be delivered within",
            "was not delivered within",
            "have been unable to deliver",
            "has not been delivered",
            "queue time expired",
            "message timed out",
            "delivery timed out",
            "gave up",
            "giving up",
            "too long in queue",
            "unable to deliver for",
            "days and has",
            "retry period",
            "could not be delivered for",
            "was not able to deliver",
            "time limit",
            "expired",
        ],
    ),
    (
        Reason::SystemFull,
        &[
            "insufficient system storage",
            "insufficient disk",
            "system storage",
            "out of disk",
            "disk full",
            "file system full",
            "mail system full",
            "no space left",
            "volume full",
        ],
    ),
    (
        Reason::NetworkError,
        &[
            "connection timed out",
            "connection timeout",
            "timed out",
            "no route to host",
            "network is unreachable",
            "name server",
            "dns",
            "host is unreachable",
            "lost connection",
            "connection reset",
            "connection dropped",
            "could not connect",
            "unable to connect",
            "cannot connect",
            "failed to connect",
            "no answer",
            "not reachable",
            "unreachable",
            "temporary lookup failure",
            "malformed or unexpected name server reply",
        ],
    ),
    (
        Reason::SystemError,
        &[
            "mail loop",
            "loop detected",
            "loops back to myself",
            "routing loop",
            "too many hops",
            "hop count exceeded",
            "system error",
            "internal error",
            "server error",
            "local error",
            "temporary failure",
            "temporary error",
            "temporarily unavailable",
            "configuration error",
            "misconfigured",
            "system config error",
            "server configuration",
            "unable to deliver",
            "service not available",
            "service unavailable",
            "i/o error",
            "interrupted",
            "aborted",
            "can't create",
            "cannot create",
            "not responding",
        ],
    ),
    (
        Reason::SyntaxError,
        &[
            "syntax error",
            "command unrecognized",
            "command not recognized",
            "unrecognized command",
            "bad sequence of commands",
            "invalid command",
            "line too long in",
        ],
    ),
    (
        Reason::MailerError,
        &[
            "unknown mailer error",
            "mailer error",
            "command failed",
            "command died",
            "pipe to",
            "procmail",
            "program failed",
            "exit code",
            "exited with",
            "child process",
            "local delivery failed",
        ],
    ),
];

struct Compiled {
    automaton: AhoCorasick,
    /// Rule index (priority) of each pattern, indexed by pattern id.
    rule_of: Vec<u16>,
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
    let mut patterns = Vec::new();
    let mut rule_of = Vec::new();
    for (index, (_, phrases)) in RULES.iter().enumerate() {
        for phrase in phrases.iter() {
            patterns.push(*phrase);
            rule_of.push(u16::try_from(index).unwrap_or(u16::MAX));
        }
    }
    let automaton = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&patterns)
        .ok()?;
    Some(Compiled { automaton, rule_of })
});

/// The highest-priority reason named by `text`, if any phrase matches.
pub fn reason_from_text(text: &str) -> Option<Reason> {
    let compiled = COMPILED.as_ref()?;
    let mut best: Option<u16> = None;
    for found in compiled.automaton.find_overlapping_iter(text) {
        let Some(&rule) = compiled.rule_of.get(found.pattern().as_usize()) else {
            continue;
        };
        if !phrase_is_whole(text, found.start(), found.end()) {
            continue;
        }
        if best.is_none_or(|b| rule < b) {
            best = Some(rule);
            if rule == 0 {
                break;
            }
        }
    }
    best.and_then(|rule| RULES.get(usize::from(rule)).map(|(reason, _)| *reason))
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
            reason_from_text("552 5.2.2 Mailbox full, user unknown"),
            Some(Reason::MailboxFull)
        );
        assert_eq!(
            reason_from_text("550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table"),
            Some(Reason::UserUnknown)
        );
        assert_eq!(
            reason_from_text("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
            Some(Reason::Blocked)
        );
        assert_eq!(reason_from_text("250 OK"), None);
    }

    #[test]
    fn short_phrases_need_word_boundaries() {
        assert_eq!(reason_from_text("the responce was late"), None);
        assert_eq!(reason_from_text("SPF check failed"), Some(Reason::AuthFailure));
    }
}

/// Every `(reason, phrase)` that matches `text`, in table order (for tuning).
pub fn matches(text: &str) -> Vec<(Reason, &'static str)> {
    let mut out = Vec::new();
    for (reason, phrases) in RULES {
        for phrase in phrases.iter() {
            if let Some(pos) = super::text::find_ci(text, phrase) {
                if phrase_is_whole(text, pos, pos + phrase.len()) {
                    out.push((*reason, *phrase));
                }
            }
        }
    }
    out
}
