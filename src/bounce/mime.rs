//! A walk over the parsed MIME tree that collects what the analysis needs:
//! report parts, the human-readable notice text, and the embedded original.

use std::sync::LazyLock;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::text::{self, PhraseSet};

/// Upper bound on the notice text we scan (bytes). NDR prose is short; a huge
/// text part is an attached original or an attack.
const MAX_NOTICE_BYTES: usize = 256 * 1024;

/// The parts of one message that matter to the analysis.
#[derive(Default)]
pub struct Collected<'m> {
    /// `report-type` of a top-level `multipart/report`, lower-cased.
    pub report_type: Option<String>,
    /// Bodies of `message/delivery-status` / `message/global-delivery-status` parts.
    pub delivery_status: Vec<String>,
    /// Bodies of `message/feedback-report` parts (ARF).
    pub feedback_report: Vec<String>,
    /// A `message/disposition-notification` part was present (MDN).
    pub has_mdn: bool,
    /// Bodies of the `message/disposition-notification` parts.
    pub disposition: Vec<String>,
    /// The human-readable notice: the top-level text parts, HTML converted when
    /// no plain text exists. Embedded messages are not included.
    pub notice: String,
    /// The first embedded original message (`message/rfc822`, `message/global`).
    pub original: Option<&'m Message<'m>>,
    /// Headers of the original given as `text/rfc822-headers`, parsed.
    pub original_headers: Option<Message<'m>>,
}

/// Collects the parts of `message` (its top level only; an embedded message is
/// the original and is not walked into).
pub fn collect<'m>(message: &'m Message<'m>) -> Collected<'m> {
    let mut out = Collected::default();
    if let Some(ct) = message.content_type()
        && ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        out.report_type = ct.attribute("report-type").map(|s| s.to_ascii_lowercase());
    }
    let mut html = String::new();
    let mut has_plain = false;
    for (index, part) in message.parts.iter().enumerate() {
        // A part whose own header block is a message's (it has a Message-ID:
        // some MTAs return the original as a bare part without a
        // message/rfc822 type) stands for the original's headers.
        if index > 0 && out.original_headers.is_none() && has_own_message_id(part) {
            out.original_headers = part_header_block(message, part)
                .and_then(|raw| MessageParser::new().parse_headers(raw));
        }
        let (ctype, subtype) = match part.content_type() {
            Some(ct) => (
                ct.ctype().to_ascii_lowercase(),
                ct.subtype()
                    .map(|s| s.to_ascii_lowercase())
                    .unwrap_or_default(),
            ),
            None => ("text".to_string(), "plain".to_string()),
        };
        match (&part.body, ctype.as_str(), subtype.as_str()) {
            (PartType::Message(inner), _, _)
                if out.original.is_none() => {
                    out.original = Some(inner);
                }
            (PartType::Multipart(_), _, _) => {}
            (body, "message", "delivery-status" | "global-delivery-status") => {
                out.delivery_status.push(body_text(body));
            }
            (body, "message", "feedback-report") => out.feedback_report.push(body_text(body)),
            (body, "message", "disposition-notification" | "global-disposition-notification") => {
                out.has_mdn = true;
                out.disposition.push(body_text(body));
            }
            (body, "text" | "message", "rfc822-headers" | "global-headers")
                if out.original_headers.is_none() => {
                    let raw = body_bytes(body);
                    out.original_headers = MessageParser::new().parse_headers(raw);
                }
            (body, "message", "partial") if out.original_headers.is_none() => {
                // RFC 2046 §5.2.2: the first fragment starts with the original's headers.
                out.original_headers = MessageParser::new().parse_headers(body_bytes(body));
            }
            (PartType::Text(t), "text", "plain") | (PartType::Text(t), "text", "") => {
                if is_attachment(part) && !out.notice.is_empty() {
                    // A returned original attached as text: keep its headers.
                    if out.original_headers.is_none() && looks_like_headers(t) {
                        out.original_headers = MessageParser::new().parse_headers(t.as_bytes());
                    }
                    continue;
                }
                has_plain = true;
                push_bounded(&mut out.notice, t);
            }
            (PartType::Html(h), _, _)
                if html.len() < MAX_NOTICE_BYTES => {
                    push_bounded(&mut html, &text::html_to_text(bounded(h)));
                }
            (PartType::Text(t), "text", _)
                // text/enriched and other text types: some gateways use them for the notice.
                if !is_attachment(part) => {
                    push_bounded(&mut html, t);
                }
            _ => {}
        }
    }
    if !has_plain {
        out.notice = html;
    }
    if out.notice.trim().is_empty() && out.delivery_status.is_empty() && out.original.is_none() {
        // A multipart whose boundaries never appear (or a body mail-parser could
        // not split) still carries the notice: read the raw body as text.
        let raw = message.raw_message();
        let start = message
            .root_part()
            .raw_body_offset()
            .try_into()
            .unwrap_or(usize::MAX)
            .min(raw.len());
        let body = raw.get(start..).unwrap_or_default();
        let body = body.get(..body.len().min(MAX_NOTICE_BYTES)).unwrap_or(body);
        out.notice = String::from_utf8_lossy(body).into_owned();
    }
    out
}

