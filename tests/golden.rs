//! Golden fixtures: every `tests/fixtures/**/NAME.eml` is analysed and its
//! report compared with `NAME.json` beside it.
//!
//! - Each fixture runs as written, converted to LF and converted to CRLF; all
//!   variants must give the very same JSON (the line ending of a message must
//!   never change what it is).
//! - On a mismatch the test writes `NAME.actual.json` beside the fixture and
//!   fails, listing every mismatching fixture and the JSON paths that differ.
//! - `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the goldens from the
//!   current output, except those listed in [`KNOWN_GAPS`] (corrected by
//!   hand). A golden holds what is *right* per `taxonomy.md`, not what the
//!   code happens to print: review every rewritten file by hand (`git diff`).
//!
//! The fixtures are written by us, modelled on the formats real MTAs produce;
//! they use example.com/.net/.org/.jp and 192.0.2.0/24 only (provider system
//! names such as `amazonses.com` stay where they identify the format).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Fixtures whose golden holds the right answer but which the analysis core
/// gets wrong today. They fail on purpose (the assertions are not weakened);
/// the note is printed next to the failure so the reader knows it is a known
/// gap in `src/`, not a broken test. Remove an entry once the code is fixed.
const KNOWN_GAPS: &[(&str, &str)] = &[];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// Every `*.eml` under `dir`, sorted, recursively.
fn collect_emls(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_emls(&path, out);
        } else if path.extension().is_some_and(|e| e == "eml") {
            out.push(path);
        }
    }
}

/// CRLF → LF (lone CRs are left alone).
fn to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Bare LF → CRLF (existing CRLFs and lone CRs are left alone).
fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// The variants a fixture runs as: as written, LF and CRLF (duplicates dropped).
fn variants(raw: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![("as written", raw.to_vec())];
    for (name, bytes) in [("LF", to_lf(raw)), ("CRLF", to_crlf(raw))] {
        if out.iter().all(|(_, b)| *b != bytes) {
            out.push((name, bytes));
        }
    }
    out
}

fn analyse(raw: &[u8]) -> Value {
    serde_json::to_value(rebound::bounce::analyse(raw)).expect("a report serialises")
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON serialises");
    text.push('\n');
    text
}

/// The JSON paths where `actual` differs from `expected` (at most `limit`).
fn diff_paths(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = format!("{path}.{key}");
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => diff_paths(ev, av, &sub, out, limit),
                    (Some(_), None) => out.push(format!("{sub}: missing")),
                    (None, Some(_)) => out.push(format!("{sub}: unexpected")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff_paths(ev, av, &format!("{path}[{i}]"), out, limit);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!(
            "{path}: expected {}, got {}",
            short(expected),
            short(actual)
        )),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn fixture_name(path: &Path) -> String {
    let rel = path.strip_prefix(fixtures_dir()).unwrap_or(path);
    rel.with_extension("")
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/")
}

#[test]
fn golden_fixtures() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut emls = Vec::new();
    collect_emls(&fixtures_dir(), &mut emls);
    assert!(
        !emls.is_empty(),
        "no fixtures under {}",
        fixtures_dir().display()
    );

    let mut failures: Vec<String> = Vec::new();
    let mut runs = 0usize;
    for eml in &emls {
        let name = fixture_name(eml);
        let golden_path = eml.with_extension("json");
        let actual_path = eml.with_extension("actual.json");
        let raw = fs::read(eml).unwrap_or_else(|e| panic!("cannot read {}: {e}", eml.display()));

        let results: Vec<(&str, Value)> = variants(&raw)
            .into_iter()
            .map(|(variant, bytes)| (variant, analyse(&bytes)))
            .collect();
        runs += results.len();
        let (_, reference) = &results[0];

        let known_gap = KNOWN_GAPS.iter().find(|(n, _)| *n == name);
        if update {
            if known_gap.is_some() {
                // Its golden was corrected by hand; rewriting it from the
                // output would bless the bug. Edit it by hand, or fix src/.
                eprintln!("UPDATE_GOLDEN: kept {name}.json (listed in KNOWN_GAPS)");
            } else {
                fs::write(&golden_path, pretty(reference)).expect("write golden");
            }
        }
        let expected: Option<Value> = fs::read_to_string(&golden_path)
            .ok()
            .map(|text| serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}.json: {e}")));

        let mut problems: Vec<String> = Vec::new();
        let mut first_wrong: Option<&Value> = None;
        match &expected {
            None => {
                problems.push("no golden file (run with UPDATE_GOLDEN=1, then review it)".into());
                first_wrong = Some(reference);
            }
            Some(expected) => {
                for (variant, actual) in &results {
                    if actual != expected {
                        let mut paths = Vec::new();
                        diff_paths(expected, actual, "", &mut paths, 12);
                        problems.push(format!("[{variant}] {}", paths.join("; ")));
                        first_wrong.get_or_insert(actual);
                    }
                }
            }
        }
        match first_wrong {
            Some(actual) => {
                fs::write(&actual_path, pretty(actual)).expect("write actual");
                let gap = known_gap
                    .map(|(_, note)| format!("\n    known gap in src/: {note}"))
                    .unwrap_or_default();
                failures.push(format!("{name}:\n    {}{gap}", problems.join("\n    ")));
            }
            None => {
                let _ = fs::remove_file(&actual_path);
                if known_gap.is_some() {
                    eprintln!(
                        "note: {name} passes now; remove it from KNOWN_GAPS in tests/golden.rs"
                    );
                }
            }
        }
    }
    assert!(runs > 0, "ran no golden cases");
    eprintln!("golden: {} fixtures, {runs} runs", emls.len());
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ from their golden (NAME.actual.json written beside each):\n{}",
        failures.len(),
        emls.len(),
        failures.join("\n")
    );
}

#[test]
fn line_ending_conversions() {
    assert_eq!(to_lf(b"a\r\nb\nc\rd\r\n"), b"a\nb\nc\rd\n");
    assert_eq!(to_crlf(b"a\r\nb\nc\rd\n"), b"a\r\nb\r\nc\rd\r\n");
    assert_eq!(variants(b"a\nb\n").len(), 2);
    assert_eq!(variants(b"a\rb\r").len(), 1);
    assert_eq!(variants(b"a\r\nb\n").len(), 3);
}
