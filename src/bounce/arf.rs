//! ARF feedback reports (RFC 5965): `multipart/report; report-type=feedback-report`
//! with a `message/feedback-report` part.

use super::headers;
use super::report::ComplaintInfo;
use super::text;

/// Reads the fields of a `message/feedback-report` part (RFC 5965 §3.1/§3.2).
///
/// `original_to` is the To of the attached original, used when the report
/// names no `Original-Rcpt-To` (AOL and others redact it, §3.2 allows it).
pub fn parse(report: &str, original_to: Option<&str>, original_id: Option<&str>) -> ComplaintInfo {
    let mut info = ComplaintInfo::default();
    for line in report.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "feedback-type" if info.feedback_type.is_none() => {
                info.feedback_type = Some(value.to_ascii_lowercase());
            }
            "original-rcpt-to" if info.recipient.is_none() => {
                info.recipient = text::clean_address(value);
            }
            "removal-recipient" if info.recipient.is_none() => {
                info.recipient = text::clean_address(value);
            }
            _ => {}
        }
    }
    if info.recipient.is_none() {
        info.recipient = original_to.and_then(text::clean_address);
    }
    info.original_message_id = original_id.and_then(headers::clean_id);
    info
}

/// Complaint notices of feedback loops that do not use ARF: Microsoft's JMRP
/// sends the complained-about message as a `message/rfc822` attachment whose
/// `X-HmXmrOriginalRecipient` names the complaining user.
pub const JMRP_RECIPIENT_HEADER: &str = "X-HmXmrOriginalRecipient";

/// Subject phrases of non-ARF complaint notices (lower-case).
pub const COMPLAINT_SUBJECTS: &[&str] = &["complaint about message from"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_feedback_fields() {
        let report = "Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\
                      Original-Rcpt-To: <Bob@Example.net>\r\n";
        let info = parse(report, None, Some("<id@x>"));
        assert_eq!(info.feedback_type.as_deref(), Some("abuse"));
        assert_eq!(info.recipient.as_deref(), Some("bob@example.net"));
        assert_eq!(info.original_message_id.as_deref(), Some("id@x"));
    }
}
