//! Reading failed recipients out of a human-readable notice.
//!
//! Most non-standard NDRs (qmail, Exim, Exchange, Gmail, Yahoo, Domino, many
//! gateways) share one shape: some prose, then for each failed recipient a
//! line naming the address followed by the remote server's answer, then a
//! copy of the original message. This scanner follows that shape generically:
//!
//! 1. cut the text at the first *boundary* marker (the original message follows);
//! 2. walk the lines; a line that names an address in a recipient-like way
//!    opens (or re-opens) that recipient's block;
//! 3. every other line belongs to the open block (or to the preamble).
//!
//! Vendor specifics stay data: the boundary and keyword tables below.

use super::text;

/// Lines that announce the copy of the original message (lower-case substrings).
/// Everything from such a line on is the original, not the notice.
pub const BOUNDARIES: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "a copy of the original message",
    "original message follows",
    "original message headers",
    "original message header",
    "----- original message -----",
    "-----original message-----",
    "--- original message ---",
    "unsent message follows",
    "unsent message below",
    "message headers follow",
    "header of the original message",
    "headers of the original message",
    "copy of the message follows",
    "copy of your message",
    "returned message follows",
    "your message reads (in part)",
    "the message you sent was",
    "content-type: message/rfc822",
    "the original message:",
    "--- message header ---",
    "------ original mail ------",
    "original mail follows",
    "the header of the original message",
    "part of the original message",
    "headers of your message",
    "----- message text follows -----",
];

/// Words that make a line containing an address a recipient line.
const RECIPIENT_WORDS: &[&str] = &[
    "rcpt to",
    "recipient",
    "to:",
    "delivery to",
    "delivered to",
    "deliver to",
    "deliver the message to",
    "address",
    "failed",
    "failure",
    "could not be delivered",
    "couldn't be delivered",
    "undeliverable",
    "unknown",
    "user",
    "mailbox",
    "message to",
    "mail to",
    "sent to",
    "rejected",
    "does not exist",
    "doesn't exist",
    "not found",
    "error",
    "quota",
    "full",
    "denied",
    "refused",
    "invalid",
    "disabled",
    "expired",
    "delayed",
    "unable",
    "bounced",
    "no such",
    "permanent",
    "temporar",
    "said:",
    "<<<",
    ">>>",
    "smtp",
    "550",
    "554",
    "553",
    "552",
    "551",
    "450",
    "451",
    "452",
    "421",
];

/// Line prefixes that carry addresses which are never failed recipients.
const NON_RECIPIENT_PREFIXES: &[&str] = &[
    "from:",
    "sender:",
    "reply-to:",
    "return-path:",
    "message-id:",
    "in-reply-to:",
    "references:",
    "received:",
    "envelope-from",
    "mail from",
    ">>> mail from",
    "x-",
    "dkim-signature",
    "list-",
    "errors-to:",
    "by ",
    "id ",
];

/// Local parts of addresses that are the reporting system, never a recipient.
const SYSTEM_LOCAL_PARTS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "maildaemon",
    "postmaster",
    "noreply",
    "no-reply",
    "do-not-reply",
    "donotreply",
    "bounce",
    "bounces",
    "abuse",
    "hostmaster",
    "webmaster",
];

/// Bounds so a hostile notice cannot make the scan expensive.
const MAX_LINES: usize = 5000;
const MAX_RECIPIENTS: usize = 500;
const MAX_BLOCK_BYTES: usize = 4000;

/// One recipient named by the notice, with the lines that followed it.
#[derive(Debug, Clone, Default)]
pub struct TextRecipient {
    /// The address, lower-cased.
    pub address: String,
    /// The lines of its block(s), joined with newlines.
    pub block: String,
}

/// The result of scanning a notice.
#[derive(Debug, Default)]
pub struct Scan {
    /// The recipients in order of first mention.
    pub recipients: Vec<TextRecipient>,
    /// The text before the first recipient line.
    pub preamble: String,
    /// The notice text up to the boundary.
    pub body_len: usize,
}

/// Where the copy of the original starts in `notice` (the boundary line's end).
pub fn find_boundary(notice: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in notice.split_inclusive('\n') {
        let lower = line.to_ascii_lowercase();
        if BOUNDARIES.iter().any(|b| lower.contains(b)) {
            return Some((offset, offset + line.len()));
        }
        offset += line.len();
    }
    None
}

