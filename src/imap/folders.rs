//! LIST with special-use attributes (RFC 6154), names decoded from modified
//! UTF-7 (RFC 3501 §5.1.3).

use async_imap::imap_proto::{MailboxDatum, NameAttribute, Response};

use super::session::Session;
use super::{Error, FolderInfo, utf7};

impl Session {
    /// Every folder: `LIST "" "*"`, asking for special-use attributes with
    /// `RETURN (SPECIAL-USE)` where LIST-EXTENDED allows (RFC 6154 §5.1;
    /// servers without it may still send them, as Dovecot and Gmail do).
    pub async fn folders(&mut self) -> Result<Vec<FolderInfo>, Error> {
        let command = if self.caps.special_use && self.caps.list_extended {
            "LIST \"\" \"*\" RETURN (SPECIAL-USE)"
        } else {
            "LIST \"\" \"*\""
        };
        let mut folders = Vec::new();
        self.run(command, "LIST", |r| {
            if let Some(folder) = folder_info(r) {
                folders.push(folder);
            }
        })
        .await?;
        Ok(folders)
    }
}

/// One LIST response as a [`FolderInfo`]; `None` for other responses.
pub(super) fn folder_info(response: &Response<'_>) -> Option<FolderInfo> {
    let Response::MailboxData(MailboxDatum::List(list)) = response else {
        return None;
    };
    let raw_name = list.name.to_string();
    // RFC 3501 §5.1: INBOX is case-insensitive; name it one way.
    let name = if raw_name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        utf7::decode(&raw_name).unwrap_or_else(|| raw_name.clone())
    };
    let mut special_use = Vec::new();
    let mut selectable = true;
    for attr in &list.name_attributes {
        match attr {
            NameAttribute::NoSelect => selectable = false,
            NameAttribute::All => special_use.push("\\All".to_string()),
            NameAttribute::Archive => special_use.push("\\Archive".to_string()),
            NameAttribute::Drafts => special_use.push("\\Drafts".to_string()),
            NameAttribute::Flagged => special_use.push("\\Flagged".to_string()),
            NameAttribute::Junk => special_use.push("\\Junk".to_string()),
            NameAttribute::Sent => special_use.push("\\Sent".to_string()),
            NameAttribute::Trash => special_use.push("\\Trash".to_string()),
            NameAttribute::Extension(ext) => {
                // RFC 5258 §3.4: a \NonExistent name cannot be selected.
                if ext.eq_ignore_ascii_case("\\NonExistent") {
                    selectable = false;
                } else if ext.eq_ignore_ascii_case("\\Important") {
                    // RFC 8457's special use (Gmail).
                    special_use.push("\\Important".to_string());
                } else if ext.eq_ignore_ascii_case("\\Spam") {
                    // Some servers spell Junk this way (pre-RFC 6154 XLIST).
                    special_use.push("\\Junk".to_string());
                }
            }
            _ => {}
        }
    }
    Some(FolderInfo {
        name,
        raw_name,
        delimiter: list.delimiter.as_ref().map(|d| d.to_string()),
        special_use,
        selectable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::imap_proto::MailboxListData;
    use std::borrow::Cow;

    fn list(name: &str, attrs: Vec<NameAttribute<'static>>) -> Option<FolderInfo> {
        folder_info(&Response::MailboxData(MailboxDatum::List(
            MailboxListData {
                name_attributes: attrs,
                delimiter: Some(Cow::Borrowed("/")),
                name: Cow::Owned(name.to_string()),
            },
        )))
    }

    #[test]
    fn decodes_names_and_attributes() {
        let junk = list("Spam", vec![NameAttribute::Junk]).unwrap();
        assert!(junk.has_special_use("\\junk") && junk.selectable);
        let drafts = list("Entw&APw-rfe", vec![NameAttribute::Drafts]).unwrap();
        assert_eq!(drafts.name, "Entwürfe");
        assert_eq!(drafts.raw_name, "Entw&APw-rfe");
        let parent = list("[Gmail]", vec![NameAttribute::NoSelect]).unwrap();
        assert!(!parent.selectable);
        let gone = list(
            "x",
            vec![NameAttribute::Extension(Cow::Borrowed("\\NonExistent"))],
        )
        .unwrap();
        assert!(!gone.selectable);
        // Not valid modified UTF-7: the raw name stands.
        assert_eq!(list("bad&", vec![]).unwrap().name, "bad&");
        assert_eq!(list("inbox", vec![]).unwrap().name, "INBOX");
    }
}
