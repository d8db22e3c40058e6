//! The analysis core: raw bytes of one message in, a [`Report`] out.
//!
//! Pure by design: no I/O, no clock, no logging, no database. Hostile input
//! yields a best-effort report, never a panic; the work per message is bounded
//! by the size cap ([`Options::max_bytes`]) and by per-step limits.
//!
//! The decision, strongest evidence first:
//! 1. an ARF part (RFC 5965) → `complaint`;
//! 2. a read receipt (MDN, RFC 8098) → `not_bounce`;
//! 3. a delivery-status part (RFC 3464 / RFC 6533) → `bounce` for failed or
//!    delayed recipients, `delivery_report` when all were delivered;
//!    challenge-response requests dressed as DSNs → `not_bounce`;
//! 4. strong NDR headers (daemon sender with an NDR subject, `X-Failed-Recipients`...)
//!    → `bounce` read from the prose ([`textscan`]);
//! 5. auto-reply markers → `auto_reply`;
//! 6. weaker NDR headers with recipients found in the prose → `bounce`;
//! 7. anything else → `not_bounce`.

mod arf;
mod autoreply;
mod detect;
mod dsn;
mod gateway;
mod headers;
mod input;
mod mime;
mod original;
pub mod prefilter;
mod reason;
mod recipient;
pub mod report;
mod rules;
mod sesjson;
mod stage;
mod text;
mod textscan;
mod typo;

use std::sync::LazyLock;

use mail_parser::{HeaderName, Message, MessageParser};

pub use input::DEFAULT_MAX_BYTES;
pub use reason::{Category, Reason};
pub use report::{
    Action, AutoReplyInfo, ComplaintInfo, Kind, MessageInfo, OriginalInfo, Recipient,
    RecommendedAction, Report, SCHEMA_VERSION, Verdict,
};

use recipient::Evidence as RecipientEvidence;

/// Analysis options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages larger than this are analysed on their first bytes and marked
    /// `truncated` (default 10 MiB, shared with the IMAP fetch).
    pub max_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// The parser configuration: only the headers the analysis reads are parsed
/// into structures; everything else (notably `Received`, the most expensive
/// and most numerous) stays raw. An empty header map would mean "parse every
/// known header", so the MIME headers must be named here.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .with_message_ids()
        .header_date(HeaderName::Date)
        .header_text(HeaderName::Subject)
        .header_address(HeaderName::From)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_address(HeaderName::Bcc)
        .header_raw(HeaderName::Received)
        .header_raw(HeaderName::ReturnPath)
});

/// Analyses one raw message with the default options.
pub fn analyse(raw: &[u8]) -> Report {
    analyse_with(raw, &Options::default())
}

/// Analyses one raw message.
pub fn analyse_with(raw: &[u8], options: &Options) -> Report {
    let (bytes, truncated) = input::prepare(raw, options.max_bytes);
    let mut report = analyse_prepared(bytes.as_ref());
    report.truncated = truncated;
    report
}

/// Two steps, so that ordinary mail (the vast majority of an inbox) costs
/// little more than reading its header block: the headers are parsed first
/// and, unless they or a byte search of the body show a notice, the message is
/// `not_bounce` without a MIME parse of its body.
fn analyse_prepared(bytes: &[u8]) -> Report {
    let Some(head) = PARSER.parse_headers(bytes) else {
        return Report::not_bounce();
    };
    if !is_candidate(&head, bytes) {
        let mut report = Report::not_bounce();
        report.message = headers::message_info(&head);
        return report;
    }
    match PARSER.parse(bytes) {
        Some(message) => decide(&message, 0),
        None => Report::not_bounce(),
    }
}

/// Whether a message may be a notice: a report content type anywhere in it,
/// NDR or auto-reply markers in its headers, or a known notification sender.
fn is_candidate(head: &Message<'_>, bytes: &[u8]) -> bool {
    mime::mentions_report_type(bytes) || is_head_candidate(head)
}

/// The header tests of [`is_candidate`], shared with [`prefilter`].
fn is_head_candidate(head: &Message<'_>) -> bool {
    let subject = headers::subject(head);
    let subject = subject.as_deref();
    detect::evidence(head, subject).is_notice()
        || detect::is_notification_sender(head, subject)
        || autoreply::marker(head, subject).is_some()
}

/// How deep a notice wrapped in another message is looked for.
const MAX_NESTED_NOTICES: usize = 2;

