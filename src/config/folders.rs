//! Which folders an inbox reads: the watched ones and the sent folder.
//!
//! `folders` is a list (the watched folders) or a mapping `{ watch, sent }`;
//! the sent folder may also be given as the inbox's `sent`. For IMAP a name
//! with a leading backslash is an RFC 6154 special-use attribute, found on
//! the server at connect time; for Maildir `INBOX` is the Maildir root and
//! any other name a Maildir++ subfolder `.Name`.

use super::FolderRef;
use super::model::FoldersModel;
use super::resolve::Problems;

/// The special-use attributes of RFC 6154 §2, as the RFC spells them.
const SPECIAL_USE: [&str; 7] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// How folder names are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FolderStyle {
    /// IMAP mailbox names and special-use attributes.
    Imap,
    /// Maildir++ folder names.
    Maildir,
}

/// The watched folders and the sent folder (`None`: sent mail is not read);
/// `None` when there is a problem (recorded).
pub(crate) fn resolve(
    folders: Option<&FoldersModel>,
    sent: Option<&str>,
    track_sent: bool,
    style: FolderStyle,
    at: &str,
    problems: &mut Problems,
) -> Option<(Vec<FolderRef>, Option<FolderRef>)> {
    let mut ok = true;
    let (watch, watch_path, map_sent) = match folders {
        None => (None, String::new(), None),
        Some(FoldersModel::List(list)) => (Some(list), format!("{at}.folders"), None),
        Some(FoldersModel::Map(map)) => (
            map.watch.as_ref(),
            format!("{at}.folders.watch"),
            map.sent.as_deref(),
        ),
    };

    let watched = match watch {
        None => default_watch(style),
        Some(list) if list.is_empty() => {
            problems.push(
                watch_path.clone(),
                "lists no folder: an inbox watches at least one",
            );
            ok = false;
            Vec::new()
        }
        Some(list) => {
            let mut watched: Vec<FolderRef> = Vec::with_capacity(list.len());
            for (index, name) in list.iter().enumerate() {
                let path = format!("{watch_path}[{index}]");
                match folder(name, style) {
                    Ok(folder) if watched.contains(&folder) => {
                        problems.push(path, format!("\"{name}\" is listed twice"));
                        ok = false;
                    }
                    Ok(folder) => watched.push(folder),
                    Err(message) => {
                        problems.push(path, message);
                        ok = false;
                    }
                }
            }
            watched
        }
    };

    let given_sent = match (sent, map_sent) {
        (Some(_), Some(_)) => {
            problems.push(
                format!("{at}.sent"),
                "give the sent folder once: here or as folders.sent",
            );
            ok = false;
            None
        }
        (Some(name), None) => Some((name, format!("{at}.sent"))),
        (None, Some(name)) => Some((name, format!("{at}.folders.sent"))),
        (None, None) => None,
    };
    let sent = match (given_sent, track_sent) {
        (Some((_, path)), false) => {
            problems.push(path, "names a sent folder but track_sent_folder is false");
            ok = false;
            None
        }
        (None, false) => None,
        (None, true) => Some(default_sent(style)),
        (Some((name, path)), true) => {
            match folder(name, style) {
                Ok(folder) if watched.contains(&folder) => {
                    problems.push(
                    path,
                    format!("\"{name}\" is also watched: sent mail feeds tracking, not bounce detection"),
                );
                    ok = false;
                    None
                }
                Ok(folder) => Some(folder),
                Err(message) => {
                    problems.push(path, message);
                    ok = false;
                    None
                }
            }
        }
    };
    ok.then_some((watched, sent))
}

fn default_watch(style: FolderStyle) -> Vec<FolderRef> {
    match style {
        FolderStyle::Imap => vec![
            FolderRef::Name("INBOX".to_owned()),
            FolderRef::SpecialUse("\\Junk".to_owned()),
        ],
        FolderStyle::Maildir => vec![
            FolderRef::Name("INBOX".to_owned()),
            FolderRef::Name("Junk".to_owned()),
        ],
    }
}

fn default_sent(style: FolderStyle) -> FolderRef {
    match style {
        FolderStyle::Imap => FolderRef::SpecialUse("\\Sent".to_owned()),
        FolderStyle::Maildir => FolderRef::Name("Sent".to_owned()),
    }
}

/// One folder as written.
fn folder(name: &str, style: FolderStyle) -> Result<FolderRef, String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{name:?} contains control characters"));
    }
    if let Some(attribute) = name.strip_prefix('\\') {
        return match style {
            FolderStyle::Imap => SPECIAL_USE
                .iter()
                .find(|known| {
                    known
                        .get(1..)
                        .is_some_and(|k| k.eq_ignore_ascii_case(attribute))
                })
                .map(|known| FolderRef::SpecialUse((*known).to_owned()))
                .ok_or_else(|| {
                    format!(
                        "unknown special-use attribute \"{name}\" (RFC 6154: {})",
                        SPECIAL_USE.join(", ")
                    )
                }),
            FolderStyle::Maildir => Err(format!(
                "\"{name}\": special-use attributes are for IMAP; name the Maildir folder (e.g. Junk)"
            )),
        };
    }
    // RFC 3501 §5.1: INBOX is case-insensitive, every other name is not.
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok(FolderRef::Name("INBOX".to_owned()));
    }
    if style == FolderStyle::Maildir && (name.starts_with('.') || name.contains('/')) {
        return Err(format!(
            "\"{name}\" is not a Maildir++ folder name: write it without the leading dot and without `/` \
             (e.g. Junk for .Junk, Archive.2024 for .Archive.2024)"
        ));
    }
    Ok(FolderRef::Name(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_use_attributes_are_canonical() {
        assert_eq!(
            folder("\\junk", FolderStyle::Imap),
            Ok(FolderRef::SpecialUse("\\Junk".into()))
        );
        assert!(
            folder("\\Spam", FolderStyle::Imap)
                .unwrap_err()
                .contains("RFC 6154")
        );
        assert!(folder("\\Junk", FolderStyle::Maildir).is_err());
    }

    #[test]
    fn inbox_in_any_case_and_maildir_names() {
        assert_eq!(
            folder("inbox", FolderStyle::Imap),
            Ok(FolderRef::Name("INBOX".into()))
        );
        assert_eq!(
            folder("Archive.2024", FolderStyle::Maildir),
            Ok(FolderRef::Name("Archive.2024".into()))
        );
        assert!(folder(".Junk", FolderStyle::Maildir).is_err());
        assert!(folder("../etc", FolderStyle::Maildir).is_err());
        assert_eq!(
            folder("[Gmail]/Spam", FolderStyle::Imap),
            Ok(FolderRef::Name("[Gmail]/Spam".into()))
        );
    }
}
