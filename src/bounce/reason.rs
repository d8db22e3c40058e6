//! Reasons, categories and the rules that derive them.
//!
//! The reason of a failed recipient is decided from all the evidence, in this
//! order (taxonomy.md, "Field rules"):
//! 1. the diagnostic text, through the phrase table in [`rules`](super::rules);
//! 2. the enhanced status code ([`from_status`]);
//! 3. nothing found: `undefined` (never a guess).
//!
//! `kind`, `category` and `recommended_action` follow from the reason alone
//! (plus the action and the status class for `kind`).

use serde::Serialize;

use super::report::{Action, Kind, RecommendedAction};

/// Fine reason of a failed delivery (taxonomy.md "Reasons").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    UserUnknown,
    HostUnknown,
    HasMoved,
    NotAccept,
    MailboxFull,
    MailboxDisabled,
    SystemFull,
    MessageTooLarge,
    ExceedLimit,
    SpamDetected,
    VirusDetected,
    ContentError,
    Filtered,
    PolicyViolation,
    AuthFailure,
    BadReputation,
    Blocked,
    RequirePtr,
    Rejected,
    NoRelaying,
    RateLimited,
    Speeding,
    SecurityError,
    FailedStarttls,
    NotCompliantRfc,
    SyntaxError,
    SystemError,
    NetworkError,
    Expired,
    MailerError,
    OnHold,
    Suppressed,
    Undefined,
}

/// CRM-facing group of reasons (taxonomy.md "Categories").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    UnknownUser,
    InvalidDomain,
    MailboxFull,
    MailboxDisabled,
    Content,
    Spam,
    Policy,
    Blocked,
    Temporary,
    Other,
}

impl Reason {
    /// The category this reason is shown under.
    pub fn category(self) -> Category {
        use Reason::*;
        match self {
            UserUnknown | HasMoved => Category::UnknownUser,
            HostUnknown | NotAccept => Category::InvalidDomain,
            MailboxFull => Category::MailboxFull,
            MailboxDisabled => Category::MailboxDisabled,
            MessageTooLarge | ExceedLimit | VirusDetected | ContentError | NotCompliantRfc => {
                Category::Content
            }
            SpamDetected => Category::Spam,
            Filtered | PolicyViolation | AuthFailure | SecurityError | FailedStarttls => {
                Category::Policy
            }
            BadReputation | Blocked | RequirePtr | Rejected | NoRelaying => Category::Blocked,
            SystemFull | RateLimited | Speeding | SystemError | NetworkError | Expired => {
                Category::Temporary
            }
            SyntaxError | MailerError | OnHold | Suppressed | Undefined => Category::Other,
        }
    }

    /// Hard / soft / pending (taxonomy.md "Reasons"): hard only when the address
    /// itself is dead; `pending` whenever the sender is still retrying.
    pub fn kind(self, action: Action, status_class: Option<u8>) -> Kind {
        if action == Action::Delayed {
            return Kind::Pending;
        }
        match self {
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved => Kind::Hard,
            Reason::NotAccept if status_class != Some(4) => Kind::Hard,
            _ => Kind::Soft,
        }
    }

    /// What the address deserves, seen in isolation.
    pub fn recommended_action(self, kind: Kind) -> RecommendedAction {
        use Reason::*;
        if kind == Kind::Pending {
            return RecommendedAction::None;
        }
        match self {
            UserUnknown | HostUnknown | HasMoved | NotAccept => RecommendedAction::Suppress,
            MailboxDisabled | Suppressed => RecommendedAction::Suppress,
            MailboxFull | SystemFull | RateLimited | Speeding | SystemError | NetworkError
            | Expired | OnHold | Undefined | MailerError | SyntaxError => {
                RecommendedAction::RetryLater
            }
            MessageTooLarge | ExceedLimit | VirusDetected | ContentError | NotCompliantRfc
            | SpamDetected => RecommendedAction::ReviewContent,
            AuthFailure | RequirePtr | FailedStarttls | NoRelaying => {
                RecommendedAction::FixSenderSetup
            }
            Filtered | PolicyViolation | BadReputation | Blocked | Rejected | SecurityError => {
                RecommendedAction::AskRecipientToAllowlist
            }
        }
    }
}

