//! The two-step fetch. Step 1 ([`Session::fetch_heads`]) reads what the
//! pre-filter needs (header block, MIME structure, size, arrival time) for
//! every new message; step 2 ([`Session::fetch_bodies`]) reads the first
//! bytes of the candidates. Both use `BODY.PEEK`, which never sets `\Seen`
//! (RFC 3501 §6.4.5), and UID sets sent compactly and in batches.
//!
//! Server data is taken best-effort: a FETCH response without a UID, or for
//! a UID not asked for (an unsolicited flag update), is skipped; missing
//! items leave their field empty.

use std::collections::{BTreeMap, HashSet};

use async_imap::imap_proto::{
    AttributeValue, BodyStructure, MessageSection, Response, SectionPath,
};

use super::date::internal_date_to_rfc3339;
use super::session::Session;
use super::{Error, Head};

/// UIDs per UID FETCH in step 1 (keeps command lines and responses bounded).
const HEAD_BATCH: usize = 500;
/// UIDs per UID FETCH in step 2 (bodies can be up to the size cap each).
const BODY_BATCH: usize = 20;
/// BODYSTRUCTURE nesting deeper than this is not walked (hostile input).
const MAX_DEPTH: usize = 32;

/// The UIDs as a compact IMAP sequence set (RFC 3501 §9 `sequence-set`):
/// sorted, de-duplicated, runs as ranges — `[1,2,3,5,7,8]` → `1:3,5,7:8`.
///
/// ```
/// assert_eq!(rebound::imap::compact_uid_set(&[8, 1, 2, 3, 5, 7, 2]), "1:3,5,7:8");
/// ```
pub fn compact_uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut iter = sorted.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while let Some(&next) = iter.peek() {
            if Some(next) == end.checked_add(1) {
                end = next;
                iter.next();
            } else {
                break;
            }
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
    }
    out
}

/// Splits UIDs (sorted and de-duplicated first) into compact sets of at most
/// `per_batch` UIDs each.
///
/// ```
/// assert_eq!(rebound::imap::uid_batches(&[5, 1, 2, 3], 2), vec!["1:2", "3,5"]);
/// ```
pub fn uid_batches(uids: &[u32], per_batch: usize) -> Vec<String> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
        .chunks(per_batch.max(1))
        .map(compact_uid_set)
        .collect()
}

impl Session {
    /// Step 1 for `uids` in the examined folder: `UID FETCH <set> (UID
    /// INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER])`, in batches
    /// of 500. Returns one [`Head`] per message the server still has, by UID.
    pub async fn fetch_heads(&mut self, uids: &[u32]) -> Result<Vec<Head>, Error> {
        self.heads(uids, "BODYSTRUCTURE ").await
    }

    /// Step 1 without BODYSTRUCTURE, for a message whose structure the
    /// client could not read (a server's malformed BODYSTRUCTURE kills the
    /// session, see [`Error::Closed`]): its `content_types` stay empty, so the
    /// caller fetches it whole rather than guess.
    pub async fn fetch_heads_without_structure(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<Head>, Error> {
        self.heads(uids, "").await
    }

    async fn heads(&mut self, uids: &[u32], structure: &str) -> Result<Vec<Head>, Error> {
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut heads: BTreeMap<u32, Head> = BTreeMap::new();
        for set in uid_batches(uids, HEAD_BATCH) {
            let command = format!(
                "UID FETCH {set} (UID INTERNALDATE RFC822.SIZE {structure}BODY.PEEK[HEADER])"
            );
            self.run(&command, "UID FETCH (headers)", |r| {
                if let Some((uid, attrs)) = fetch_attrs(r, &wanted) {
                    let head = heads.entry(uid).or_insert_with(|| Head {
                        uid,
                        ..Head::default()
                    });
                    merge_head(head, attrs);
                }
            })
            .await?;
        }
        Ok(heads.into_values().collect())
    }

    /// Step 2: the first `max_bytes` of each message (`BODY.PEEK[]<0.max>`,
    /// RFC 3501 §6.4.5 partial fetch), in batches of 20. `max_bytes == 0`
    /// fetches whole messages. Returns `(uid, bytes)` for the messages the
    /// server still has, by UID.
    pub async fn fetch_bodies(
        &mut self,
        uids: &[u32],
        max_bytes: usize,
    ) -> Result<Vec<(u32, Vec<u8>)>, Error> {
        let item = if max_bytes == 0 {
            "BODY.PEEK[]".to_string()
        } else {
            format!("BODY.PEEK[]<0.{max_bytes}>")
        };
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut bodies: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for set in uid_batches(uids, BODY_BATCH) {
            let command = format!("UID FETCH {set} (UID {item})");
            self.run(&command, "UID FETCH (bodies)", |r| {
                let Some((uid, attrs)) = fetch_attrs(r, &wanted) else {
                    return;
                };
                for attr in attrs {
                    let data = match attr {
                        AttributeValue::BodySection {
                            section: None,
                            data: Some(data),
                            ..
                        } => data,
                        AttributeValue::Rfc822(Some(data)) => data,
                        _ => continue,
                    };
                    let mut bytes = data.to_vec();
                    // A server that ignores the partial range is capped here.
                    if max_bytes > 0 {
                        bytes.truncate(max_bytes);
                    }
                    bodies.insert(uid, bytes);
                }
            })
            .await?;
        }
        Ok(bodies.into_iter().collect())
    }
}

/// The UID and attributes of a FETCH response for one of `wanted`.
fn fetch_attrs<'r, 'a>(
    response: &'r Response<'a>,
    wanted: &HashSet<u32>,
) -> Option<(u32, &'r [AttributeValue<'a>])> {
    let Response::Fetch(_, attrs) = response else {
        return None;
    };
    let uid = attrs.iter().find_map(|a| match a {
        AttributeValue::Uid(uid) => Some(*uid),
        _ => None,
    })?;
    wanted.contains(&uid).then_some((uid, attrs.as_slice()))
}

