//! RFC 3464 `message/delivery-status` (and RFC 6533
//! `message/global-delivery-status`) field parsing.
//!
//! mail-parser hands these parts over as raw bytes. The body is a per-message
//! block followed by one block per recipient, separated by blank lines
//! (RFC 3464 §2.1); fields may be folded (§2.1.1 uses RFC 822 folding). Real
//! MTAs bend this: blank lines go missing, recipients share one block, fields
//! are indented. So a new recipient starts at a blank line *or* at a second
//! `Final-Recipient`/`Original-Recipient` within the same block.

/// The per-message fields of a DSN (RFC 3464 §2.2).
#[derive(Debug, Default, Clone)]
pub struct MessageFields {
    /// `Reporting-MTA`, without its `dns;` type.
    pub reporting_mta: Option<String>,
    /// `Arrival-Date`.
    pub arrival_date: Option<String>,
}

/// The per-recipient fields of a DSN (RFC 3464 §2.3).
#[derive(Debug, Default, Clone)]
pub struct RecipientFields {
    /// `Original-Recipient`, cleaned.
    pub original: Option<String>,
    /// `Final-Recipient` (or `X-Actual-Recipient` when it is missing), cleaned.
    pub final_recipient: Option<String>,
    /// `X-Actual-Recipient`, cleaned.
    pub actual: Option<String>,
    /// `Action`, lower-cased.
    pub action: Option<String>,
    /// `Status`, as written.
    pub status: Option<String>,
    /// `Diagnostic-Code`, without its `smtp;` type, unfolded.
    pub diagnostic: Option<String>,
    /// The type of `Diagnostic-Code` (`smtp`, `x-unix`, `x-postfix`...), lower-cased.
    pub diagnostic_type: Option<String>,
    /// The comment after the code in `Status:` (`4.0.0 (host name lookup failure)`).
    pub status_comment: Option<String>,
    /// `Remote-MTA`, without its `dns;` type.
    pub remote_mta: Option<String>,
    /// `Last-Attempt-Date`.
    pub last_attempt: Option<String>,
    /// A `Final-Recipient` was present but was not an e-mail address.
    pub final_raw: bool,
}

impl RecipientFields {
    fn is_empty(&self) -> bool {
        self.original.is_none()
            && self.final_recipient.is_none()
            && self.actual.is_none()
            && self.action.is_none()
            && self.status.is_none()
    }

    fn has_recipient(&self) -> bool {
        self.original.is_some() || self.final_recipient.is_some() || self.final_raw
    }
}

/// A parsed delivery-status body.
#[derive(Debug, Default, Clone)]
pub struct DeliveryStatus {
    /// The per-message block.
    pub message: MessageFields,
    /// One entry per recipient block that named a recipient or an action.
    pub recipients: Vec<RecipientFields>,
}

/// Upper bound on recipients read from one DSN, so hostile input stays cheap.
const MAX_RECIPIENTS: usize = 1000;

/// Parses the text of a delivery-status part. Never fails: unknown lines are skipped.
pub fn parse(text: &str) -> DeliveryStatus {
    let mut out = DeliveryStatus::default();
    let mut current = RecipientFields::default();
    for field in fields(text) {
        let Field {
            name,
            value,
            blank_before,
        } = field;
        if blank_before && !current.is_empty() {
            push(&mut out, std::mem::take(&mut current));
        }
        let lname = name.to_ascii_lowercase();
        match lname.as_str() {
            "reporting-mta" => {
                out.message.reporting_mta = typed_value(&value).and_then(|v| host_name(&v));
            }
            "arrival-date" => out.message.arrival_date = Some(value.trim().to_string()),
            "original-recipient" => {
                if current.original.is_some() {
                    push(&mut out, std::mem::take(&mut current));
                }
                current.original = super::text::clean_address(&value);
            }
            "final-recipient" => {
                if current.final_recipient.is_some() || current.final_raw {
                    push(&mut out, std::mem::take(&mut current));
                }
                current.final_recipient = super::text::clean_address(&value);
                // A local delivery target (a file or program) is not an address,
                // but it still opens a recipient block.
                current.final_raw = current.final_recipient.is_none();
            }
            "x-actual-recipient" => current.actual = super::text::clean_address(&value),
            "action" => current.action = Some(value.trim().to_ascii_lowercase()),
            "status" => {
                let value = value.trim();
                current.status_comment = value
                    .split_once('(')
                    .map(|(_, c)| c.trim_end_matches(')').trim().to_string())
                    .filter(|c| !c.is_empty());
                current.status = Some(value.to_string());
            }
            "diagnostic-code" => {
                current.diagnostic_type = value
                    .split_once(';')
                    .map(|(t, _)| t.trim().to_ascii_lowercase())
                    .filter(|t| t.len() <= 12 && !t.contains(' '));
                current.diagnostic = typed_value(&value);
            }
            "remote-mta" => current.remote_mta = typed_value(&value).and_then(|v| host_name(&v)),
            "last-attempt-date" => current.last_attempt = Some(value.trim().to_string()),
            _ => {}
        }
        if out.recipients.len() >= MAX_RECIPIENTS {
            break;
        }
    }
    if !current.is_empty() {
        push(&mut out, current);
    }
    out
}

