//! The pre-filter's recall through a real IMAP server: every message the
//! analysis classifies as a notice (bounce, delivery report, complaint,
//! auto-reply) must be picked as a candidate from what the first fetch steps
//! return (the header block; then Dovecot's BODYSTRUCTURE for the messages
//! whose top-level type can nest a report), or it would never be fetched
//! whole.
//!
//! Runs over the golden fixtures and the demo Maildir; set
//! `REBOUND_PREFILTER_DIR` to add a directory (scripts/accuracy.sh passes the
//! labelled corpus).

mod support;

use std::path::{Path, PathBuf};

use rebound::bounce::{self, Verdict, prefilter};
use rebound::imap::{Session, password_credentials};
use support::dovecot::{Dovecot, DovecotOptions};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("cannot read {}", dir.display());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') && !path.is_dir() {
            continue;
        }
        if path.is_dir() {
            collect(&path, out);
        } else if !name.ends_with(".json") && !name.ends_with(".md") && !name.ends_with(".tsv") {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn every_notice_is_a_candidate_from_headers_and_bodystructure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("tests/fixtures"), &mut files);
    collect(&root.join("demo/maildir"), &mut files);
    if let Ok(extra) = std::env::var("REBOUND_PREFILTER_DIR") {
        collect(Path::new(&extra), &mut files);
    }
    files.sort();
    let messages: Vec<(PathBuf, Vec<u8>)> = files
        .into_iter()
        .map(|f| {
            let raw = std::fs::read(&f).unwrap();
            (f, raw)
        })
        .filter(|(_, raw)| !raw.is_empty())
        .collect();
    assert!(
        messages.len() > 50,
        "too few messages found: {}",
        messages.len()
    );

    let server = Dovecot::start(DovecotOptions::default()).await;
    let uids = server
        .append_many(
            "alice",
            "INBOX",
            messages.iter().map(|(_, raw)| raw.clone()),
        )
        .await;
    assert_eq!(uids.len(), messages.len());
    let settings = server.imap_settings("alice");
    let credentials = password_credentials(&settings).unwrap();
    let mut session = Session::connect(&settings, &credentials).await.unwrap();
    session.examine("INBOX").await.unwrap();
    let heads = session.fetch_heads(&uids).await.unwrap();
    assert_eq!(heads.len(), messages.len());

    let (mut notices, mut candidates, mut structures, mut missed) = (0, 0, 0, Vec::new());
    for ((path, raw), head) in messages.iter().zip(&heads) {
        // The connector's two steps: the header block alone, then the
        // structure for the messages whose top-level type can nest a report.
        let first = prefilter::inspect(&head.header, std::iter::empty());
        let candidate = first.candidate
            || (first.needs_structure
                && head
                    .content_types
                    .iter()
                    .any(|t| prefilter::is_report_type(t)));
        structures += usize::from(first.needs_structure);
        candidates += usize::from(candidate);
        let verdict = bounce::analyse(raw).verdict;
        if verdict != Verdict::NotBounce {
            notices += 1;
            if !candidate {
                missed.push(format!("{} ({verdict:?})", path.display()));
            }
        }
    }
    session.logout().await;
    println!(
        "pre-filter over IMAP: {} messages, {notices} notices, {} missed, {candidates} candidates ({:.1}%), \
         BODYSTRUCTURE asked for {structures}",
        messages.len(),
        missed.len(),
        100.0 * candidates as f64 / messages.len() as f64
    );
    assert!(notices > 30, "too few notices: {notices}");
    assert!(
        missed.is_empty(),
        "notices the pre-filter would never fetch:\n{}",
        missed.join("\n")
    );
}
