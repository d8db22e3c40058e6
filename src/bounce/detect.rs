//! Header evidence that a message is a delivery notice, before any body is read.
//!
//! These signals gate the prose scanner: a notice without a standard DSN part
//! is only read for recipients when its sender, subject or headers say it is
//! one, so ordinary mail that talks about "failed delivery" stays `not_bounce`.

use std::sync::LazyLock;

use mail_parser::{Message, PartType};

use super::headers::{has_header, raw_header};
use super::text::{self, PhraseSet};

/// [`DAEMON_LOCAL_PARTS`] and [`DAEMON_SENDERS`] in one automaton: the
/// pre-filter runs this on every message of a mailbox.
static DAEMON_FINDER: LazyLock<PhraseSet> = LazyLock::new(|| {
    let all: Vec<&str> = DAEMON_LOCAL_PARTS
        .iter()
        .chain(DAEMON_SENDERS)
        .copied()
        .collect();
    PhraseSet::new(&all)
});

/// [`NDR_SUBJECTS`], compiled.
static NDR_SUBJECT_FINDER: LazyLock<PhraseSet> = LazyLock::new(|| PhraseSet::new(NDR_SUBJECTS));

/// Subject words of delay warnings (lower-case).
const DELAY_SUBJECTS: &[&str] = &[
    "delay",
    "warning: could not send",
    "still undelivered",
    "not yet been delivered",
    "will retry",
    "delivery warning",
];

static DELAY_SUBJECT_FINDER: LazyLock<PhraseSet> = LazyLock::new(|| PhraseSet::new(DELAY_SUBJECTS));

/// Local parts of the mail systems that send NDRs (also never a failed recipient).
pub const DAEMON_LOCAL_PARTS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "maildaemon",
    "postmaster",
    "post_master",
];

/// Display-name words and address fragments of the systems that send NDRs,
/// beside [`DAEMON_LOCAL_PARTS`].
const DAEMON_SENDERS: &[&str] = &[
    "mail delivery",
    "mail administrator",
    "mail delivery subsystem",
    "mail delivery system",
    "mmdf mail system",
    "mail system",
    "e-mail delivery",
    "delivery status notification",
    "mdaemon",
    "smtp gateway",
    "mail transport",
    "post office",
    "nobody@",
    "postoffice",
    "mailer@",
    "mailagent",
    "mail router",
    "sysadmin",
    "internet mail delivery",
    "notes mail router",
    "ndr@",
];

/// Subject phrases of delivery notices (lower-case), several languages.
const NDR_SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "delivery status notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "delivery incomplete",
    "delivery problem",
    "delivery notification",
    "delivery report",
    "delivery error",
    "failure notice",
    "failed delivery",
    "returned mail",
    "returning message to sender",
    "mail delivery failed",
    "mail delivery failure",
    "message delivery failure",
    "returned to sender",
    "could not be delivered",
    "couldn't be delivered",
    "not delivered",
    "non-delivery",
    "nondelivery",
    "non delivery",
    "nondeliverable",
    "non-deliverable",
    "mail system error",
    "could not send message",
    "delayed mail",
    "delivery delayed",
    "delayed delivery",
    "message delayed",
    "warning: message",
    "mail failure",
    "failed mail",
    "mail could not",
    "message could not",
    "error sending message",
    "rejected:",
    "message rejected",
    "bounced mail",
    "bounce notification",
    "bounced",
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "(delivery failed)",
    "mail delivery warning",
    "automatically rejected mail",
    "non distribuable",
    "no se puede entregar",
    "no entregado",
    "non recapitabile",
    "onbestelbaar",
    "niet bezorgd",
    "olevererbart",
    "kan ikke leveres",
    "não entregue",
    "nie dostarczono",
    "недоставл",
    "не доставлено",
    "配信エラー",
    "配信不能",
    "返送",
    "送信エラー",
    "未送達",
    "退信",
    "系统退信",
    "undelivered mail returned",
    "permanent error",
    "temporary error",
    "delivery to the following",
    "notice of delivery",
    "mail not delivered",
    "message not delivered",
    "message you sent",
    "email address not found",
    "address not found",
    "user unknown",
    "message blocked",
    "message refused",
    "system notification",
    "メールエラー",
    "エラー通知",
    "mail error",
    "error notification",
];

/// Prefixes that make a subject a person's reply or forward of a notice.
/// Forwards (`Fwd:`) are not listed: a forwarded NDR still reports the failure.
const REPLY_PREFIXES: &[&str] = &["re:", "aw:", "sv:", "vs:", "antw:", "rif:"];

/// What the headers say about the message.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    /// From is a mailer daemon, postmaster or a mail system.
    pub daemon_sender: bool,
    /// The subject reads like a delivery notice.
    pub ndr_subject: bool,
    /// The subject says the delivery is delayed, not failed.
    pub delay_subject: bool,
    /// `Return-Path: <>` (the null sender of RFC 5321 §4.5.5).
    pub null_sender: bool,
    /// Addresses of `X-Failed-Recipients` (Exim and others).
    pub failed_recipients: Vec<String>,
    /// A vendor header marks the message as an NDR.
    pub ndr_header: bool,
    /// The message returns a copy of another message (`message/rfc822` part).
    pub returns_original: bool,
}

