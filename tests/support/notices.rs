//! Bounce notices the tests and benchmarks append (small RFC 3464 reports
//! whose `In-Reply-To` names the tracked message they are about), and the
//! tracked messages they are about.

use rebound::track::{TrackSource, TrackedMessage, TrackedRecipient};

/// What the CRM sent: `id` to `to` from account `acme`, inbox `sales`, at
/// `sent_at`, registered through the API, no contact id or metadata.
pub fn tracked(id: &str, to: &str, sent_at: i64) -> TrackedMessage {
    TrackedMessage {
        account: "acme".into(),
        inbox: "sales".into(),
        message_id: id.into(),
        recipients: vec![TrackedRecipient {
            address: to.into(),
            contact_id: None,
        }],
        subject: Some("Quote".into()),
        sent_at,
        metadata: serde_json::json!({}),
        source: TrackSource::Api,
    }
}

/// A delivery-status report about `original` (a Message-ID without angle
/// brackets) for `address`: hard (5.1.1, user unknown) or soft (4.2.2,
/// mailbox full); `id` is the notice's own Message-ID.
pub fn ndr(id: &str, original: &str, address: &str, hard: bool) -> Vec<u8> {
    let (status, diag) = if hard {
        ("5.1.1", "smtp; 550 5.1.1 User unknown")
    } else {
        ("4.2.2", "smtp; 452 4.2.2 Mailbox full: user is over quota")
    };
    format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.net\r\nTo: alice@acme.example\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <{id}>\r\nIn-Reply-To: <{original}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
         Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: {status}\r\n\
         Diagnostic-Code: {diag}\r\n\r\n--B--\r\n"
    )
    .into_bytes()
}
