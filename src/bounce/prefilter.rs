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

use super::{PARSER, input, is_head_candidate, mime};

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
pub fn is_candidate<'a>(
    header_block: &[u8],
    content_types: impl IntoIterator<Item = &'a str>,
) -> bool {
    if content_types
        .into_iter()
        .any(|t| mime::mentions_report_type(t.to_ascii_lowercase().as_bytes()))
    {
        return true;
    }
    // The header block alone: its own Content-Type may name a report type.
    if mime::mentions_report_type(header_block) {
        return true;
    }
    // Lone CRs (old Mac mail, some gateways) hide every header from the
    // parser; repair them as the full analysis does.
    let (header_block, _) = input::prepare(header_block, usize::MAX);
    match PARSER.parse_headers(&header_block) {
        Some(head) => is_head_candidate(&head),
        // Headers that do not parse at all: let the full analysis decide.
        None => true,
    }
}
