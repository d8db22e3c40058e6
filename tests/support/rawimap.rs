//! A minimal IMAP client over plain TCP for the test harness itself
//! (APPEND, flag checks, STATUS, IDLE), independent of `rebound::imap` so that
//! tests of the client do not rest on the client under test.
//!
//! It speaks to the harness Dovecot's plaintext port on 127.0.0.1 only and
//! panics on anything unexpected: it is test scaffolding.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const TIMEOUT: Duration = Duration::from_secs(30);

/// One connection, logged in.
pub struct RawImap {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_tag: u32,
}

/// A command's result: the untagged lines (literals inlined) and the tagged line.
pub struct Reply {
    /// Untagged responses, `* ...`, each with its literals appended.
    pub untagged: Vec<String>,
    /// The tagged completion line, without the tag.
    pub done: String,
}

/// Quotes a string for IMAP (RFC 3501 §4.3 quoted string).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl RawImap {
    /// Connects to 127.0.0.1:`port` and logs in with LOGIN.
    pub async fn login(port: u16, user: &str, password: &str) -> RawImap {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("raw IMAP connect timed out")
            .expect("raw IMAP connect");
        let (r, w) = stream.into_split();
        let mut imap = RawImap {
            reader: BufReader::new(r),
            writer: w,
            next_tag: 1,
        };
        let greeting = read_line(&mut imap.reader).await;
        assert!(
            greeting.starts_with("* OK"),
            "unexpected greeting: {greeting}"
        );
        imap.ok(&format!("LOGIN {} {}", quote(user), quote(password)))
            .await;
        imap
    }

    fn tag(&mut self) -> String {
        let tag = format!("h{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Runs a command and returns its reply; panics unless it ends in OK.
    pub async fn ok(&mut self, command: &str) -> Reply {
        let reply = self.run(command).await;
        assert!(
            reply.done.starts_with("OK"),
            "raw IMAP command `{command}` failed: {}",
            reply.done
        );
        reply
    }

    /// Runs a command and returns its reply, whatever its status.
    pub async fn run(&mut self, command: &str) -> Reply {
        let tag = self.tag();
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .expect("raw IMAP write");
        collect(&mut self.reader, &tag).await
    }

    /// APPENDs `messages` to the mailbox `raw_folder` (modified UTF-7) in
    /// one MULTIAPPEND command (RFC 3502: one transaction, which Dovecot
    /// saves far faster than one APPEND per message), with non-synchronising
    /// literals (RFC 7888 LITERAL+). Returns the new UIDs (RFC 4315
    /// APPENDUID) in order.
    pub async fn append_many(&mut self, raw_folder: &str, messages: Vec<Vec<u8>>) -> Vec<u32> {
        let tag = self.tag();
        let mut buf = Vec::with_capacity(messages.iter().map(|m| m.len() + 16).sum::<usize>() + 64);
        buf.extend_from_slice(format!("{tag} APPEND {}", quote(raw_folder)).as_bytes());
        for msg in &messages {
            buf.extend_from_slice(format!(" {{{}+}}\r\n", msg.len()).as_bytes());
            buf.extend_from_slice(msg);
        }
        buf.extend_from_slice(b"\r\n");
        let writer = &mut self.writer;
        let reader = &mut self.reader;
        // Write while reading, so a server that answers early cannot
        // deadlock a large write.
        let write = async move {
            writer.write_all(&buf).await.expect("raw IMAP append write");
            writer.flush().await.expect("raw IMAP flush");
        };
        let ((), reply) = tokio::join!(write, collect(reader, &tag));
        assert!(
            reply.done.starts_with("OK"),
            "APPEND failed: {}",
            reply.done
        );
        let uids = appenduids(&reply.done).expect("APPENDUID in the APPEND reply");
        assert_eq!(
            uids.len(),
            messages.len(),
            "APPENDUID count: {}",
            reply.done
        );
        uids
    }
}

impl RawImap {
    /// Enters IDLE (RFC 2177) on the selected mailbox and returns its tag
    /// once the server's continuation (`+ idling`) has arrived.
    pub async fn idle_start(&mut self) -> String {
        let tag = self.tag();
        self.writer
            .write_all(format!("{tag} IDLE\r\n").as_bytes())
            .await
            .expect("raw IMAP write");
        loop {
            let line = read_response(&mut self.reader).await;
            if line.starts_with('+') {
                return tag;
            }
            assert!(line.starts_with('*'), "IDLE refused: {line}");
        }
    }

    /// While idling: the next untagged response (`* 3 EXISTS`, `* OK Still
    /// here`, ...). Panics after 30 s without one.
    pub async fn idle_next(&mut self) -> String {
        read_response(&mut self.reader).await
    }

    /// Ends IDLE (`DONE`) and waits for the IDLE command's completion.
    pub async fn idle_done(&mut self, tag: &str) -> Reply {
        self.writer
            .write_all(b"DONE\r\n")
            .await
            .expect("raw IMAP write");
        collect(&mut self.reader, tag).await
    }
}

/// The UIDs in `OK [APPENDUID <validity> <uid-set>] ...`.
fn appenduids(done: &str) -> Option<Vec<u32>> {
    let rest = done.split("[APPENDUID ").nth(1)?;
    let mut parts = rest.split([' ', ']']);
    let _validity = parts.next()?;
    let mut uids = Vec::new();
    for range in parts.next()?.split(',') {
        match range.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                uids.extend(a.min(b)..=a.max(b));
            }
            None => uids.push(range.parse().ok()?),
        }
    }
    Some(uids)
}
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> String {
    let mut line = String::new();
    let n = tokio::time::timeout(TIMEOUT, reader.read_line(&mut line))
        .await
        .expect("raw IMAP read timed out")
        .expect("raw IMAP read");
    assert!(n > 0, "raw IMAP: server closed the connection");
    line
}

/// Reads one response line with any literals (`{n}`) it announces inlined.
async fn read_response(reader: &mut BufReader<OwnedReadHalf>) -> String {
    let mut full = String::new();
    loop {
        let line = read_line(reader).await;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        full.push_str(trimmed);
        let literal = trimmed
            .strip_suffix('}')
            .and_then(|t| t.rsplit_once('{'))
            .and_then(|(_, n)| n.trim_end_matches('+').parse::<usize>().ok());
        match literal {
            Some(n) => {
                let mut buf = vec![0u8; n];
                tokio::time::timeout(TIMEOUT, reader.read_exact(&mut buf))
                    .await
                    .expect("raw IMAP literal timed out")
                    .expect("raw IMAP literal");
                full.push_str(&String::from_utf8_lossy(&buf));
            }
            None => return full,
        }
    }
}

/// Reads responses up to the one tagged `tag`.
async fn collect(reader: &mut BufReader<OwnedReadHalf>, tag: &str) -> Reply {
    let mut untagged = Vec::new();
    let prefix = format!("{tag} ");
    loop {
        let line = read_response(reader).await;
        if let Some(done) = line.strip_prefix(&prefix) {
            return Reply {
                untagged,
                done: done.to_string(),
            };
        }
        untagged.push(line);
    }
}