/// Content types that make a message a report (RFC 3462/6522, 3464, 6533,
/// 5965, 8098), searched as bytes before any MIME parsing.
const REPORT_TYPES: &[&str] = &[
    "multipart/report",
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "message/disposition-notification",
    "message/global-disposition-notification",
    "text/rfc822-headers",
];

static REPORT_TYPE_FINDER: LazyLock<PhraseSet> = LazyLock::new(|| PhraseSet::new(REPORT_TYPES));

/// Whether the raw message names a report content type anywhere (a cheap,
/// linear byte search; it may also match a mention in prose, which only costs
/// a full analysis).
pub fn mentions_report_type(raw: &[u8]) -> bool {
    REPORT_TYPE_FINDER.is_match(raw)
}

fn has_own_message_id(part: &mail_parser::MessagePart<'_>) -> bool {
    part.headers
        .iter()
        .any(|h| h.name().eq_ignore_ascii_case("message-id"))
}

/// The raw bytes of a part's header block.
fn part_header_block<'a>(
    message: &'a Message<'_>,
    part: &mail_parser::MessagePart<'_>,
) -> Option<&'a [u8]> {
    let start = usize::try_from(part.raw_header_offset()).ok()?;
    let end = usize::try_from(part.raw_body_offset()).ok()?;
    message.raw_message().get(start..end)
}

/// Whether a text starts like a message header block (`Received:`,
/// `Return-Path:`, `From:`...): a returned original attached as plain text.
fn looks_like_headers(text: &str) -> bool {
    let first = text.trim_start().lines().next().unwrap_or_default();
    let Some((name, _)) = first.split_once(':') else {
        return false;
    };
    [
        "received",
        "return-path",
        "from",
        "message-id",
        "date",
        "x-",
        "delivered-to",
    ]
    .iter()
    .any(|h| name.trim().to_ascii_lowercase().starts_with(h))
        && text.to_ascii_lowercase().contains("message-id:")
}

fn is_attachment(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
}

/// The first [`MAX_NOTICE_BYTES`] of `text`, cut at a character boundary.
fn bounded(text: &str) -> &str {
    let mut cut = text.len().min(MAX_NOTICE_BYTES);
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.get(..cut).unwrap_or_default()
}

fn push_bounded(dst: &mut String, src: &str) {
    if dst.len() >= MAX_NOTICE_BYTES {
        return;
    }
    if !dst.is_empty() {
        dst.push('\n');
    }
    let room = MAX_NOTICE_BYTES - dst.len();
    if src.len() <= room {
        dst.push_str(src);
    } else {
        let mut cut = room;
        while cut > 0 && !src.is_char_boundary(cut) {
            cut -= 1;
        }
        dst.push_str(src.get(..cut).unwrap_or_default());
    }
}

fn body_bytes<'a>(body: &'a PartType<'_>) -> &'a [u8] {
    match body {
        PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b,
        _ => &[],
    }
}

fn body_text(body: &PartType<'_>) -> String {
    match body {
        PartType::Text(t) | PartType::Html(t) => t.to_string(),
        PartType::Binary(b) | PartType::InlineBinary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}