fn decide(msg: &Message<'_>, depth: usize) -> Report {
    let mut report = Report::not_bounce();
    report.message = headers::message_info(msg);
    let subject = report.message.subject.clone();

    let evidence = detect::evidence(msg, subject.as_deref());
    let parts = mime::collect(msg);
    report.original = original::extract(msg, &parts, &report.message);

    // 1. Complaints.
    if parts.report_type.as_deref() == Some("feedback-report") || !parts.feedback_report.is_empty()
    {
        let text = parts
            .feedback_report
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let to = report.original.to.first().map(String::as_str);
        let id = report.original.message_id.clone();
        report.complaint = Some(arf::parse(text, to, id.as_deref()));
        report.verdict = Verdict::Complaint;
        report.format = Some("arf".into());
        return report;
    }
    // 1b. Feedback-loop notices without ARF (Microsoft JMRP).
    if let Some(inner) = parts.original {
        let jmrp = headers::raw_header(inner, arf::JMRP_RECIPIENT_HEADER);
        let subject_says = subject.as_deref().is_some_and(|s| {
            let lower = s.to_lowercase();
            arf::COMPLAINT_SUBJECTS.iter().any(|p| lower.contains(p))
        });
        if jmrp.is_some() && subject_says {
            report.complaint = Some(ComplaintInfo {
                feedback_type: Some("abuse".into()),
                recipient: jmrp
                    .and_then(text::clean_address)
                    .or_else(|| report.original.to.first().cloned()),
                original_message_id: report.original.message_id.clone(),
            });
            report.verdict = Verdict::Complaint;
            report.format = Some("jmrp".into());
            return report;
        }
    }

    // 2. Read receipts. A disposition of `automatic-action/...; deleted` is
    // a Sieve `reject` (RFC 5429 §2.1): the recipient's system refused the
    // message, which is a bounce; every other disposition is a receipt.
    if parts.has_mdn || parts.report_type.as_deref() == Some("disposition-notification") {
        report.format = Some("mdn".into());
        if let Some(address) = parts.disposition.iter().find_map(|d| mdn_rejection(d)) {
            let whole = parts.notice.as_str();
            report.verdict = Verdict::Bounce;
            report.format = Some("sieve_reject".into());
            report.recipients = vec![recipient::build(RecipientEvidence {
                address,
                final_address: None,
                action: Action::Failed,
                status: None,
                diagnostic: None,
                diagnostic_type: None,
                block: Some(whole),
                preamble: None,
                whole: Some(whole),
                transcript: None,
                remote_mta: None,
                reporting_mta: None,
                from_dsn: false,
                // A filter refused it; the text may say why (quota, spam...).
                fallback_reason: Some(Reason::Filtered),
            })];
        }
        return report;
    }

    let exclude = participants(msg, &report);

    // 3. Delivery-status parts.
    let mut statuses: Vec<dsn::DeliveryStatus> = parts
        .delivery_status
        .iter()
        .map(|t| dsn::parse(t))
        .collect();
    if statuses.iter().all(|s| s.recipients.is_empty()) && dsn::looks_like_dsn(&parts.notice) {
        statuses.push(dsn::parse(&parts.notice));
    }
    let dsn_recipients: Vec<(&dsn::MessageFields, &dsn::RecipientFields)> = statuses
        .iter()
        .flat_map(|s| s.recipients.iter().map(move |r| (&s.message, r)))
        .collect();
    if !dsn_recipients.is_empty() {
        if autoreply::is_challenge(&parts.notice)
            || dsn_recipients
                .iter()
                .any(|(_, r)| r.diagnostic.as_deref().is_some_and(autoreply::is_challenge))
        {
            report.format = Some("challenge_response".into());
            return report;
        }
        let scan = textscan::scan(&parts.notice, &exclude, None);
        let delayed_notice = evidence.delay_subject || detect::text_says_delayed(&scan.preamble);
        let mut failed = Vec::new();
        let mut delivered = 0usize;
        let whole = (dsn_recipients.len() == 1).then(|| scan_body(&parts.notice, &scan));
        for (index, (message_fields, fields)) in dsn_recipients.iter().enumerate() {
            let action = match fields.action.as_deref() {
                Some(a) if a.starts_with("fail") => Some(Action::Failed),
                Some(a) if a.starts_with("delay") => Some(Action::Delayed),
                Some(a)
                    if a.starts_with("deliver")
                        || a.starts_with("relay")
                        || a.starts_with("expand") =>
                {
                    None
                }
                _ => recipient::action_from_status(fields.status.as_deref(), delayed_notice),
            };
            let Some(action) = action else {
                delivered += 1;
                continue;
            };
            // A recipient block without an address (a local file or program as
            // Final-Recipient) takes the address the prose gives at its position.
            let address = fields
                .original
                .clone()
                .or_else(|| fields.final_recipient.clone())
                .or_else(|| scan.recipients.get(index).map(|r| r.address.clone()))
                .or_else(|| evidence.failed_recipients.get(index).cloned());
            let Some(address) = address else { continue };
            let final_address = fields.final_recipient.clone().filter(|f| *f != address);
            let block = scan
                .recipients
                .iter()
                .find(|r| r.address == address || Some(&r.address) == final_address.as_ref())
                .map(|r| r.block.as_str());
            failed.push(recipient::build(RecipientEvidence {
                address,
                final_address,
                action,
                status: fields.status.as_deref(),
                diagnostic: fields
                    .diagnostic
                    .as_deref()
                    .or(fields.status_comment.as_deref()),
                diagnostic_type: fields.diagnostic_type.as_deref(),
                block,
                preamble: Some(&scan.preamble),
                whole,
                transcript: Some(&parts.notice),
                remote_mta: fields.remote_mta.clone(),
                from_dsn: true,
                reporting_mta: message_fields.reporting_mta.clone(),
                fallback_reason: None,
            }));
        }
        if !failed.is_empty() {
            report.verdict = Verdict::Bounce;
            report.format = Some(family(msg, &parts, "rfc3464"));
            report.gateway = gateway::detect(msg).map(str::to_string);
            report.recipients = failed;
            return report;
        }
        if delivered > 0 {
            report.verdict = Verdict::DeliveryReport;
            report.format = Some("rfc3464".into());
            return report;
        }
    }

    // Amazon SES notifications mailed through SNS (JSON).
    if parts.notice.contains("\"notificationType\"")
        && let Some(notice) = sesjson::parse(&parts.notice)
    {
        return ses_report(report, notice);
    }

    // A gateway that wraps the real DSN as an attachment: analyse the DSN.
    if let Some(inner) = parts.original
        && depth < MAX_NESTED_NOTICES
        && is_report(inner)
    {
        let mut nested = decide(inner, depth + 1);
        if nested.verdict == Verdict::Bounce && !nested.recipients.is_empty() {
            nested.message = report.message;
            nested.gateway = nested
                .gateway
                .or_else(|| gateway::detect(msg).map(str::to_string));
            return nested;
        }
    }

    // 4.-6. Prose notices and auto-replies. A challenge-response request is
    // neither, even when it carries auto-reply headers.
    if autoreply::is_challenge(&parts.notice) {
        report.format = Some("challenge_response".into());
        return report;
    }
    let auto_marker = autoreply::marker(msg, subject.as_deref());
    if auto_marker.is_some() && !evidence.is_strong() {
        report.verdict = Verdict::AutoReply;
        report.auto_reply = auto_marker.map(|marker| AutoReplyInfo { marker });
        report.format = Some("rfc3834".into());
        return report;
    }
    if !evidence.is_notice() {
        return report;
    }
    let sender_domain = report
        .message
        .from
        .as_deref()
        .and_then(|f| f.rsplit_once('@'))
        .map(|(_, d)| d.to_string());
    let mut scan = textscan::scan(&parts.notice, &exclude, sender_domain.as_deref());
    if scan.recipients.is_empty() && evidence.failed_recipients.is_empty() {
        // Someone who mailed themselves: the NDR's To is also the failed recipient.
        scan = textscan::scan(
            &parts.notice,
            &exclude_from_only(&report),
            sender_domain.as_deref(),
        );
    }
    let delayed =
        evidence.delay_subject || detect::text_says_delayed(scan_body(&parts.notice, &scan));
    let action = if delayed {
        Action::Delayed
    } else {
        Action::Failed
    };
    let mut named: Vec<(String, Option<&str>)> = Vec::new();
    for address in &evidence.failed_recipients {
        let block = scan
            .recipients
            .iter()
            .find(|r| &r.address == address)
            .map(|r| r.block.as_str());
        named.push((address.clone(), block));
    }
    if named.is_empty() {
        named = scan
            .recipients
            .iter()
            .map(|r| (r.address.clone(), Some(r.block.as_str())))
            .collect();
    }
    if named.is_empty() && evidence.is_strong() {
        // The notice names nobody: fall back to the original's recipients.
        named = report
            .original
            .to
            .iter()
            .take(1)
            .map(|a| (a.clone(), None))
            .collect();
    }
    if named.is_empty() && !evidence.is_strong() {
        return report;
    }
    let single = named.len() == 1;
    let whole = scan_body(&parts.notice, &scan);
    report.recipients = named
        .into_iter()
        .map(|(address, block)| {
            recipient::build(RecipientEvidence {
                address,
                final_address: None,
                action,
                status: None,
                diagnostic: None,
                diagnostic_type: None,
                block: block.or(if single { Some(whole) } else { None }),
                preamble: Some(&scan.preamble),
                whole: single.then_some(whole),
                transcript: Some(&parts.notice),
                remote_mta: None,
                from_dsn: false,
                reporting_mta: None,
                fallback_reason: None,
            })
        })
        .collect();
    report.verdict = Verdict::Bounce;
    report.format = Some(family(msg, &parts, "text"));
    report.gateway = gateway::detect(msg).map(str::to_string);
    report
}

