//! Finding the original message's headers inside an NDR: an attached
//! `message/rfc822`, a `text/rfc822-headers` part, headers quoted in the text
//! after a boundary line, or at last the NDR's own In-Reply-To.

use mail_parser::{Message, MessageParser};

use super::headers::{self, clean_id};
use super::mime::Collected;
use super::report::{MessageInfo, OriginalInfo};
use super::{text, textscan};

/// The original as far as the NDR shows it.
pub fn extract(msg: &Message<'_>, parts: &Collected<'_>, own: &MessageInfo) -> OriginalInfo {
    let _ = msg;
    let mut info = if let Some(original) = parts.original {
        let info = headers::original_info(original);
        if is_empty(&info) {
            // Blank lines before the returned headers make them parse as body.
            let raw = original.raw_message();
            let start = raw
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(raw.len());
            raw.get(start..)
                .and_then(|rest| MessageParser::new().parse_headers(rest))
                .map(|m| headers::original_info(&m))
                .unwrap_or(info)
        } else {
            info
        }
    } else if let Some(original) = parts.original_headers.as_ref() {
        headers::original_info(original)
    } else {
        quoted(&parts.notice).unwrap_or_default()
    };
    if info.message_id.is_none() {
        info.message_id = quoted_line(&parts.notice, "message-id:")
            .and_then(|v| v.split_whitespace().next().and_then(clean_id))
            .filter(|id| id.contains('@'));
    }
    if info.subject.is_none() {
        info.subject = quoted_line(&parts.notice, "subject:").map(|v| text::squash(v, 998));
    }
    if info.message_id.is_none() {
        info.message_id = own.in_reply_to.first().cloned();
    }
    info
}

fn is_empty(info: &OriginalInfo) -> bool {
    info.message_id.is_none() && info.subject.is_none() && info.from.is_none() && info.to.is_empty()
}

/// Headers quoted after the boundary line of a prose notice.
fn quoted(notice: &str) -> Option<OriginalInfo> {
    let (_, after) = textscan::find_boundary(notice)?;
    let tail = notice
        .get(after..)?
        .trim_start_matches(['\r', '\n', ' ', '\t']);
    let tail = tail.get(..tail.len().min(64 * 1024)).or(Some(tail))?;
    let parsed = MessageParser::new().parse_headers(tail.as_bytes())?;
    let info = headers::original_info(&parsed);
    (info.message_id.is_some() || info.subject.is_some() || !info.to.is_empty()).then_some(info)
}

/// The value of a header line quoted anywhere in the notice (`Message-ID:`,
/// `Subject:`): gateways and some MTAs repeat the original's headers inline.
/// The notice is the body, so such a line can only describe the original.
fn quoted_line<'a>(notice: &'a str, name: &str) -> Option<&'a str> {
    notice.lines().take(5000).find_map(|line| {
        let trimmed = line.trim_start();
        let head = trimmed.get(..name.len())?;
        if !head.eq_ignore_ascii_case(name) {
            return None;
        }
        let value = trimmed.get(name.len()..)?.trim();
        (!value.is_empty()).then_some(value)
    })
}
