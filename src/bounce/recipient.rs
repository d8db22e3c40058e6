//! Turning the evidence about one failed recipient into a [`Recipient`]:
//! status, reply code, reason, kind, category and recommended action.

use super::reason::{self, Reason};
use super::report::{Action, Recipient};
use super::stage::{self, Stage};
use super::{rules, text, typo};

/// Longest diagnostic kept in a report.
const MAX_DIAGNOSTIC_CHARS: usize = 1000;

/// What the NDR says about one recipient.
pub struct Evidence<'a> {
    /// As sent to.
    pub address: String,
    /// Final-Recipient when it differs.
    pub final_address: Option<String>,
    /// Failed or delayed.
    pub action: Action,
    /// The DSN `Status:` field.
    pub status: Option<&'a str>,
    /// The DSN `Diagnostic-Code:` field.
    pub diagnostic: Option<&'a str>,
    /// Its type: `x-unix` means a local delivery program answered (RFC 3464 §2.3.6).
    pub diagnostic_type: Option<&'a str>,
    /// The notice lines about this recipient.
    pub block: Option<&'a str>,
    /// The notice text before any recipient line.
    pub preamble: Option<&'a str>,
    /// The whole notice body, given only when the notice is about this one
    /// recipient: the last place to look for a code.
    pub whole: Option<&'a str>,
    /// The whole notice, for SMTP transcripts (`>>> DATA` / `<<< 550 ...`).
    pub transcript: Option<&'a str>,
    /// `Remote-MTA`.
    pub remote_mta: Option<String>,
    /// The recipient comes from DSN fields: its remote MTA is the `Remote-MTA`
    /// field or unknown, never a host named in the prose (which may belong to
    /// another recipient of the same transcript).
    pub from_dsn: bool,
    /// `Reporting-MTA`.
    pub reporting_mta: Option<String>,
    /// The reason when no evidence names one (instead of `undefined`).
    pub fallback_reason: Option<Reason>,
}

/// The action a DSN recipient without an `Action:` field most likely had.
pub fn action_from_status(status: Option<&str>, delayed_notice: bool) -> Option<Action> {
    match status.and_then(|s| s.trim().chars().next()) {
        Some('2') => None,
        Some('4') if delayed_notice => Some(Action::Delayed),
        _ if delayed_notice => Some(Action::Delayed),
        _ => Some(Action::Failed),
    }
}