impl Evidence {
    /// Enough to read the prose for recipients.
    pub fn is_notice(&self) -> bool {
        self.daemon_sender
            || self.ndr_header
            || !self.failed_recipients.is_empty()
            || self.ndr_subject
    }

    /// Strong enough to call the message a bounce even when no recipient can
    /// be read (and to outrank auto-reply markers, which Exim and Exchange also
    /// put on NDRs).
    pub fn is_strong(&self) -> bool {
        self.ndr_header
            || !self.failed_recipients.is_empty()
            || (self.daemon_sender && (self.ndr_subject || self.null_sender))
            || (self.ndr_subject && self.returns_original)
    }
}

/// Collects the header evidence of `msg`.
pub fn evidence(msg: &Message<'_>, subject: Option<&str>) -> Evidence {
    let from_text = from_text(msg);
    // A From that names no one (`From: <>`) or a Return-Path of the mailer
    // daemon is the mail system speaking, too.
    let return_path = raw_header(msg, "Return-Path")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let daemon_sender = DAEMON_FINDER.is_match(&from_text)
        || from_text.trim().trim_matches(['<', '>', '"']).is_empty()
            && raw_header(msg, "From").is_some()
        || return_path.contains("mailer-daemon@");
    let subject_lower = subject.map(str::to_lowercase).unwrap_or_default();
    let subject_trimmed = subject_lower.trim_start();
    let is_reply = REPLY_PREFIXES
        .iter()
        .any(|p| subject_trimmed.starts_with(p));
    // The phrases are lower-case and matched against the Unicode-lowercased
    // subject (the automaton's own case folding is ASCII only).
    let ndr_subject = !is_reply && NDR_SUBJECT_FINDER.is_match(&subject_lower);
    let delay_subject = !is_reply && DELAY_SUBJECT_FINDER.is_match(&subject_lower);
    let null_sender = raw_header(msg, "Return-Path").is_some_and(|v| {
        let v = v.trim();
        v == "<>" || v.is_empty() || v.eq_ignore_ascii_case("<MAILER-DAEMON>")
    });
    let failed_recipients = raw_header(msg, "X-Failed-Recipients")
        .map(text::addresses)
        .unwrap_or_default();
    let ndr_header = has_header(msg, "X-MS-Exchange-Message-Is-Ndr")
        || raw_header(msg, "X-Mailer-Daemon-Error").is_some()
        || raw_header(msg, "X-Postfix-Queue-ID").is_some() && daemon_sender;
    let returns_original = msg
        .parts
        .iter()
        .any(|p| matches!(p.body, PartType::Message(_)));
    Evidence {
        returns_original,
        daemon_sender,
        ndr_subject,
        delay_subject,
        null_sender,
        failed_recipients,
        ndr_header,
    }
}

/// Notification senders whose notices carry no NDR wording in the headers:
/// Amazon SES events delivered through SNS, and feedback-loop complaint
/// notices (Microsoft JMRP: "complaint about message from ...").
pub fn is_notification_sender(msg: &Message<'_>, subject: Option<&str>) -> bool {
    let from = from_text(msg);
    from.contains("amazonaws.com")
        || from.contains("amazonses.com")
        || subject.is_some_and(|s| {
            let lower = s.to_lowercase();
            super::arf::COMPLAINT_SUBJECTS
                .iter()
                .any(|p| lower.contains(p))
        })
}

/// The From header's display name and address, lower-cased, for matching.
fn from_text(msg: &Message<'_>) -> String {
    let mut out = String::new();
    if let Some(from) = msg.from() {
        for addr in from.iter() {
            if let Some(name) = addr.name() {
                out.push_str(&name.to_lowercase());
                out.push(' ');
            }
            if let Some(a) = addr.address() {
                out.push_str(&a.to_lowercase());
                out.push(' ');
            }
        }
    }
    if out.is_empty()
        && let Some(raw) = raw_header(msg, "From")
    {
        out = raw.to_lowercase();
    }
    out
}

/// Prose that says a notice is a delay warning, not a final failure.
pub fn text_says_delayed(text: &str) -> bool {
    const DELAY: &[&str] = &[
        "this is a warning message only",
        "you do not need to resend",
        "will continue to try",
        "will keep trying",
        "will retry",
        "still trying",
        "has not yet been delivered",
        "have not yet been delivered",
        "not been delivered yet",
        "delivery is delayed",
        "delivery has been delayed",
        "delivery to the following recipients has been delayed",
        "message delayed",
        "temporarily unable to deliver",
        "is delayed",
        "no further action is required",
        "warning: message still undelivered",
        "still undelivered after",
        "delivery attempts will continue",
        "will continue to try to deliver",
        "has been postponed",
        "advisory-only",
        "advisory only",
    ];
    let lower = text.to_lowercase();
    DELAY.iter().any(|d| lower.contains(d))
}
