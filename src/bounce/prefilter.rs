//! The cheap first step of a two-step fetch: decide from a message's header
//! block and its MIME structure (IMAP `BODYSTRUCTURE`) whether its body is
//! worth fetching.
//!
//! It keeps everything [`analyse`](super::analyse) can classify as something
//! other than `not_bounce` — bounces, delivery reports, complaints and
//! auto-replies — because the headers-first step of the analysis uses the
//! same tests: a report content type, NDR or auto-reply markers in the
//! headers, or a known notification sender. The structure stands in for the
//! analysis' byte search for report content types in the body.

use super::report::MessageInfo;
use super::{PARSER, headers, input, is_head_candidate, mime};

/// Whether a message whose header block is `header_block` and whose MIME
/// parts have the content types `content_types` (`type/subtype`, any case,
/// nested parts included) may be a notice and should be fetched whole.
///
/// ```
/// use rebound::bounce::prefilter;
/// let head = b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n";
/// assert!(prefilter::is_candidate(head, ["multipart/report", "text/plain"]));
/// let head = b"From: Bob <bob@example.com>\r\nSubject: lunch?\r\n\r\n";
/// assert!(!prefilter::is_candidate(head, ["text/plain"]));
/// ```
/// Headers that do not parse at all are candidates: the full analysis decides.
pub fn is_candidate<'a>(
    header_block: &[u8],
    content_types: impl IntoIterator<Item = &'a str>,
) -> bool {
    inspect(header_block, content_types).candidate
}

/// What the first fetch step learns of a message from its header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// Whether the message may be a notice (see [`is_candidate`]).
    pub candidate: bool,
    /// Its own Message-ID, In-Reply-To, References, From, Subject and Date.
    pub info: MessageInfo,
    /// Every To, Cc and Bcc address (lower-cased; at most 100 per header),
    /// which tracking of sent mail needs.
    pub recipients: Vec<String>,
    /// Not a candidate by its headers, but its top-level type is one that
    /// can nest a report (`multipart/*` other than `alternative`,
    /// `message/*`): only its MIME structure (IMAP BODYSTRUCTURE) can tell.
    /// Always false when content types were given.
    pub needs_structure: bool,
}

/// [`is_candidate`] plus the message's own headers, from one header parse.
pub fn inspect<'a>(header_block: &[u8], content_types: impl IntoIterator<Item = &'a str>) -> Head {
    let (repaired, _) = input::prepare(header_block, usize::MAX);
    let parsed = PARSER.parse_headers(&repaired);
    let (info, recipients) = match &parsed {
        Some(head) => {
            let mut recipients = headers::all_addresses(head.to());
            recipients.extend(headers::all_addresses(head.cc()));
            recipients.extend(headers::all_addresses(head.bcc()));
            (headers::message_info(head), recipients)
        }
        None => (MessageInfo::default(), Vec::new()),
    };
    let mut content_types = content_types.into_iter().peekable();
    let structure_given = content_types.peek().is_some();
    let candidate = report_type_or_head(&repaired, content_types, parsed.as_ref());
    let needs_structure = !candidate
        && !structure_given
        && parsed.as_ref().is_some_and(|head| may_nest_a_report(head));
    Head {
        candidate,
        info,
        recipients,
        needs_structure,
    }
}

/// Whether a message of this top-level type can carry a report in a nested
/// part (a gateway wrapping a DSN in `multipart/mixed`, a forwarded notice).
fn may_nest_a_report(head: &mail_parser::Message<'_>) -> bool {
    use mail_parser::MimeHeaders;
    let Some(ct) = head.content_type() else {
        return false;
    };
    let ctype = ct.ctype();
    let subtype = ct.subtype().unwrap_or_default();
    (ctype.eq_ignore_ascii_case("multipart") && !subtype.eq_ignore_ascii_case("alternative"))
        || ctype.eq_ignore_ascii_case("message")
}

/// Whether a content type (`type/subtype`, any case) is one of the report
/// types the analysis reads (delivery-status, feedback-report, ...).
pub fn is_report_type(content_type: &str) -> bool {
    mime::mentions_report_type(content_type.to_ascii_lowercase().as_bytes())
}

fn report_type_or_head<'a>(
    header_block: &[u8],
    content_types: impl IntoIterator<Item = &'a str>,
    parsed: Option<&mail_parser::Message<'_>>,
) -> bool {
    if content_types.into_iter().any(is_report_type) {
        return true;
    }
    // The header block alone: its own Content-Type may name a report type.
    if mime::mentions_report_type(header_block) {
        return true;
    }
    // Lone CRs (old Mac mail, some gateways) hide every header from the
    // parser: `inspect` repairs them as the full analysis does.
    match parsed {
        Some(head) => is_head_candidate(head),
        // Headers that do not parse at all: let the full analysis decide.
        None => true,
    }
}
