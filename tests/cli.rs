//! `rebound classify` as a user runs it: the built binary, real files,
//! directories, stdin, exit codes, and the JSON contract of taxonomy.md.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rebound");

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Vec<u8> {
    fs::read(fixtures_dir().join(name)).expect("fixture")
}

/// A fresh, empty directory for one test under Cargo's target tmp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn put(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(path, bytes).expect("write file");
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rebound")
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rebound");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for rebound")
}

/// The JSON lines of stdout, each checked against the contract.
fn lines(output: &Output) -> Vec<Value> {
    let stdout = String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8");
    stdout
        .lines()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            check_contract(&value);
            value
        })
        .collect()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

// ------------------------------------------------------------------ the contract

const VERDICTS: &[&str] = &[
    "bounce",
    "delivery_report",
    "auto_reply",
    "complaint",
    "not_bounce",
];
const ACTIONS: &[&str] = &["failed", "delayed"];
const KINDS: &[&str] = &["hard", "soft", "pending"];
const RECOMMENDED: &[&str] = &[
    "suppress",
    "retry_later",
    "review_content",
    "fix_sender_setup",
    "ask_recipient_to_allowlist",
    "none",
];
/// taxonomy.md "Reasons": reason → category.
const REASONS: &[(&str, &str)] = &[
    ("user_unknown", "unknown_user"),
    ("host_unknown", "invalid_domain"),
    ("has_moved", "unknown_user"),
    ("not_accept", "invalid_domain"),
    ("mailbox_full", "mailbox_full"),
    ("mailbox_disabled", "mailbox_disabled"),
    ("system_full", "temporary"),
    ("message_too_large", "content"),
    ("exceed_limit", "content"),
    ("spam_detected", "spam"),
    ("virus_detected", "content"),
    ("content_error", "content"),
    ("filtered", "policy"),
    ("policy_violation", "policy"),
    ("auth_failure", "policy"),
    ("bad_reputation", "blocked"),
    ("blocked", "blocked"),
    ("require_ptr", "blocked"),
    ("rejected", "blocked"),
    ("no_relaying", "blocked"),
    ("rate_limited", "temporary"),
    ("speeding", "temporary"),
    ("security_error", "policy"),
    ("failed_starttls", "policy"),
    ("not_compliant_rfc", "content"),
    ("syntax_error", "other"),
    ("system_error", "temporary"),
    ("network_error", "temporary"),
    ("expired", "temporary"),
    ("mailer_error", "other"),
    ("on_hold", "other"),
    ("suppressed", "other"),
    ("undefined", "other"),
];
const TOP_KEYS: &[&str] = &[
    "schema_version",
    "file",
    "verdict",
    "format",
    "gateway",
    "truncated",
    "message",
    "original",
    "recipients",
    "complaint",
    "auto_reply",
];
const MESSAGE_KEYS: &[&str] = &[
    "message_id",
    "in_reply_to",
    "references",
    "from",
    "subject",
    "date",
];
const ORIGINAL_KEYS: &[&str] = &["message_id", "subject", "from", "to", "date"];
const RECIPIENT_KEYS: &[&str] = &[
    "address",
    "final_address",
    "action",
    "status",
    "smtp_code",
    "kind",
    "reason",
    "category",
    "diagnostic",
    "remote_mta",
    "reporting_mta",
    "recommended_action",
    "suggested_address",
];
const COMPLAINT_KEYS: &[&str] = &["feedback_type", "recipient", "original_message_id"];

fn keys(value: &Value, want: &[&str], what: &str, line: &Value) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object in {line}"));
    let have: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = want.iter().copied().collect();
    assert_eq!(have, want, "{what}: keys differ in {line}");
}

fn string_or_null(value: &Value, what: &str, line: &Value) {
    assert!(
        value.is_string() || value.is_null(),
        "{what} must be a string or null in {line}"
    );
}

fn strings(value: &Value, what: &str, line: &Value) {
    let array = value
        .as_array()
        .unwrap_or_else(|| panic!("{what} must be an array in {line}"));
    assert!(
        array.iter().all(Value::is_string),
        "{what} must hold strings in {line}"
    );
}

fn one_of(value: &Value, allowed: &[&str], what: &str, line: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} must be a string in {line}"));
    assert!(
        allowed.contains(&text),
        "{what} = {text:?} unknown in {line}"
    );
}

