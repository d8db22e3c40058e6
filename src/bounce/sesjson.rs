//! Amazon SES event notifications delivered by e-mail (through SNS): a JSON
//! document with `notificationType` `Bounce`, `Complaint` or `Delivery`.
//!
//! A small, bounded scanner reads the few string fields we need; the pure
//! core carries no JSON library and must not fail on malformed JSON.

/// One `bouncedRecipients` entry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SesRecipient {
    /// `emailAddress`.
    pub address: String,
    /// `action` (`failed`).
    pub action: Option<String>,
    /// `status` (enhanced status code).
    pub status: Option<String>,
    /// `diagnosticCode`, without its `smtp;` type.
    pub diagnostic: Option<String>,
}

/// What an SES notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SesNotice {
    /// A bounce: `bounceType` (`Permanent`, `Transient`, `Undetermined`) and recipients.
    Bounce {
        /// `bounceType`.
        bounce_type: Option<String>,
        /// `bouncedRecipients`.
        recipients: Vec<SesRecipient>,
    },
    /// A complaint: the complained recipient and the feedback type.
    Complaint {
        /// First `complainedRecipients[].emailAddress`.
        recipient: Option<String>,
        /// `complaintFeedbackType`.
        feedback_type: Option<String>,
    },
    /// A delivery notification.
    Delivery,
}

/// Reads an SES notification out of `text`, if it is one.
pub fn parse(text: &str) -> Option<SesNotice> {
    let kind = string_field(text, "notificationType")?;
    match kind.as_str() {
        "Bounce" => {
            let list = array_after(text, "bouncedRecipients").unwrap_or_default();
            let recipients = objects(list)
                .filter_map(|obj| {
                    let address = string_field(obj, "emailAddress")?.to_ascii_lowercase();
                    let diagnostic =
                        string_field(obj, "diagnosticCode").map(|d| match d.split_once(';') {
                            Some((kind, rest)) if kind.len() <= 8 => rest.trim().to_string(),
                            _ => d,
                        });
                    Some(SesRecipient {
                        address,
                        action: string_field(obj, "action"),
                        status: string_field(obj, "status"),
                        diagnostic,
                    })
                })
                .take(1000)
                .collect();
            Some(SesNotice::Bounce {
                bounce_type: string_field(text, "bounceType"),
                recipients,
            })
        }
        "Complaint" => {
            let list = array_after(text, "complainedRecipients").unwrap_or_default();
            Some(SesNotice::Complaint {
                recipient: objects(list)
                    .find_map(|obj| string_field(obj, "emailAddress"))
                    .map(|a| a.to_ascii_lowercase()),
                feedback_type: string_field(text, "complaintFeedbackType"),
            })
        }
        "Delivery" => Some(SesNotice::Delivery),
        _ => None,
    }
}

/// The string value of the first `"key": "value"` in `text`.
fn string_field(text: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let at = text.find(&needle)? + needle.len();
    let rest = text.get(at..)?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
        if out.len() > 4096 {
            return Some(out);
        }
    }
    None
}

/// The text of the JSON array that follows `"key":`.
fn array_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\"");
    let at = text.find(&needle)? + needle.len();
    let rest = text.get(at..)?;
    let open = rest.find('[')?;
    let body = rest.get(open + 1..)?;
    let end = matching_close(body, '[', ']').unwrap_or(body.len());
    body.get(..end)
}

/// The top-level `{...}` objects of an array body.
fn objects(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = list;
    std::iter::from_fn(move || {
        let open = rest.find('{')?;
        let body = rest.get(open + 1..)?;
        let end = matching_close(body, '{', '}').unwrap_or(body.len());
        let obj = body.get(..end)?;
        rest = body.get(end..).unwrap_or_default();
        rest = rest.get(1..).unwrap_or_default();
        Some(obj)
    })
}

/// Offset of the bracket closing an already-opened one, skipping strings.
fn matching_close(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if c == open {
            depth += 1;
        } else if c == close {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_bounce_notification() {
        let text = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent",
            "bouncedRecipients":[{"emailAddress":"Bob@Example.com","action":"failed","status":"5.1.1",
            "diagnosticCode":"smtp; 550 5.1.1 user unknown"},{"emailAddress":"c@example.net"}]}}"#;
        let Some(SesNotice::Bounce {
            bounce_type,
            recipients,
        }) = parse(text)
        else {
            panic!("not a bounce");
        };
        assert_eq!(bounce_type.as_deref(), Some("Permanent"));
        assert_eq!(recipients.len(), 2);
        assert_eq!(recipients[0].address, "bob@example.com");
        assert_eq!(
            recipients[0].diagnostic.as_deref(),
            Some("550 5.1.1 user unknown")
        );
    }

    #[test]
    fn malformed_json_is_not_a_notice() {
        assert_eq!(parse(r#"{"notificationType": 5}"#), None);
        assert!(matches!(
            parse(r#"{"notificationType":"Bounce","bouncedRecipients":[{"emailAddress":"x"#),
            Some(SesNotice::Bounce { .. })
        ));
    }
}
