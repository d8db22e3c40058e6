//! A local Maildir tree as a mail source (on-prem setups and the bundled
//! demo), read-only: files are listed and read, never renamed, flagged or
//! removed.
//!
//! Layout (Maildir++, as Dovecot and Courier write it): the root's `cur/` and
//! `new/` are INBOX; a folder `Name` lives in `.Name/` beside them.
//!
//! Maildir has no UIDs. Its checkpoint uses the same two numbers as IMAP:
//! UIDVALIDITY is fixed at 1, and the "last UID" is a watermark of file
//! modification times (Unix seconds). A delivery agent writes a new file with
//! the current time, so everything newer than the watermark is new; files
//! with the watermark's own second are read again on the next scan, and the
//! store's finding identities keep their findings from being handed on twice.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::source::FolderRole;

/// The fixed UIDVALIDITY of a Maildir folder.
pub const UIDVALIDITY: u32 = 1;

/// A header block larger than this is cut (hostile or broken files).
const MAX_HEADER_BYTES: usize = 256 * 1024;

/// A folder of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The name as configured (`INBOX`, `Junk`, `Sent`).
    pub name: String,
    /// What it is for.
    pub role: FolderRole,
    /// Its directory (holding `cur/` and `new/`).
    pub path: PathBuf,
}

/// One message file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file.
    pub path: PathBuf,
    /// Modification time, Unix seconds (the watermark unit).
    pub mtime: u32,
    /// Size in bytes.
    pub size: u64,
}

/// Why a Maildir could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root is missing or not a Maildir.
    #[error("{path} is not a Maildir (expected cur/ and new/ inside): {reason}")]
    NotMaildir {
        /// The configured root.
        path: String,
        /// What was found instead.
        reason: String,
    },
    /// A directory could not be listed.
    #[error("cannot list {path}: {source}")]
    List {
        /// The directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The role a folder name implies.
pub fn role_of(name: &str, sent: Option<&str>) -> FolderRole {
    if name.eq_ignore_ascii_case("INBOX") {
        FolderRole::Inbox
    } else if sent.is_some_and(|s| s == name) {
        FolderRole::Sent
    } else if ["junk", "spam", "junk e-mail", "junk email"]
        .iter()
        .any(|j| name.eq_ignore_ascii_case(j))
    {
        FolderRole::Junk
    } else {
        FolderRole::Other
    }
}

/// The folders to read: the watched ones and the sent folder, those that
/// exist. The root itself must be a Maildir.
pub fn folders(root: &Path, watch: &[String], sent: Option<&str>) -> Result<Vec<Folder>, Error> {
    if !root.join("cur").is_dir() || !root.join("new").is_dir() {
        let reason = if root.exists() {
            "cur/ or new/ is missing".to_string()
        } else {
            "it does not exist".to_string()
        };
        return Err(Error::NotMaildir {
            path: root.display().to_string(),
            reason,
        });
    }
    let mut out = Vec::new();
    // Sent first: a notice is matched against what was tracked before it,
    // so the sends of this scan must be tracked before its notices are read.
    let names = sent
        .into_iter()
        .filter(|s| !watch.iter().any(|w| w == s))
        .chain(watch.iter().map(String::as_str));
    for name in names {
        if out.iter().any(|f: &Folder| f.name == name) {
            continue;
        }
        let path = if name.eq_ignore_ascii_case("INBOX") {
            root.to_path_buf()
        } else {
            root.join(format!(".{name}"))
        };
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            out.push(Folder {
                name: name.to_string(),
                role: role_of(name, sent),
                path,
            });
        }
    }
    Ok(out)
}

/// Every message file of a folder (`new/` and `cur/`; hidden files skipped),
/// ordered by modification time, then path.
pub fn list(folder: &Folder) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let dir = folder.path.join(sub);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(Error::List {
                    path: dir.display().to_string(),
                    source,
                });
            }
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
            out.push(Entry {
                path: entry.path(),
                mtime,
                size: meta.len(),
            });
        }
    }
    out.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// Reads a file up to `max_bytes`; `None` when it vanished meanwhile (moved
/// by the user's client between listing and reading).
pub fn read(path: &Path, max_bytes: usize) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut out = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut out).ok()?;
    Some(out)
}

/// The header block of a message (up to and including the first empty
/// line), bounded.
pub fn header_block(raw: &[u8]) -> &[u8] {
    let bounded = raw.get(..MAX_HEADER_BYTES).unwrap_or(raw);
    for (i, window) in bounded.windows(2).enumerate() {
        let end = match window {
            b"\n\n" => i + 2,
            b"\n\r" if bounded.get(i + 2) == Some(&b'\n') => i + 3,
            b"\r\r" if bounded.get(i + 2) != Some(&b'\n') => i + 2,
            _ => continue,
        };
        return bounded.get(..end).unwrap_or(bounded);
    }
    bounded
}

/// RFC 3339 UTC of Unix seconds.
pub fn rfc3339(secs: u32) -> String {
    crate::time::rfc3339(i64::from(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_ends_at_the_first_empty_line() {
        assert_eq!(
            header_block(b"A: b\r\nC: d\r\n\r\nbody"),
            b"A: b\r\nC: d\r\n\r\n"
        );
        assert_eq!(header_block(b"A: b\n\nbody\n\n"), b"A: b\n\n");
        assert_eq!(header_block(b"A: b\rC: d\r\rbody"), b"A: b\rC: d\r\r");
        assert_eq!(header_block(b"no end"), b"no end");
    }

    #[test]
    fn roles_follow_names() {
        assert_eq!(role_of("INBOX", Some("Sent")), FolderRole::Inbox);
        assert_eq!(role_of("Sent", Some("Sent")), FolderRole::Sent);
        assert_eq!(role_of("Junk", Some("Sent")), FolderRole::Junk);
        assert_eq!(role_of("Archive", None), FolderRole::Other);
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