/// The notice text up to the boundary.
fn scan_body<'a>(notice: &'a str, scan: &textscan::Scan) -> &'a str {
    notice.get(..scan.body_len).unwrap_or(notice)
}

/// Addresses that take part in the exchange but did not fail: the NDR's own
/// From and To, and the original's sender.
fn participants(msg: &Message<'_>, report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(report.message.from.clone());
    if let Some(to) = msg.to() {
        out.extend(
            to.iter()
                .filter_map(|a| a.address())
                .map(|a| a.trim().to_ascii_lowercase()),
        );
    }
    out.extend(report.original.from.clone());
    out
}

/// The report for an Amazon SES JSON notification.
fn ses_report(mut report: Report, notice: sesjson::SesNotice) -> Report {
    report.format = Some("amazonses".into());
    match notice {
        sesjson::SesNotice::Bounce {
            bounce_type,
            recipients,
        } => {
            let transient = bounce_type.as_deref() == Some("Transient");
            report.verdict = Verdict::Bounce;
            report.recipients = recipients
                .iter()
                .map(|r| {
                    let action = match r.action.as_deref() {
                        Some(a) if a.starts_with("delay") => Action::Delayed,
                        _ => Action::Failed,
                    };
                    let fallback = transient.then_some("Transient bounce");
                    recipient::build(RecipientEvidence {
                        address: r.address.clone(),
                        final_address: None,
                        action,
                        status: r.status.as_deref(),
                        diagnostic: r.diagnostic.as_deref().or(fallback),
                        diagnostic_type: None,
                        block: None,
                        preamble: None,
                        whole: None,
                        transcript: None,
                        remote_mta: None,
                        from_dsn: true,
                        reporting_mta: None,
                        fallback_reason: None,
                    })
                })
                .collect();
        }
        sesjson::SesNotice::Complaint {
            recipient,
            feedback_type,
        } => {
            report.verdict = Verdict::Complaint;
            report.complaint = Some(ComplaintInfo {
                feedback_type,
                recipient,
                original_message_id: report.original.message_id.clone(),
            });
        }
        sesjson::SesNotice::Delivery => report.verdict = Verdict::DeliveryReport,
    }
    report
}

