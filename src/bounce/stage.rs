//! The SMTP command a failure answered (RFC 5321 §4.1.1), read from the notice.
//!
//! MTAs say it in words ("in reply to end of DATA command", "after RCPT TO")
//! or show it in a session transcript (`>>> DATA` followed by `<<< 550 ...`).

use std::sync::LazyLock;

use super::text::{PhraseSet, find_ci};

/// The stage of the SMTP dialogue at which the remote server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Connection or greeting.
    Connect,
    /// `HELO`/`EHLO`.
    Helo,
    /// `MAIL FROM`: the envelope sender was refused.
    MailFrom,
    /// `RCPT TO`: the recipient was refused.
    RcptTo,
    /// `DATA` or end of data: the message was refused after the recipient was accepted.
    Data,
}

/// Phrases naming the command in prose, with the stage they name.
const REPLY_CONTEXT: &[(&str, Stage)] = &[
    ("in reply to end of data command", Stage::Data),
    ("in reply to data command", Stage::Data),
    ("after end of data", Stage::Data),
    ("after data", Stage::Data),
    ("in reply to mail from command", Stage::MailFrom),
    ("after mail from", Stage::MailFrom),
    ("in reply to rcpt to command", Stage::RcptTo),
    ("after rcpt to", Stage::RcptTo),
    ("in reply to helo command", Stage::Helo),
    ("in reply to ehlo command", Stage::Helo),
    ("after helo", Stage::Helo),
    ("after ehlo", Stage::Helo),
    ("after initial connection", Stage::Connect),
    ("in reply to initial greeting", Stage::Connect),
];

/// The stage named in prose within `text`.
pub fn from_reply_context(text: &str) -> Option<Stage> {
    static FINDER: LazyLock<PhraseSet> = LazyLock::new(|| {
        let phrases: Vec<&str> = REPLY_CONTEXT.iter().map(|(p, _)| *p).collect();
        PhraseSet::new(&phrases)
    });
    let index = FINDER.first_listed(text)?;
    REPLY_CONTEXT.get(index).map(|(_, stage)| *stage)
}

/// The stage of the last `>>> COMMAND` line before the `<<<` answer that
/// names `address` in a session transcript. When the notice concerns only
/// this recipient (`sole`), the first `<<<` error answer counts even if it
/// does not repeat the address (`<<< 550 : User unknown`).
pub fn from_transcript(transcript: &str, address: &str, sole: bool) -> Option<Stage> {
    let mut last: Option<Stage> = None;
    for line in transcript.lines().take(5000) {
        let trimmed = line.trim_start();
        if let Some(command) = trimmed.strip_prefix(">>>") {
            last = command_stage(command.trim_start());
        } else if let Some(answer) = trimmed.strip_prefix("<<<") {
            let is_error = matches!(answer.trim_start().as_bytes().first(), Some(b'4' | b'5'));
            if find_ci(trimmed, address).is_some() || (sole && is_error) {
                return last;
            }
        }
    }
    None
}

fn command_stage(command: &str) -> Option<Stage> {
    let upper: String = command
        .chars()
        .take(9)
        .collect::<String>()
        .to_ascii_uppercase();
    if upper.starts_with("DATA") || upper.starts_with('.') {
        Some(Stage::Data)
    } else if upper.starts_with("MAIL") {
        Some(Stage::MailFrom)
    } else if upper.starts_with("RCPT") {
        Some(Stage::RcptTo)
    } else if upper.starts_with("HELO") || upper.starts_with("EHLO") {
        Some(Stage::Helo)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prose_and_transcripts() {
        assert_eq!(
            from_reply_context("550 User unknown (in reply to end of DATA command)"),
            Some(Stage::Data)
        );
        let transcript = ">>> RCPT To:<a@x.example>\n<<< 250 ok\n>>> DATA\n<<< 550 5.1.1 <a@x.example>... User unknown\n";
        assert_eq!(
            from_transcript(transcript, "a@x.example", false),
            Some(Stage::Data)
        );
        assert_eq!(from_transcript(transcript, "b@x.example", false), None);
        let bare = ">>> DATA\n<<< 550 : User unknown\n";
        assert_eq!(
            from_transcript(bare, "a@x.example", true),
            Some(Stage::Data)
        );
        assert_eq!(from_transcript(bare, "a@x.example", false), None);
    }
}
