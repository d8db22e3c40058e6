//! The analysis result: the output contract of `../shared/brief/taxonomy.md`.
//!
//! Every key of the contract is always present: unknown values serialise as
//! `null` (an `Option`) or `[]` (an empty `Vec`).

use serde::Serialize;

/// Version of the JSON contract; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// What an analysed message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A non-delivery or delay report about one or more recipients.
    Bounce,
    /// A success notice (DSN `Action: delivered | relayed | expanded`).
    DeliveryReport,
    /// Out-of-office, vacation notice or another autoresponder.
    AutoReply,
    /// An ARF feedback report (RFC 5965) or a provider's complaint notice.
    Complaint,
    /// Anything else.
    NotBounce,
}

/// DSN action of a failed recipient (RFC 3464 §2.3.3 vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Delivery failed for good.
    Failed,
    /// Delivery is still being retried.
    Delayed,
}

/// Whether the address itself is dead (`Hard`), this delivery failed (`Soft`),
/// or the sender is still retrying (`Pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The address will never accept mail.
    Hard,
    /// This delivery failed for a reason that may pass.
    Soft,
    /// Delayed: the sending side is still retrying.
    Pending,
}

/// What the address deserves, seen in isolation (the policy decides what is done).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendedAction {
    /// Stop mailing the address.
    Suppress,
    /// Try again later.
    RetryLater,
    /// The message content was refused; change it.
    ReviewContent,
    /// SPF / DKIM / DMARC / reverse DNS of the sending side need fixing.
    FixSenderSetup,
    /// The recipient side filters the sender; ask to be allow-listed.
    AskRecipientToAllowlist,
    /// Nothing to do.
    None,
}

/// The headers of the analysed message itself (used later for matching).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageInfo {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To ids without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids without angle brackets.
    pub references: Vec<String>,
    /// The From address.
    pub from: Option<String>,
    /// The decoded Subject.
    pub subject: Option<String>,
    /// The Date header in RFC 3339 (UTC).
    pub date: Option<String>,
}

/// The message that failed, as far as the NDR shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OriginalInfo {
    /// Message-ID of the original message, without angle brackets.
    pub message_id: Option<String>,
    /// Its subject.
    pub subject: Option<String>,
    /// Its From address.
    pub from: Option<String>,
    /// Its To addresses.
    pub to: Vec<String>,
    /// Its Date header in RFC 3339 (UTC).
    pub date: Option<String>,
}

/// One failed or delayed recipient of a bounce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The recipient as it was sent to (Original-Recipient when present).
    pub address: String,
    /// Final-Recipient when it differs from `address`.
    pub final_address: Option<String>,
    /// `failed` or `delayed`.
    pub action: Action,
    /// RFC 3463 enhanced status code, never invented.
    pub status: Option<String>,
    /// The SMTP reply code.
    pub smtp_code: Option<u16>,
    /// Hard / soft / pending, derived from the reason and action.
    pub kind: Kind,
    /// Fine reason (taxonomy name).
    pub reason: Reason,
    /// CRM-facing category of the reason.
    pub category: Category,
    /// The remote server's text, trimmed.
    pub diagnostic: Option<String>,
    /// The MTA that refused the message.
    pub remote_mta: Option<String>,
    /// The MTA that wrote the report.
    pub reporting_mta: Option<String>,
    /// What the address deserves in isolation.
    pub recommended_action: RecommendedAction,
    /// The likely intended address when the domain is a near miss of a big provider.
    pub suggested_address: Option<String>,
}

/// Complaint details (ARF, RFC 5965).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ComplaintInfo {
    /// `Feedback-Type` (abuse, fraud, virus, other, not-spam...).
    pub feedback_type: Option<String>,
    /// The recipient who complained (`Original-Rcpt-To` or the original To).
    pub recipient: Option<String>,
    /// Message-ID of the complained-about message.
    pub original_message_id: Option<String>,
}

/// Auto-reply details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoReplyInfo {
    /// The header or subject marker that made the decision.
    pub marker: String,
}

/// The complete analysis of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The verdict.
    pub verdict: Verdict,
    /// Which parser or family decided (stable free-form names such as `rfc3464`, `postfix`).
    pub format: Option<String>,
    /// A security gateway recognised as the sender of the notice.
    pub gateway: Option<String>,
    /// True when the message exceeded the size cap and only its start was analysed.
    pub truncated: bool,
    /// The analysed message's own headers.
    pub message: MessageInfo,
    /// The original message as far as the NDR shows it.
    pub original: OriginalInfo,
    /// One entry per failed or delayed recipient (bounces only).
    pub recipients: Vec<Recipient>,
    /// Complaint details (complaints only).
    pub complaint: Option<ComplaintInfo>,
    /// Auto-reply details (auto-replies only).
    pub auto_reply: Option<AutoReplyInfo>,
}

impl Report {
    /// An empty `not_bounce` report.
    pub fn not_bounce() -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            verdict: Verdict::NotBounce,
            format: None,
            gateway: None,
            truncated: false,
            message: MessageInfo::default(),
            original: OriginalInfo::default(),
            recipients: Vec::new(),
            complaint: None,
            auto_reply: None,
        }
    }
}

pub use super::reason::{Category, Reason};