/// Builds the report entry for one recipient.
pub fn build(ev: Evidence<'_>) -> Recipient {
    let block_diag = ev.block.map(diagnostic_lines);
    let diagnostic = ev
        .diagnostic
        .map(|d| text::unfold_reply(&text::squash(d, MAX_DIAGNOSTIC_CHARS)))
        .filter(|d| !d.is_empty())
        .or_else(|| block_diag.clone().filter(|d| !d.is_empty()));

    // taxonomy.md: the DSN's Status wins; else a code written in the text.
    // A DSN status of x.0.0 ("other or undefined", RFC 3463 §3.1) yields to a
    // specific code of the same class that the server wrote in its answer.
    let written = diagnostic
        .as_deref()
        .and_then(text::answer_status)
        .or_else(|| ev.block.and_then(text::answer_status));
    let written = written.or_else(|| ev.whole.and_then(text::answer_status));
    let status = match ev.status.and_then(text::enhanced_status) {
        Some(field) if field.ends_with(".0.0") => match written {
            Some(w) if w.get(..1) == field.get(..1) && !w.ends_with(".0.0") => Some(w),
            _ => Some(field),
        },
        Some(field) => Some(field),
        None => written,
    };
    let smtp_code = diagnostic
        .as_deref()
        .and_then(text::smtp_code)
        .or_else(|| ev.block.and_then(text::smtp_code))
        .or_else(|| ev.whole.and_then(text::smtp_code));

    // Strongest evidence first (taxonomy.md "Field rules"): a specific phrase
    // in the server's answer, a specific status code, a specific phrase in the
    // surrounding lines, then generic words, then a generic status code.
    // A relay's own summary in front of the quoted answer (Amazon SES) is
    // consulted only after everything the remote server said.
    let answer = diagnostic.as_deref().map(text::remote_answer);
    let specific_status = status.as_deref().filter(|s| !s.ends_with(".0"));
    // x.7.1 is the catch-all refusal ("delivery not authorized, message
    // refused", RFC 3463): a specific phrase around the answer says more.
    let catch_all = specific_status.is_some_and(|s| s.get(1..) == Some(".7.1"));
    let specific_status_first = specific_status.filter(|_| !catch_all);
    let local_program = ev.diagnostic_type == Some("x-unix");
    let reason = answer
        .and_then(rules::specific_reason)
        .or_else(|| local_program.then_some(Reason::MailerError))
        .or_else(|| specific_status_first.and_then(reason::from_status))
        .or_else(|| ev.block.and_then(rules::specific_reason))
        .or_else(|| specific_status.and_then(reason::from_status))
        .or_else(|| answer.and_then(rules::any_reason))
        .or_else(|| diagnostic.as_deref().and_then(rules::any_reason))
        .or_else(|| ev.block.and_then(rules::any_reason))
        .or_else(|| ev.preamble.and_then(rules::any_reason))
        .or_else(|| ev.whole.and_then(rules::any_reason))
        .or_else(|| status.as_deref().and_then(reason::from_status))
        .or_else(|| smtp_code.and_then(reason::from_reply_code))
        .or(ev.fallback_reason)
        .unwrap_or(Reason::Undefined);
    // The hint yields only to a server that classified the address itself (x.1.x).
    let address_status = status
        .as_deref()
        .is_some_and(|s| s.get(1..4) == Some(".1."));
    let reason = match address_status {
        true => reason,
        false => vendor_hint(&ev.address).unwrap_or(reason),
    };
    let stage = [diagnostic.as_deref(), ev.block]
        .into_iter()
        .flatten()
        .find_map(stage::from_reply_context)
        .or_else(|| {
            ev.transcript
                .and_then(|t| stage::from_transcript(t, &ev.address, ev.whole.is_some()))
        });
    let reason = adjust_for_context(reason, stage, ev.action, status.as_deref());
    let class = status
        .as_deref()
        .and_then(|s| s.chars().next())
        .or_else(|| {
            smtp_code.map(|c| {
                if c >= 500 {
                    '5'
                } else if c >= 400 {
                    '4'
                } else {
                    '2'
                }
            })
        })
        .and_then(|c| c.to_digit(10))
        .and_then(|d| u8::try_from(d).ok());
    let kind = reason.kind(ev.action, class);
    let suggested_address = (kind == super::Kind::Hard)
        .then(|| typo::suggest(&ev.address))
        .flatten();
    let remote_mta = match ev.from_dsn {
        true => ev.remote_mta,
        false => ev.remote_mta.or_else(|| ev.block.and_then(remote_host)),
    };
    Recipient {
        address: ev.address,
        final_address: ev.final_address,
        action: ev.action,
        status,
        smtp_code,
        kind,
        reason,
        category: reason.category(),
        diagnostic,
        remote_mta,
        reporting_mta: ev.reporting_mta,
        recommended_action: reason.recommended_action(kind),
        suggested_address,
    }
}

/// Recipients whose domain tells what a refusal means when the text does not:
/// a Google Groups notice always says the group "may not exist, or you may
/// not have permission to post" (in the sender's language): a refusal of the
/// sender, never proof that an address is dead.
const RECIPIENT_DOMAIN_HINTS: &[(&str, Reason)] = &[("googlegroups.com", Reason::Rejected)];