fn merge_head(head: &mut Head, attrs: &[AttributeValue<'_>]) {
    for attr in attrs {
        match attr {
            AttributeValue::InternalDate(text) => {
                head.internal_date = internal_date_to_rfc3339(text);
            }
            AttributeValue::Rfc822Size(size) => head.size = u64::from(*size),
            AttributeValue::BodyStructure(structure) => {
                head.content_types.clear();
                collect_types(structure, 0, &mut head.content_types);
            }
            AttributeValue::BodySection {
                section: Some(SectionPath::Full(MessageSection::Header)),
                data: Some(data),
                ..
            }
            | AttributeValue::Rfc822Header(Some(data)) => head.header = data.to_vec(),
            _ => {}
        }
    }
}

/// Every part's `type/subtype`, lower-case, depth-first: a container before
/// its children, an embedded message's body after the message part.
fn collect_types(structure: &BodyStructure<'_>, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    let common = match structure {
        BodyStructure::Basic { common, .. }
        | BodyStructure::Text { common, .. }
        | BodyStructure::Message { common, .. }
        | BodyStructure::Multipart { common, .. } => common,
    };
    out.push(format!("{}/{}", common.ty.ty, common.ty.subtype).to_ascii_lowercase());
    match structure {
        BodyStructure::Multipart { bodies, .. } => {
            for body in bodies {
                collect_types(body, depth + 1, out);
            }
        }
        BodyStructure::Message { body, .. } => collect_types(body, depth + 1, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction() {
        assert_eq!(compact_uid_set(&[]), "");
        assert_eq!(compact_uid_set(&[42]), "42");
        assert_eq!(compact_uid_set(&[3, 2, 1]), "1:3");
        assert_eq!(compact_uid_set(&[1, 3, 5]), "1,3,5");
        assert_eq!(compact_uid_set(&[1, 2, 4, 5, 6, 9, 9]), "1:2,4:6,9");
        assert_eq!(
            compact_uid_set(&[u32::MAX - 1, u32::MAX, 1]),
            format!("1,{}:{}", u32::MAX - 1, u32::MAX)
        );
        let many: Vec<u32> = (1..=10_000).filter(|u| u % 1000 != 0).collect();
        let set = compact_uid_set(&many);
        assert_eq!(set.split(',').count(), 10);
        assert!(set.starts_with("1:999,1001:1999,"));
    }

    #[test]
    fn batching() {
        let uids: Vec<u32> = (1..=1201).collect();
        let batches = uid_batches(&uids, 500);
        assert_eq!(batches, vec!["1:500", "501:1000", "1001:1201"]);
        assert!(uid_batches(&[], 500).is_empty());
        assert_eq!(uid_batches(&[7, 7, 7], 0), vec!["7"]);
    }
}