fn is_enhanced_status(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Every key of the contract is present, with a value of the right shape,
/// and the taxonomy's invariants hold.
fn check_contract(line: &Value) {
    keys(line, TOP_KEYS, "line", line);
    assert_eq!(line["schema_version"], 1, "schema_version in {line}");
    assert!(line["file"].is_string(), "file in {line}");
    one_of(&line["verdict"], VERDICTS, "verdict", line);
    string_or_null(&line["format"], "format", line);
    string_or_null(&line["gateway"], "gateway", line);
    assert!(line["truncated"].is_boolean(), "truncated in {line}");

    let message = &line["message"];
    keys(message, MESSAGE_KEYS, "message", line);
    for key in ["message_id", "from", "subject", "date"] {
        string_or_null(&message[key], key, line);
    }
    strings(&message["in_reply_to"], "in_reply_to", line);
    strings(&message["references"], "references", line);

    let original = &line["original"];
    keys(original, ORIGINAL_KEYS, "original", line);
    for key in ["message_id", "subject", "from", "date"] {
        string_or_null(&original[key], key, line);
    }
    strings(&original["to"], "original.to", line);

    let verdict = line["verdict"].as_str().unwrap_or_default();
    let recipients = line["recipients"]
        .as_array()
        .unwrap_or_else(|| panic!("recipients must be an array in {line}"));
    if verdict != "bounce" {
        assert!(recipients.is_empty(), "recipients on a {verdict} in {line}");
    }
    for r in recipients {
        keys(r, RECIPIENT_KEYS, "recipient", line);
        assert!(
            r["address"].as_str().is_some_and(|a| !a.is_empty()),
            "address in {line}"
        );
        for key in [
            "final_address",
            "diagnostic",
            "remote_mta",
            "reporting_mta",
            "suggested_address",
        ] {
            string_or_null(&r[key], key, line);
        }
        one_of(&r["action"], ACTIONS, "action", line);
        one_of(&r["kind"], KINDS, "kind", line);
        one_of(
            &r["recommended_action"],
            RECOMMENDED,
            "recommended_action",
            line,
        );
        let reason = r["reason"].as_str().unwrap_or_default();
        let category = REASONS
            .iter()
            .find(|(name, _)| *name == reason)
            .map(|(_, category)| *category)
            .unwrap_or_else(|| panic!("reason {reason:?} unknown in {line}"));
        assert_eq!(r["category"], category, "category of {reason} in {line}");
        match &r["status"] {
            Value::Null => {}
            Value::String(s) => assert!(is_enhanced_status(s), "status {s:?} in {line}"),
            other => panic!("status {other} in {line}"),
        }
        match &r["smtp_code"] {
            Value::Null => {}
            Value::Number(n) => assert!(
                n.as_u64().is_some_and(|c| (200..600).contains(&c)),
                "smtp_code {n} in {line}"
            ),
            other => panic!("smtp_code {other} in {line}"),
        }
        // taxonomy.md: pending whenever delayed; hard only for a dead address.
        let delayed = r["action"] == "delayed";
        assert_eq!(r["kind"] == "pending", delayed, "kind vs action in {line}");
        if r["kind"] == "hard" {
            assert!(
                ["user_unknown", "host_unknown", "has_moved", "not_accept"].contains(&reason),
                "hard for {reason} in {line}"
            );
        }
        if ["user_unknown", "host_unknown", "has_moved"].contains(&reason) && !delayed {
            assert_eq!(r["kind"], "hard", "{reason} must be hard in {line}");
        }
    }

    match &line["complaint"] {
        Value::Null => assert_ne!(verdict, "complaint", "complaint without details in {line}"),
        complaint => {
            assert_eq!(
                verdict, "complaint",
                "complaint details on a {verdict} in {line}"
            );
            keys(complaint, COMPLAINT_KEYS, "complaint", line);
            for key in COMPLAINT_KEYS {
                string_or_null(&complaint[*key], key, line);
            }
        }
    }
    match &line["auto_reply"] {
        Value::Null => assert_ne!(verdict, "auto_reply", "auto_reply without marker in {line}"),
        auto => {
            assert_eq!(
                verdict, "auto_reply",
                "auto_reply details on a {verdict} in {line}"
            );
            keys(auto, &["marker"], "auto_reply", line);
            assert!(auto["marker"].is_string(), "marker in {line}");
        }
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn classifies_a_directory_recursively_skipping_hidden_entries() {
    let dir = scratch("walk");
    put(&dir.join("a.eml"), &fixture("dsn/postfix_user_unknown.eml"));
    put(
        &dir.join("sub/b.eml"),
        &fixture("other/autoreply_rfc3834.eml"),
    );
    // A Maildir file name: no extension, a colon and flags.
    put(
        &dir.join("sub/deeper/cur/1795428900.M1P2.host:2,S"),
        &fixture("other/newsletter.eml"),
    );
    put(&dir.join(".hidden.eml"), &fixture("dsn/courier.eml"));
    put(&dir.join(".hiddendir/c.eml"), &fixture("dsn/courier.eml"));
    put(&dir.join("sub/.also-hidden"), &fixture("dsn/courier.eml"));

    let output = run(&["classify", path_str(&dir)]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let found: Vec<(String, String)> = lines(&output)
        .iter()
        .map(|l| {
            (
                l["file"].as_str().unwrap_or_default().to_string(),
                l["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        (dir.join("a.eml"), "bounce"),
        (dir.join("sub/b.eml"), "auto_reply"),
        (
            dir.join("sub/deeper/cur/1795428900.M1P2.host:2,S"),
            "not_bounce",
        ),
    ]
    .into_iter()
    .map(|(p, v)| (path_str(&p).to_string(), v.to_string()))
    .collect();
    assert_eq!(found.len(), 3, "one line per visible file: {found:?}");
    assert_eq!(found.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[test]
fn reads_stdin_for_dash() {
    let output = run_with_stdin(&["classify", "-"], &fixture("dsn/postfix_user_unknown.eml"));
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let parsed = lines(&output);
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0]["file"], "-");
    assert_eq!(parsed[0]["verdict"], "bounce");
    assert_eq!(parsed[0]["recipients"][0]["address"], "bob@example.net");

    // `-` mixed with a file, in the order given.
    let dir = scratch("stdin-and-file");
    put(&dir.join("x.eml"), &fixture("other/newsletter.eml"));
    let output = run_with_stdin(
        &["classify", path_str(&dir.join("x.eml")), "-"],
        &fixture("other/arf_abuse_complaint.eml"),
    );
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let parsed = lines(&output);
    let files: Vec<&str> = parsed.iter().filter_map(|l| l["file"].as_str()).collect();
    assert_eq!(files, [path_str(&dir.join("x.eml")), "-"]);
    assert_eq!(parsed[1]["verdict"], "complaint");

    // Empty stdin is an (empty) message, not an error.
    let output = run_with_stdin(&["classify", "-"], b"");
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(lines(&output)[0]["verdict"], "not_bounce");
}

#[test]
fn a_missing_file_is_reported_and_the_others_still_processed() {
    let dir = scratch("missing");
    let present = dir.join("present.eml");
    let missing = dir.join("missing.eml");
    put(&present, &fixture("prose/exim_two_recipients.eml"));

    let output = run(&["classify", path_str(&missing), path_str(&present)]);
    assert_eq!(
        code(&output),
        1,
        "exit code 1 when some input could not be read"
    );
    let err = stderr(&output);
    assert!(
        err.contains("missing.eml"),
        "stderr names the missing file: {err}"
    );
    let parsed = lines(&output);
    assert_eq!(parsed.len(), 1, "the readable file is still classified");
    assert_eq!(parsed[0]["file"], path_str(&present));
    assert_eq!(parsed[0]["verdict"], "bounce");
    assert_eq!(parsed[0]["recipients"].as_array().map(Vec::len), Some(2));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["classify"][..],
        &["classify", "--format", "xml", "x.eml"],
        &["classify", "--no-such-flag", "x.eml"],
        &["no-such-command"],
        &[],
    ] {
        let output = run(args);
        assert_eq!(code(&output), 2, "{args:?}: stderr {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(!stderr(&output).is_empty(), "{args:?}: a usage message");
    }
}

#[test]
fn pretty_format_is_a_readable_summary() {
    let dir = scratch("pretty");
    let file = dir.join("bounce.eml");
    put(&file, &fixture("dsn/sendmail_transcript.eml"));
    let output = run(&["classify", "--format", "pretty", path_str(&file)]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(!text.trim_start().starts_with('{'), "not JSON: {text}");
    assert!(text.contains(path_str(&file)), "{text}");
    assert!(text.contains("bounce"), "{text}");
    for expected in [
        "frank@example.org",
        "gina@nxdomain.example.net",
        "user_unknown",
        "host_unknown",
        "5.1.1",
    ] {
        assert!(text.contains(expected), "{expected} missing in {text}");
    }
}

#[test]
fn max_bytes_marks_large_messages_truncated() {
    let dir = scratch("max-bytes");
    let file = dir.join("big.eml");
    let mut raw = fixture("dsn/postfix_user_unknown.eml");
    raw.extend(std::iter::repeat_n(b"padding line\n".as_slice(), 1000).flatten());
    put(&file, &raw);
    let output = run(&["classify", "--max-bytes", "4096", path_str(&file)]);
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let parsed = lines(&output);
    assert_eq!(parsed[0]["truncated"], true);
    assert_eq!(parsed[0]["verdict"], "bounce");

    let output = run(&["classify", path_str(&file)]);
    assert_eq!(lines_of(&output)[0]["truncated"], false);
}

fn lines_of(output: &Output) -> Vec<Value> {
    assert_eq!(code(output), 0, "stderr: {}", stderr(output));
    lines(output)
}

#[test]
fn every_line_follows_the_contract() {
    // Every fixture (and, since every non-hidden file is a message, the
    // golden JSON files too) through the real binary.
    let output = run(&["classify", path_str(&fixtures_dir())]);
    let parsed = lines_of(&output);

    fn visible_files(dir: &Path, out: &mut usize) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("entry");
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                visible_files(&path, out);
            } else {
                *out += 1;
            }
        }
    }
    let mut expected = 0;
    visible_files(&fixtures_dir(), &mut expected);
    assert!(expected > 0);
    assert_eq!(parsed.len(), expected, "one line per file");

    // Every verdict of the taxonomy is exercised by the fixtures.
    let verdicts: BTreeSet<&str> = parsed
        .iter()
        .filter_map(|l| l["verdict"].as_str())
        .collect();
    for verdict in VERDICTS {
        assert!(verdicts.contains(verdict), "no fixture yields {verdict}");
    }
}