fn vendor_hint(address: &str) -> Option<Reason> {
    let domain = address.rsplit_once('@')?.1;
    RECIPIENT_DOMAIN_HINTS
        .iter()
        .find(|(suffix, _)| domain == *suffix || domain.ends_with(&format!(".{suffix}")))
        .map(|(_, reason)| *reason)
}

/// Context rules that real MTAs' wording alone does not carry:
/// - a "no such user" answer to `MAIL FROM` is about the sender → `rejected`;
/// - a "user unknown" answer only after `DATA` (the recipient was accepted at
///   `RCPT TO`) comes from a content filter → `filtered` (taxonomy.md);
/// - `Action: failed` with a 4.x.x status means the sender stopped retrying a
///   temporary failure → `expired`, unless the text names a specific cause.
fn adjust_for_context(
    reason: Reason,
    stage: Option<Stage>,
    action: Action,
    status: Option<&str>,
) -> Reason {
    match (stage, reason) {
        (Some(Stage::MailFrom), Reason::UserUnknown | Reason::HostUnknown | Reason::Undefined) => {
            return Reason::Rejected;
        }
        // ...unless the server itself classified it as an address problem (5.1.x).
        (Some(Stage::Data), Reason::UserUnknown)
            if status.is_none_or(|s| s.get(1..4) != Some(".1.")) =>
        {
            return Reason::Filtered;
        }
        _ => {}
    }
    let temporary_status = status.is_some_and(|s| s.starts_with('4'));
    if action == Action::Failed
        && temporary_status
        && matches!(reason, Reason::Undefined | Reason::NetworkError)
    {
        return Reason::Expired;
    }
    reason
}

/// The lines of a recipient block that carry the server's answer: those with
/// a reply or status code, else the whole block.
/// Repeated lines (transcripts echo the answer) are kept once, and distinct
/// lines are joined with `; ` so phrases never run across them.
fn diagnostic_lines(block: &str) -> String {
    // An answer line keeps its indented continuation lines (Postfix folds
    // "said: 554 No" / "    Resent-From field given"), but never a line
    // that itself carries a code (that is the next answer).
    let mut answers: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for raw in block.lines() {
        let line = raw.trim();
        let has_code = text::smtp_code(line).is_some() || text::enhanced_status(line).is_some();
        let continues = raw.starts_with([' ', '\t']) && !line.is_empty() && !has_code;
        match (&mut current, has_code, continues) {
            (_, true, _) => {
                if let Some(done) = current.take() {
                    answers.push(done);
                }
                current = Some(line.to_string());
            }
            (Some(answer), false, true) => {
                answer.push(' ');
                answer.push_str(line);
            }
            (Some(_), false, false) => {
                if let Some(done) = current.take() {
                    answers.push(done);
                }
            }
            (None, false, _) => {}
        }
    }
    if let Some(done) = current {
        answers.push(done);
    }
    // Transcripts echo an answer more than once: keep each answer once.
    let mut unique: Vec<String> = Vec::new();
    for answer in answers {
        if !unique.contains(&answer) {
            unique.push(answer);
        }
    }
    if unique.is_empty() {
        text::squash(block, MAX_DIAGNOSTIC_CHARS)
    } else {
        text::squash(&unique.join("; "), MAX_DIAGNOSTIC_CHARS)
    }
}

/// `host mx.example.com [192.0.2.1]` and similar mentions of the remote host.
fn remote_host(block: &str) -> Option<String> {
    let lower = block.to_ascii_lowercase();
    for marker in [
        "host ",
        "while talking to ",
        "remote server ",
        "connected to ",
    ] {
        let mut from = 0;
        while let Some(pos) = lower.get(from..).and_then(|s| s.find(marker)) {
            let start = from + pos + marker.len();
            let token: String = lower
                .get(start..)
                .unwrap_or_default()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            if token.contains('.') && token.chars().any(|c| c.is_ascii_alphabetic()) {
                return Some(token.trim_end_matches('.').to_string());
            }
            from = start;
        }
    }
    None
}