/// The reason an enhanced status code stands for when the text says nothing
/// more specific (RFC 3463 §3, RFC 7505, RFC 7372 and the IANA registry).
pub fn from_status(status: &str) -> Option<Reason> {
    let mut it = status.splitn(3, '.');
    let class = it.next()?;
    let subject = it.next()?;
    let detail = it.next()?;
    let reason = match (subject, detail) {
        ("1", "1") | ("1", "3") => Reason::UserUnknown,
        ("1", "2") => Reason::HostUnknown,
        ("1", "4") => Reason::UserUnknown,
        ("1", "6") => Reason::HasMoved,
        ("1", "7") | ("1", "8") => Reason::Rejected,
        ("1", "10") => Reason::NotAccept,
        ("2", "1") => Reason::MailboxDisabled,
        ("2", "2") => Reason::MailboxFull,
        ("2", "3") => Reason::ExceedLimit,
        ("3", "1") => Reason::SystemFull,
        ("3", "4") => Reason::MessageTooLarge,
        ("3", "5") => Reason::SystemError,
        ("3", _) => Reason::SystemError,
        ("4", "1") if class == "4" => Reason::NetworkError,
        ("4", "2") => Reason::NetworkError,
        ("4", "3") => Reason::SystemError,
        ("4", "4") => Reason::HostUnknown,
        ("4", "6") => Reason::SystemError,
        ("4", "7") => Reason::Expired,
        ("5", "3") => Reason::RateLimited,
        ("5", "0") => return None,
        ("5", _) => Reason::SyntaxError,
        ("6", _) => Reason::ContentError,
        ("7", "1") => Reason::SecurityError,
        // RFC 7372: 5.7.23 SPF, 5.7.24 SPF error, 5.7.26 multiple authentication
        // checks failed (DMARC). 5.7.7-5.7.9 are about SMTP AUTH and message
        // integrity, i.e. security, not domain authentication.
        ("7", "23") | ("7", "24") | ("7", "26") => Reason::AuthFailure,
        ("7", "25") => Reason::RequirePtr,
        ("7", "27") => Reason::NotAccept,
        ("7", "10") | ("7", "11") => Reason::FailedStarttls,
        ("7", "13") => Reason::MailboxDisabled,
        ("7", "28") => Reason::SpamDetected,
        ("7", "0") | ("7", "2") | ("7", "3") | ("7", "4") | ("7", "5") | ("7", "6") => {
            Reason::SecurityError
        }
        ("7", _) => Reason::SecurityError,
        _ => return None,
    };
    Some(reason)
}

/// The reason a bare SMTP reply code stands for (RFC 5321 §4.2.2), used only
/// when nothing else is known: the 50x codes are command syntax errors, 552
/// exceeded storage allocation, 554 and 550 say nothing specific.
pub fn from_reply_code(code: u16) -> Option<Reason> {
    match code {
        500..=504 => Some(Reason::SyntaxError),
        421 => Some(Reason::SystemError),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_follows_reason_not_code() {
        assert_eq!(
            Reason::UserUnknown.kind(Action::Failed, Some(4)),
            Kind::Hard
        );
        assert_eq!(
            Reason::SpamDetected.kind(Action::Failed, Some(5)),
            Kind::Soft
        );
        assert_eq!(Reason::NotAccept.kind(Action::Failed, Some(4)), Kind::Soft);
        assert_eq!(Reason::NotAccept.kind(Action::Failed, Some(5)), Kind::Hard);
        assert_eq!(
            Reason::UserUnknown.kind(Action::Delayed, Some(4)),
            Kind::Pending
        );
    }

    #[test]
    fn status_codes_map_to_reasons() {
        assert_eq!(from_status("5.1.1"), Some(Reason::UserUnknown));
        assert_eq!(from_status("4.2.2"), Some(Reason::MailboxFull));
        assert_eq!(from_status("5.7.25"), Some(Reason::RequirePtr));
        assert_eq!(from_status("5.0.0"), None);
        assert_eq!(from_status("garbage"), None);
    }
}
