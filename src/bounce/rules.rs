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
/// These phrases name one cause unambiguously.
pub(crate) static SPECIFIC: &[(Reason, &[&str])] = &[
    (
        Reason::Suppressed,
        &[
            "on the suppression list",
            "on the account-level suppression list",
            "address is on the suppression",
            "suppressed by the sender",
            "is on a suppression list",
            "previously bounced",
            "recipient address is on a suppression list",
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
            "contained a virus",
        ],
    ),
    (
        // Content judged as spam: these outrank the sender-side reasons below
        // (a spam verdict often quotes SPF or PTR results as evidence).
        Reason::SpamDetected,
        &[
            "likely unsolicited",
            "antispam checks",
            "anti-spam checks",
            "blocked by spamassassin",
            "spamreject",
            "mass mailer",
            "content reject",
            "dspam",
            "mcspamsignature",
            "spamming not allowed",
            "bulk email",
            "rejected as spam",
            "identified as spam",
            "considered spam",
            "considered as spam",
            "detected as spam",
            "classified as spam",
            "scored as spam",
            "message is spam",
            "spam detected",
            "spam message rejected",
        ],
    ),
    (
        Reason::PolicyViolation,
        &["requires confirmation", "sender must confirm"],
    ),
    (
        // Quota wording outranks the local-delivery framing around it
        // ("Command output: Mail quota exceeded").
        Reason::MailboxFull,
        &[
            "quota exceeded",
            "over quota",
            "mailbox full",
            "mailbox is full",
            "disk quota",
        ],
    ),
    (
        Reason::MailerError,
        &[
            "command output:",
            "procmail:",
            "unknown mailer error",
            "mailer error",
            "command died with status",
            "pipe to |",
            "x-unix;",
            "local delivery program",
            "delivery program failed",
        ],
    ),
    (
        Reason::Rejected,
        &[
            "sender address rejected",
            "sender address is rejected",
            "sender rejected",
            "sender was rejected",
            "sender is rejected",
            "sender denied",
            "sender not allowed",
            "sender verify failed",
            "sender verification failed",
            "sender domain must exist",
            "domain of sender address",
            "domain of your sender",
            "unknown sender",
            "invalid sender",
            "bad sender",
            "sender address not allowed",
            "address of sender",
            "mail from rejected",
            "from address rejected",
            "envelope sender",
            "sender address has null mx",
            "does not accept mail from",
            "not accept mail from you",
            "your envelope sender",
            "sender is not allowed",
            "rejected sender",
            "email address is not verified",
            "'send mail as'",
            "send mail as feature",
            "identities failed the check",
            "sender unknown",
            "sender's domain",
            "permission to post",
            "don't have permission to post",
            "do not have permission to post",
            "権限がない",
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
            "cannot relay",
            "relaying prohibited",
            "not configured to relay",
            "as a relay",
            "relaying mail to",
            "not a gateway",
        ],
    ),
    (
        Reason::SecurityError,
        &[
            "delivery not authorized",
            "not authorized to receive",
            "authentication required",
            "authentication is required",
            "must be authenticated",
        ],
    ),
    (
        Reason::PolicyViolation,
        &[
            "its content presents a potential",
            "content presents a potential security",
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
            "unresolvable address",
            "no reverse",
            "reverse address",
            "hostname does not resolve",
            "please set up a ptr",
            "ptr-lookup",
            "doesn't have a ptr",
            "does not have a ptr",
            "not have reverse",
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
        Reason::AuthFailure,
        &[
            "spf",
            "dkim",
            "dmarc",
            "sender policy framework",
            "is not allowed to send from",
            "not authorized to send",
            "not permitted to send",
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
            "not enough storage space",
            "insufficient storage space",
            "mailbox is currently full",
            "disk quota exceeded",
            "is over its size limit",
            "inbox is full",
            "account is full",
            "storage quota",
            "would be over the allowed quota",
            "user's mail quota",
            "the user's space has been used up",
            "mailbox is out of space",
            "out of storage",
            "too much mail data",
            "too many messages on the server",
            "zuviele mails",
            "disk quota",
            "exceeding their quota",
            "mail quota exceeded",
            "space not enough",
            "would exceed mailbox quota",
            "recipient's mailbox exceeded",
            "number of messages in recipient's mailbox",
        ],
    ),
    (
        Reason::ExceedLimit,
        &[
            "message length exceeds administrative limit",
            "exceeds the recipient's limit",
            "exceeds recipient's size limit",
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
            "line limit exceeded",
            "class=size",
            "max message size exceeded",
            "maximum incoming message size",
            "message size exceeded",
        ],
    ),
    (
        Reason::HasMoved,
        &[
            "address has moved",
            "mailbox has moved",
            "user has moved",
            "has been moved",
            "no longer with",
            "has changed his e-mail",
            "recipient has changed",
            "address changed",
            "new address is",
            "moved permanently",
            "not our customer",
            "no longer on server",
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
            "indicated no smtp service",
            "no mx found",
            "no smtp service",
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
            "deactivated mailbox",
            "has not been collected",
            "temporary locked",
            "account is blocked",
            "compte du destinataire est bloque",
            "temporarily locked",
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
            "unknown domain",
            "no such host",
            "invalid domain",
            "domain is not registered",
            "couldn't find any host named",
            "couldn't find any host by that name",
            "all relevant mx records point to non-existent hosts",
            "mail domain has no valid",
            "the domain name in the e-mail address is incorrect",
            "domain name not found",
            "nxdomain",
            "no mx or a record",
            "no valid mx",
            "address domain not found",
            "unknown mail domain",
            "not in my list of allowed rcpthosts",
            "recipient domain doesn't exist",
            "recipient domain not found",
            "domain isn't in my list",
            "domain is not reachable",
            "dns lookup failure",
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
            "account does not exist",
            "account doesn't exist",
            "user not known",
            "user is unknown",
            "recipient is not known",
            "no such person",
            "no such local user",
            "unknown or illegal alias",
            "this user doesn't have a",
            "mailbox unknown",
            "is not a known user",
            "no account by that name",
            "user invalid",
            "invalid user",
            "not listed in domino directory",
            "not listed in public name & address book",
            "no such address",
            "addressee unknown",
            "unknown account",
            "not a valid recipient",
            "mailbox name not allowed",
            "destination address does not exist",
            "email address you entered couldn't be found",
            "email address couldn't be found",
            "wasn't found at",
            "undeliverable address",
            "address lookup failed",
            "user does not have a mailbox",
            "unknown email address",
            "alias not found",
            "recipientnotfound",
            "recipnotfound",
            "invalid final delivery userid",
            "mail-box not found",
            "mailbox not found",
            "no mailbox found",
            "no mail box available",
            "bad_recipient",
            "badrcptto",
            "no longer valid",
            "not a valid user",
            "does not have a final email delivery point",
            "no matches to nameserver query",
            "n'existe pas",
            "did not exactly match",
            "is not a registered",
            "invalid address",
        ],
    ),
    (
        Reason::FailedStarttls,
        &[
            "starttls",
            "tls required",
            "requires tls",
            "tls is required",
            "encryption required",
            "secure connection required",
            "tls negotiation failed",
            "does not support tls",
            "support starttls",
        ],
    ),
    (
        Reason::BadReputation,
        &["reputation", "sender score", "user complaints"],
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
        Reason::SpamDetected,
        &["blacklisted url", "uribl", "url in message", "surbl"],
    ),
    (
        Reason::Blocked,
        &[
            "blacklist",
            "black list",
            "blocklist",
            "block list",
            "listed at",
            "listed in",
            "listed on",
            "spamhaus",
            "spamcop",
            "sorbs",
            "barracudacentral",
            "dnsbl",
            "rbl",
            "client host rejected",
            "refused to talk to me",
            "not allowed to connect",
            "dialup",
            "dial-up",
            "dynamic ip",
            "dynamic address",
            "residential",
            "your ip",
            "your host",
            "client ip",
            "we do not accept mail from",
            "is not allowed to connect",
            "connection rejected",
            "host is blocked",
            "rejecting connections",
            "ip address has been",
            "ip blocked",
            "client host blocked",
            "blocked using",
            "adresse ip source bloquee",
            "blocked for spam",
            "too many unwanted messages",
            "invalid ip for sending",
            "service refused",
            "service refuse.",
            "blocked ip",
            "has been blocked",
            "is blocked",
            "temporarily blocked",
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
            "rejected as junk",
            "classified as junk",
            "detected as junk",
            "uce",
            "message rejected due to content",
            "content rejected",
            "ube",
            "likely unsolicited",
            "scored too high",
            "score too high",
            "high probability of being",
            "phishing",
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
            "temporarily deferred",
            "too many recipients",
            "throttl",
            "mail from this ip is temporarily",
            "too many errors",
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
            "could not be delivered within",
            "was not delivered within",
            "queue time expired",
            "message timed out",
            "delivery timed out",
            "too long in queue",
            "retry period",
            "has not been delivered",
            "have been unable to deliver",
            "unable to deliver for",
            "could not be delivered for",
            "have been failing for a long time",
            "was aborted after",
            "maximum delivery attempts",
            "this condition occurred after",
            "been failing for",
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
            "no route to host",
            "network is unreachable",
            "host is unreachable",
            "name server",
            "malformed or unexpected name server reply",
            "did not accept our requests to connect",
            "host name lookup failure",
            "network error",
            "temporary lookup failure",
            "lost connection",
            "connection reset",
            "connection dropped",
            "could not connect",
            "unable to connect",
            "cannot connect",
            "failed to connect",
            "connection refused",
        ],
    ),
    (Reason::OnHold, &["on hold"]),
    (
        Reason::SystemError,
        &[
            "mail loop",
            "loop detected",
            "loops back to myself",
            "routing loop",
            "too many hops",
            "hop count exceeded",
            "message looping",
            "system error",
            "internal error",
            "server error",
            "local error",
            "configuration error",
            "misconfigured",
            "system config error",
            "i/o error",
            "upstream error",
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
            "improper sequence",
            "sequence of commands",
            "invalid command",
        ],
    ),
];

/// Generic words, in priority order: weaker evidence than a specific phrase or
/// a specific status code, so they are consulted after both.
pub(crate) static GENERIC: &[(Reason, &[&str])] = &[
    (
        Reason::UserUnknown,
        &[
            "does not exist",
            "doesn't exist",
            "non-existent",
            "nonexistent",
            "couldn't be found",
            "could not be found",
            "was not found in",
            "no mailbox",
            "is not a valid",
            "no valid recipients",
            "recipient rejected",
            "recipient address rejected",
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
            "headers are invalid",
            "header too long",
            "line too long",
        ],
    ),
    (
        Reason::Filtered,
        &[
            "filtered",
            "filter",
            "due to recipient's preferences",
            "not accepting mail",
            "recipient does not accept",
            "message refused",
            "user refuses",
            "refused by the recipient",
            "rule imposed",
            "rejected by user",
            "receiving mail from",
        ],
    ),
    (
        Reason::Blocked,
        &[
            "blocked",
            "banned",
            "access denied",
            "has been denied",
            "denied access",
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
            "restricted",
            "denied by",
        ],
    ),
    (
        Reason::SecurityError,
        &[
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
            "gave up",
            "giving up",
            "expired",
            "time limit",
            "timeout exceeded",
        ],
    ),
    (
        Reason::NetworkError,
        &[
            "timed out",
            "dns",
            "unreachable",
            "not reachable",
            "no answer",
            "could not be reached",
        ],
    ),
    (
        Reason::SystemError,
        &[
            "temporary failure",
            "temporary error",
            "temporarily unavailable",
            "service not available",
            "service unavailable",
            "unable to deliver",
            "not responding",
            "interrupted",
            "aborted",
            "can't create",
            "cannot create",
        ],
    ),
    (
        Reason::RateLimited,
        &[
            "try again later",
            "temporarily rejected",
            "resources temporarily unavailable",
        ],
    ),
    (
        Reason::MailerError,
        &[
            "command failed",
            "program failed",
            "exit code",
            "exited with",
            "child process",
        ],
    ),
];

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
