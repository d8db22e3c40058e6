//! Measures the IMAP pre-filter's recall on a directory of messages: every
//! message the full analysis classifies as something other than `not_bounce`
//! must also pass `bounce::prefilter::is_candidate`, given only what the IMAP
//! first step sees (the header block and the BODYSTRUCTURE content types,
//! reconstructed here from a full parse).
//!
//!     cargo run --release --example prefilter_recall -- DIR...
//!
//! Prints the counts and every miss; exits 1 when anything was missed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use rebound::bounce::{self, Verdict, prefilter};

fn main() -> ExitCode {
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        collect(Path::new(&arg), &mut files);
    }
    files.sort();
    let (mut notices, mut kept, mut candidates, mut total) = (0usize, 0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    let mut inputs: Vec<(Vec<u8>, Vec<String>)> = Vec::new();
    for file in &files {
        let Ok(raw) = std::fs::read(file) else {
            continue;
        };
        total += 1;
        let report = bounce::analyse(&raw);
        let head = header_block(&raw);
        let types = content_types(&raw);
        let candidate = prefilter::is_candidate(head, types.iter().map(String::as_str));
        candidates += usize::from(candidate);
        inputs.push((head.to_vec(), types.clone()));
        if report.verdict != Verdict::NotBounce {
            notices += 1;
            if candidate {
                kept += 1;
            } else {
                misses.push(format!("{} ({:?})", file.display(), report.verdict));
            }
        }
    }
    println!(
        "prefilter: {total} messages, {notices} notices (bounce, delivery report, complaint, auto-reply), \
         {kept} kept, {} missed; {candidates} candidates fetched whole ({:.1}%)",
        misses.len(),
        100.0 * candidates as f64 / total.max(1) as f64
    );
    for miss in &misses {
        println!("  missed: {miss}");
    }
    // The cost of the first fetch step's test, per message (what a backfill
    // pays for every message of a folder): best of 5 passes.
    let mut best = f64::MAX;
    let passes: usize = std::env::var("PREFILTER_PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5);
    for _ in 0..passes {
        let started = std::time::Instant::now();
        for (head, types) in &inputs {
            std::hint::black_box(prefilter::inspect(head, types.iter().map(String::as_str)));
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "prefilter::inspect: {:.2} µs per message (best of {passes} passes over {} header blocks)",
        best * 1e6 / inputs.len().max(1) as f64,
        inputs.len()
    );
    if misses.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                collect(&entry.path(), out);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
}

/// The bytes up to and including the first empty line (any line ending).
fn header_block(raw: &[u8]) -> &[u8] {
    for (i, _) in raw.iter().enumerate() {
        let rest = raw.get(i..).unwrap_or_default();
        for end in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if rest.starts_with(end) {
                return raw.get(..i + end.len()).unwrap_or(raw);
            }
        }
    }
    raw
}

/// Every part's `type/subtype`, nested messages included — what BODYSTRUCTURE shows.
fn content_types(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    // What a server's BODYSTRUCTURE shows is computed on proper line ends.
    let repaired: Vec<u8> = repair_lone_cr(raw);
    if let Some(message) = MessageParser::default().parse(&repaired[..]) {
        walk(&message, &mut out, 0);
    }
    out
}

fn walk(message: &Message<'_>, out: &mut Vec<String>, depth: usize) {
    for part in &message.parts {
        if let Some(ct) = part.content_type() {
            out.push(format!(
                "{}/{}",
                ct.ctype(),
                ct.subtype().unwrap_or_default()
            ));
        }
        if let PartType::Message(inner) = &part.body
            && depth < 8
        {
            walk(inner, out, depth + 1);
        }
    }
}

/// Lone CRs become LF (the analysis does the same before parsing).
fn repair_lone_cr(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut iter = raw.iter().peekable();
    while let Some(&b) = iter.next() {
        if b == b'\r' && iter.peek() != Some(&&b'\n') {
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    out
}