fn push(out: &mut DeliveryStatus, mut rcpt: RecipientFields) {
    if rcpt.final_recipient.is_none() {
        rcpt.final_recipient = rcpt.actual.clone();
    }
    if rcpt.has_recipient() || rcpt.action.is_some() {
        out.recipients.push(rcpt);
    }
}

/// `dns; mx.example.com` -> `mx.example.com`; `smtp; 550 ...` -> `550 ...`.
fn typed_value(value: &str) -> Option<String> {
    let v = value.trim();
    let v = match v.split_once(';') {
        Some((kind, rest)) if kind.len() <= 12 && !kind.contains(' ') => rest.trim(),
        _ => v,
    };
    let v = super::text::squash(v, 2000);
    (!v.is_empty()).then_some(v)
}

/// The host name of an MTA field: its first token, without the brackets of an
/// address literal, a trailing dot, or a comment (`mx.example.org. (192.0.2.1)`).
pub fn host_name(value: &str) -> Option<String> {
    let token = value.split_whitespace().next()?;
    let token = token.trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')' || c == ';');
    let token = token.trim_end_matches('.');
    (!token.is_empty()).then(|| token.to_string())
}

struct Field {
    name: String,
    value: String,
    blank_before: bool,
}

/// Splits the body into unfolded `Name: value` fields, remembering whether a
/// blank line preceded each one.
fn fields(text: &str) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    let mut blank = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            blank = true;
            continue;
        }
        let starts_with_space = line.starts_with(' ') || line.starts_with('\t');
        if starts_with_space && let (Some(last), false) = (out.last_mut(), blank) {
            // A folded continuation; or an indented field (some MTAs indent all fields).
            if let Some(field) = split_field(line.trim_start())
                && is_known_field(&field.0)
            {
                out.push(Field {
                    name: field.0,
                    value: field.1,
                    blank_before: false,
                });
                continue;
            }
            last.value.push(' ');
            last.value.push_str(line.trim());
            continue;
        }
        if let Some((name, value)) = split_field(line.trim_start()) {
            out.push(Field {
                name,
                value,
                blank_before: blank,
            });
        }
        blank = false;
    }
    out
}

fn split_field(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    if name.is_empty()
        || name.len() > 40
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    Some((name.to_string(), value.trim().to_string()))
}

fn is_known_field(name: &str) -> bool {
    const KNOWN: &[&str] = &[
        "final-recipient",
        "original-recipient",
        "action",
        "status",
        "diagnostic-code",
        "remote-mta",
        "last-attempt-date",
        "x-actual-recipient",
        "will-retry-until",
        "reporting-mta",
    ];
    KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Whether `text` looks like delivery-status fields even without the right
/// content type (some MTAs label the part `text/plain`).
pub fn looks_like_dsn(text: &str) -> bool {
    let head: String = text.chars().take(4000).collect();
    let lower = head.to_ascii_lowercase();
    (lower.contains("final-recipient:") || lower.contains("original-recipient:"))
        && (lower.contains("action:") || lower.contains("status:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_and_folding() {
        let text = "Reporting-MTA: dns; mx.sender.example\n\
                    Arrival-Date: Mon, 1 Jan 2024 10:00:00 +0000\n\n\
                    Original-Recipient: rfc822;Bob@Example.com\n\
                    Final-Recipient: rfc822; bob@mx.example.com\n\
                    Action: failed\n\
                    Status: 5.1.1\n\
                    Remote-MTA: dns; mx.example.com\n\
                    Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>:\n    Recipient address rejected\n\n\
                    Final-Recipient: rfc822; carol@example.com\n\
                    Action: delayed\n\
                    Status: 4.4.1\n";
        let dsn = parse(text);
        assert_eq!(
            dsn.message.reporting_mta.as_deref(),
            Some("mx.sender.example")
        );
        assert_eq!(dsn.recipients.len(), 2);
        let first = &dsn.recipients[0];
        assert_eq!(first.original.as_deref(), Some("bob@example.com"));
        assert_eq!(first.final_recipient.as_deref(), Some("bob@mx.example.com"));
        assert_eq!(
            first.diagnostic.as_deref(),
            Some("550 5.1.1 <bob@example.com>: Recipient address rejected")
        );
        assert_eq!(dsn.recipients[1].action.as_deref(), Some("delayed"));
    }

    #[test]
    fn recipients_without_blank_lines_are_split() {
        let text = "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1\n\
                    Final-Recipient: rfc822; b@x.example\nAction: failed\nStatus: 5.2.2\n";
        let dsn = parse(text);
        assert_eq!(dsn.recipients.len(), 2);
        assert_eq!(dsn.recipients[1].status.as_deref(), Some("5.2.2"));
    }
}