/// The recipient of an MDN whose disposition says an automatic action deleted
/// the message (a Sieve reject).
fn mdn_rejection(fields: &str) -> Option<String> {
    let mut recipient = None;
    let mut disposition = None;
    for line in fields.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" | "original-recipient" if recipient.is_none() => {
                recipient = text::clean_address(value);
            }
            "disposition" => disposition = Some(value.trim().to_ascii_lowercase()),
            _ => {}
        }
    }
    let disposition = disposition?;
    let rejected = disposition.contains("automatic-action") && disposition.contains("deleted");
    if rejected { recipient } else { None }
}

/// Whether `msg` is itself a `multipart/report` delivery-status notice.
fn is_report(msg: &Message<'_>) -> bool {
    use mail_parser::MimeHeaders;
    msg.content_type().is_some_and(|ct| {
        ct.subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.to_ascii_lowercase().contains("delivery-status"))
    })
}

fn exclude_from_only(report: &Report) -> Vec<String> {
    report.message.from.iter().cloned().collect()
}

/// A stable name for the MTA family that wrote the notice, from its headers.
fn family(msg: &Message<'_>, parts: &mime::Collected<'_>, fallback: &str) -> String {
    const FAMILIES: &[(&str, &str)] = &[
        ("x-ms-exchange", "exchange"),
        ("x-postfix", "postfix"),
        ("(postfix)", "postfix"),
        ("qmail", "qmail"),
        ("exim", "exim"),
        ("sendmail", "sendmail"),
        ("amazonses", "amazonses"),
        ("google.com", "gmail"),
        ("yahoo", "yahoo"),
        ("opensmtpd", "opensmtpd"),
        ("lotus domino", "domino"),
        ("courier", "courier"),
    ];
    let head = headers::header_block_lower(msg, 32 * 1024);
    let notice_head: String = parts
        .notice
        .chars()
        .take(600)
        .collect::<String>()
        .to_lowercase();
    FAMILIES
        .iter()
        .find(|(marker, _)| head.contains(marker) || notice_head.contains(marker))
        .map(|(_, name)| (*name).to_string())
        .unwrap_or_else(|| fallback.to_string())
}