/// Scans `notice` for failed recipients. `exclude` lists addresses that are
/// participants, not recipients (the NDR's From and To, the original sender).
pub fn scan(notice: &str, exclude: &[String]) -> Scan {
    let boundary = find_boundary(notice);
    let body = match boundary {
        Some((start, _)) => notice.get(..start).unwrap_or(notice),
        None => notice,
    };
    let mut out = Scan {
        body_len: body.len(),
        ..Scan::default()
    };
    let mut current: Option<usize> = None;
    for line in body.lines().take(MAX_LINES) {
        if let Some(address) = recipient_on_line(line, exclude) {
            let index = match out.recipients.iter().position(|r| r.address == address) {
                Some(i) => i,
                None if out.recipients.len() < MAX_RECIPIENTS => {
                    out.recipients.push(TextRecipient {
                        address,
                        block: String::new(),
                    });
                    out.recipients.len() - 1
                }
                None => continue,
            };
            current = Some(index);
        }
        let target = match current.and_then(|i| out.recipients.get_mut(i)) {
            Some(r) => &mut r.block,
            None => &mut out.preamble,
        };
        if target.len() < MAX_BLOCK_BYTES {
            target.push_str(line.trim_end());
            target.push('\n');
        }
    }
    out
}

/// The recipient a line names, if it names one in a recipient-like way.
fn recipient_on_line(line: &str, exclude: &[String]) -> Option<String> {
    if !line.contains('@') {
        return None;
    }
    let trimmed = line.trim_start().trim_start_matches(['>', ' ', '\t']);
    let lower = trimmed.to_ascii_lowercase();
    if NON_RECIPIENT_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return None;
    }
    let spans = text::address_spans(trimmed);
    let (start, end) = spans.into_iter().find(|&(s, e)| {
        trimmed
            .get(s..e)
            .is_some_and(|a| is_candidate(&a.to_ascii_lowercase(), exclude, &lower, s))
    })?;
    let address = trimmed.get(start..end)?.to_ascii_lowercase();
    // A line that is (nearly) only the address, or that opens with it.
    let rest_len = trimmed.len() - (end - start);
    let opens = trimmed.get(..start).is_some_and(|before| {
        before
            .trim_matches(['<', '"', '\'', ' ', '\t', '*', '-', ':'])
            .is_empty()
    });
    let worded = RECIPIENT_WORDS.iter().any(|w| lower.contains(w));
    (opens || rest_len <= 12 || worded).then_some(address)
}

fn is_candidate(address: &str, exclude: &[String], lower_line: &str, start: usize) -> bool {
    if exclude.iter().any(|e| e == address) {
        return false;
    }
    let local = address.split('@').next().unwrap_or_default();
    if SYSTEM_LOCAL_PARTS.contains(&local) {
        return false;
    }
    // `mail from:<x>` / `from <x>` inside a transcript line names the sender.
    let before = lower_line.get(..start).unwrap_or_default();
    let before = before.trim_end_matches(['<', ' ', '"']);
    !(before.ends_with("mail from:") || before.ends_with("from:") || before.ends_with("sender"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qmail_shape() {
        let notice = "Hi. This is the qmail-send program at example.jp.\n\
                      I'm afraid I wasn't able to deliver your message to the following addresses.\n\n\
                      <kijitora@example.org>:\n\
                      Remote host said: 550 5.1.1 <kijitora@example.org>... User unknown\n\n\
                      --- Below this line is a copy of the message.\n\n\
                      From: root@example.jp\nTo: kijitora@example.org\n";
        let scan = scan(notice, &["root@example.jp".to_string()]);
        assert_eq!(scan.recipients.len(), 1);
        assert_eq!(scan.recipients[0].address, "kijitora@example.org");
        assert!(scan.recipients[0].block.contains("User unknown"));
        assert!(scan.body_len < notice.len());
    }

    #[test]
    fn sender_lines_are_not_recipients() {
        let notice = "MAIL FROM:<alice@example.com>\nfrom: alice@example.com\n";
        assert!(scan(notice, &[]).recipients.is_empty());
    }
}
