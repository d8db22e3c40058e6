//! The generic word table of [`super`]: weaker evidence, consulted after the
//! specific phrases and a specific status code.

use super::super::reason::Reason;

/// Generic words, in priority order: weaker evidence than a specific phrase or
/// a specific status code, so they are consulted after both.
pub(crate) static GENERIC: &[(Reason, &[&str])] = &[
    (
        Reason::UserUnknown,
        &[
            "does not exist",
            "doesn't exist",
            "non-existent",
            "nonexistent",
            "couldn't be found",
            "could not be found",
            "was not found in",
            "no mailbox",
            "is not a valid",
            "no valid recipients",
            "recipient rejected",
            "recipient address rejected",
        ],
    ),
    (
        Reason::ContentError,
        &[
            "improper use of 8-bit data",
            "8-bit data",
            "message header",
            "header error",
            "invalid header",
            "malformed",
            "mime",
            "attachment",
            "content type",
            "message content",
            "content not accepted",
            "encoding",
            "headers are invalid",
            "header too long",
            "line too long",
        ],
    ),
    (
        Reason::Filtered,
        &[
            "filtered",
            "filter",
            "due to recipient's preferences",
            "not accepting mail",
            "recipient does not accept",
            "message refused",
            "user refuses",
            "refused by the recipient",
            "rule imposed",
            "rejected by user",
            "receiving mail from",
        ],
    ),
    (
        Reason::Blocked,
        &[
            "blocked",
            "banned",
            "access denied",
            "has been denied",
            "denied access",
        ],
    ),
    (
        Reason::PolicyViolation,
        &[
            "policy",
            "prohibited",
            "not allowed",
            "not permitted",
            "administratively denied",
            "violat",
            "restricted",
            "denied by",
        ],
    ),
    (
        Reason::SecurityError,
        &[
            "security",
            "insecure",
            "not authorized",
            "unauthorized",
            "permission denied",
        ],
    ),
    (
        Reason::Expired,
        &[
            "gave up",
            "giving up",
            "expired",
            "time limit",
            "timeout exceeded",
        ],
    ),
    (
        Reason::NetworkError,
        &[
            "timed out",
            "dns",
            "unreachable",
            "not reachable",
            "no answer",
            "could not be reached",
        ],
    ),
    (
        Reason::SystemError,
        &[
            "temporary failure",
            "temporary error",
            "temporarily unavailable",
            "service not available",
            "service unavailable",
            "unable to deliver",
            "not responding",
            "interrupted",
            "aborted",
            "can't create",
            "cannot create",
        ],
    ),
    (
        Reason::RateLimited,
        &[
            "try again later",
            "temporarily rejected",
            "resources temporarily unavailable",
        ],
    ),
    (
        Reason::MailerError,
        &[
            "command failed",
            "program failed",
            "exit code",
            "exited with",
            "child process",
        ],
    ),
];
