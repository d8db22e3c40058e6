//! Hostile input never panics and never hangs.
//!
//! Every analysis here runs on its own thread (default 2 MiB stack, like a
//! tokio worker) under a deadline: a panic, a stack overflow or a runaway cost
//! fails the test instead of stalling the suite. The deadline is generous — it
//! is a correctness property ("the work per message is bounded"), not a speed
//! target; speed is measured by the benchmark.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use rebound::bounce::{self, Action, Kind, Options, Reason, Report, Verdict};

/// The most one message may take, in a debug build, on a slow CI machine.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `work` on its own thread and fails the test when it panics or takes
/// longer than `deadline`.
fn bounded<T: Send + 'static>(
    label: &str,
    deadline: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(label.to_string())
        .spawn(move || {
            let out = work();
            let _ = tx.send(());
            out
        })
        .expect("spawn analysis thread");
    match rx.recv_timeout(deadline) {
        Ok(()) => handle
            .join()
            .unwrap_or_else(|_| panic!("{label}: analysis panicked")),
        Err(RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            panic!("{label}: analysis panicked")
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("{label}: analysis did not finish within {deadline:?} (hang or unbounded work)")
        }
    }
}

/// Analyses `raw` with `options` under [`DEADLINE`].
fn analyse_with(label: &str, raw: Vec<u8>, options: Options) -> Report {
    bounded(label, DEADLINE, move || {
        bounce::analyse_with(&raw, &options)
    })
}

/// Analyses `raw` with the default options under [`DEADLINE`].
fn analyse(label: &str, raw: Vec<u8>) -> Report {
    analyse_with(label, raw, Options::default())
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The Postfix user-unknown bounce for bob@example.net, the reference message
/// that the structural tests below wrap, pad or cut.
fn postfix_bounce() -> Vec<u8> {
    fixture("dsn/postfix_user_unknown.eml")
}

fn assert_bob_unknown(label: &str, report: &Report) {
    assert_eq!(report.verdict, Verdict::Bounce, "{label}: {report:?}");
    let bob = report
        .recipients
        .iter()
        .find(|r| r.address == "bob@example.net")
        .unwrap_or_else(|| panic!("{label}: bob@example.net missing: {:?}", report.recipients));
    assert_eq!(bob.reason, Reason::UserUnknown, "{label}");
    assert_eq!(bob.kind, Kind::Hard, "{label}");
    assert_eq!(bob.status.as_deref(), Some("5.1.1"), "{label}");
}

/// A minimal DSN (RFC 3464) around one delivery-status body.
fn dsn_message(extra_headers: &str, status_part: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n\
         To: sales@example.com\n\
         Subject: Undelivered Mail Returned to Sender\n\
         {extra_headers}\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         Your message could not be delivered.\n\
         \n\
         --b\n\
         Content-Type: message/delivery-status\n\
         \n\
         Reporting-MTA: dns; mail.example.com\n\
         \n\
         {status_part}\n\
         --b--\n"
    )
}

// ------------------------------------------------------------------ trivial input

#[test]
fn empty_input() {
    let report = analyse("empty", Vec::new());
    assert_eq!(report.verdict, Verdict::NotBounce);
    assert!(report.recipients.is_empty());
    assert!(!report.truncated);
    for raw in [&b"\n"[..], b"\r\n", b"\r", b"\r\n\r\n", b" ", b"\0", b":"] {
        let report = analyse("almost empty", raw.to_vec());
        assert_eq!(report.verdict, Verdict::NotBounce, "{raw:?}");
    }
}

#[test]
fn only_headers() {
    let report = analyse(
        "ordinary headers, no body",
        b"From: Bob <bob@example.net>\r\nTo: sales@example.com\r\nSubject: hello\r\n".to_vec(),
    );
    assert_eq!(report.verdict, Verdict::NotBounce);
    assert_eq!(report.message.subject.as_deref(), Some("hello"));

    // An NDR whose body is gone: whatever the verdict, its headers are read.
    let report = analyse(
        "NDR headers, no body",
        b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\
          Message-ID: <ndr.1@mail.example.com>\nContent-Type: multipart/report; \
          report-type=delivery-status; boundary=\"x\"\n"
            .to_vec(),
    );
    assert_eq!(
        report.message.message_id.as_deref(),
        Some("ndr.1@mail.example.com")
    );
    assert!(matches!(
        report.verdict,
        Verdict::Bounce | Verdict::NotBounce
    ));
}

// ------------------------------------------------------------------ enormous input

#[test]
fn two_mib_header_line() {
    let long = "x".repeat(2 * 1024 * 1024);

    // An unknown header of 2 MiB before the headers that matter.
    let mut raw = format!("X-Junk: {long}\n").into_bytes();
    raw.extend(postfix_bounce());
    let report = analyse("2 MiB X-Junk header", raw);
    assert_bob_unknown("2 MiB X-Junk header", &report);

    // A 2 MiB Subject and a 2 MiB References header that are read into the report.
    let ids: String = (0..60_000)
        .map(|i| format!("<id{i}@example.com> "))
        .collect();
    let mut raw = format!("References: {ids}\nX-Subject-Pad: {long}\n").into_bytes();
    raw.extend(postfix_bounce());
    let report = analyse("2 MiB References", raw);
    assert_bob_unknown("2 MiB References", &report);

    let raw = format!("From: MAILER-DAEMON@mail.example.com\nSubject: {long}\n\nbody\n");
    let report = analyse("2 MiB Subject", raw.into_bytes());
    assert!(report.recipients.len() <= 1);

    // One 2 MiB header line without any line end at all.
    let raw = format!("Subject: Undelivered {long}");
    analyse("2 MiB header, no line end", raw.into_bytes());

    // 2 MiB of folded continuation lines.
    let folded: String = (0..100_000).map(|_| "\n x@example.org,").collect();
    let raw = format!(
        "From: MAILER-DAEMON@mail.example.com\nX-Failed-Recipients: a@example.org{folded}\nSubject: failure notice\n\nbody\n"
    );
    analyse("2 MiB folded header", raw.into_bytes());
}

#[test]
fn ten_thousand_mime_parts() {
    // 10,000 small text parts in a daemon's notice (the prose path).
    let mut raw = String::from(
        "From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"p\"\n\n",
    );
    for i in 0..10_000 {
        let _ = write!(
            raw,
            "--p\nContent-Type: text/plain\n\n<user{i}@example.org>: 550 5.1.1 User unknown\n\n"
        );
    }
    raw.push_str("--p--\n");
    let report = analyse("10,000 text parts", raw.into_bytes());
    assert_eq!(report.verdict, Verdict::Bounce);
    assert!(!report.recipients.is_empty());

    // 10,000 delivery-status parts, each naming a failed recipient.
    let mut raw = String::from(
        "From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"p\"\n\n",
    );
    for i in 0..10_000 {
        let _ = write!(
            raw,
            "--p\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail.example.com\n\n\
             Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        );
    }
    raw.push_str("--p--\n");
    let report = analyse("10,000 delivery-status parts", raw.into_bytes());
    assert_eq!(report.verdict, Verdict::Bounce);

    // 10,000 empty parts and 10,000 nested multipart openings.
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=\"e\"\n\n{}--e--\n",
        "--e\n\n".repeat(10_000)
    );
    analyse("10,000 empty parts", raw.into_bytes());
}

#[test]
fn enormous_parts() {
    // A 4 MiB HTML notice made of unclosed tags.
    let raw = format!(
        "From: MAILER-DAEMON@mail.example.com\nSubject: Undeliverable: hello\n\
         Content-Type: text/html\n\n<p>bob@example.net</p>{}\n",
        "<".repeat(4 * 1024 * 1024)
    );
    analyse("4 MiB of '<'", raw.into_bytes());

    // A 4 MiB notice line full of address-like and code-like tokens.
    let line = "a@b.example 5.1.1 550 @ @@ x@ @y.z 4.4.7 ".repeat(100_000);
    let raw = format!(
        "From: MAILER-DAEMON@mail.example.com\nSubject: failure notice\n\n<bob@example.net>:\n{line}\n"
    );
    analyse("4 MiB token soup", raw.into_bytes());

    // A 4 MiB delivery-status part with one endless Diagnostic-Code.
    let diag = "\n    continued 550 5.1.1 text".repeat(150_000);
    let raw = dsn_message(
        "",
        &format!(
            "Final-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown{diag}\n"
        ),
    );
    let report = analyse("4 MiB Diagnostic-Code", raw.into_bytes());
    assert_bob_unknown("4 MiB Diagnostic-Code", &report);
}

/// An HTML notice of 300,000 `<style>` openings without a `</style>` (2 MiB,
/// well under the size cap). Each opening asks the HTML-to-text step for a
/// search to the end of the part, so the cost grows with the square of the
/// part (a naive case-insensitive search on top): 10,000 openings took 14 s,
/// 40,000 took 270 s in a debug build when this test was written.
#[test]
fn unclosed_style_tags_stay_linear() {
    let raw = format!(
        "From: MAILER-DAEMON@mail.example.com\nSubject: Undeliverable: hello\n\
         Content-Type: text/html\n\n{}\n",
        "<style>".repeat(300_000)
    );
    analyse("300,000 unclosed <style>", raw.into_bytes());
}

// ------------------------------------------------------------------ nesting

#[test]
fn nested_message_rfc822_200_deep() {
    let mut inner =
        String::from("From: sales@example.com\nTo: bob@example.net\nSubject: innermost\n\nhello\n");
    for depth in 0..200 {
        inner = format!(
            "From: MAILER-DAEMON@mail{depth}.example.com\nSubject: Undelivered Mail Returned to Sender\n\
             MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"n{depth}\"\n\n\
             --n{depth}\nContent-Type: message/delivery-status\n\n\
             Reporting-MTA: dns; mail{depth}.example.com\n\n\
             Final-Recipient: rfc822; user{depth}@example.org\nAction: failed\nStatus: 5.1.1\n\n\
             --n{depth}\nContent-Type: message/rfc822\n\n{inner}\n--n{depth}--\n"
        );
    }
    let report = analyse("200-deep message/rfc822", inner.into_bytes());
    // Only the outermost report counts.
    assert_eq!(report.verdict, Verdict::Bounce);
    let addresses: Vec<&str> = report
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(addresses, ["user199@example.org"]);

    // The same depth without the DSN parts: bare message/rfc822 wrappers.
    let mut inner = String::from("Subject: innermost\n\nhello\n");
    for _ in 0..200 {
        inner = format!("Content-Type: message/rfc822\n\n{inner}");
    }
    analyse("200-deep bare message/rfc822", inner.into_bytes());
}

#[test]
fn nested_multipart_200_deep() {
    let mut body = String::from("Content-Type: text/plain\n\nUser unknown bob@example.net\n");
    for depth in 0..200 {
        body = format!(
            "Content-Type: multipart/mixed; boundary=\"m{depth}\"\n\n--m{depth}\n{body}\n--m{depth}--\n"
        );
    }
    let raw = format!("From: MAILER-DAEMON@mail.example.com\nSubject: failure notice\n{body}");
    analyse("200-deep multipart", raw.into_bytes());
}

// ------------------------------------------------------------------ random input

/// Marsaglia's xorshift64: deterministic, so a failure is reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that steer a parser into its interesting states.
const ALPHABET: &[u8] = b"\r\n\r\n:;=<>@\"\\ \t-.-=?QBqb0123459 abcXYZ\x00\x1b\x80\xff\xc3\xa9";
const TOKENS: &[&str] = &[
    "\n--b\n",
    "\n--b--\n",
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n",
    "Content-Type: message/rfc822\n\n",
    "Content-Type: message/delivery-status\n\n",
    "Content-Type: text/html\n\n",
    "Content-Transfer-Encoding: base64\n",
    "Content-Transfer-Encoding: quoted-printable\n",
    "Final-Recipient: rfc822; a@example.org\n",
    "Action: failed\n",
    "Status: 5.1.1\n",
    "Diagnostic-Code: smtp; 550 ",
    "From: MAILER-DAEMON@example.com\n",
    "Subject: =?utf-8?B?",
    "?=",
    "=?iso-2022-jp?B?GyRC",
    "X-Failed-Recipients: ",
    "<style>",
    "<",
    "\n\n",
    "\r",
];

fn random_message(rng: &mut XorShift) -> Vec<u8> {
    let len = rng.below(4096);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        match rng.below(4) {
            0 => out.push((rng.next() & 0xff) as u8),
            1 => out.push(ALPHABET[rng.below(ALPHABET.len())]),
            _ => out.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes()),
        }
    }
    out
}

/// A fixture with a few bytes changed, inserted, removed or cut off.
fn mutate(rng: &mut XorShift, base: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(5) {
            0 => out[at] = (rng.next() & 0xff) as u8,
            1 => out.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            _ => out.truncate(at),
        }
    }
    out
}

fn all_fixtures() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("fixtures directory")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "eml") {
                out.push(std::fs::read(&path).expect("fixture"));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &mut out,
    );
    out
}

/// Analyses every input of `inputs`, catching panics, and fails listing every
/// case that panicked or overran [`DEADLINE`] (with its seed, to replay it).
fn run_batch(label: &str, inputs: impl Iterator<Item = (u64, Vec<u8>)> + Send + 'static) {
    let label_owned = label.to_string();
    let failures = bounded(label, Duration::from_secs(300), move || {
        let mut failures = Vec::new();
        let mut count = 0usize;
        for (case, (seed, raw)) in inputs.enumerate() {
            count += 1;
            let start = Instant::now();
            let result = std::panic::catch_unwind(|| bounce::analyse(&raw));
            let elapsed = start.elapsed();
            let preview = String::from_utf8_lossy(&raw[..raw.len().min(160)]).into_owned();
            match result {
                Err(_) => failures.push(format!(
                    "case {case} (seed {seed:#x}, {} bytes) panicked; starts {preview:?}",
                    raw.len()
                )),
                Ok(_) if elapsed >= DEADLINE => {
                    failures.push(format!("case {case} (seed {seed:#x}) took {elapsed:?}"))
                }
                Ok(report) => {
                    if report.recipients.iter().any(|r| r.address.is_empty()) {
                        failures.push(format!("case {case} (seed {seed:#x}): empty address"));
                    }
                }
            }
        }
        assert!(count > 0, "{label_owned}: no cases");
        failures
    });
    assert!(
        failures.is_empty(),
        "{label}: {} cases failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// 3,000 inputs of random bytes and MIME/DSN tokens. Replay a failing case
/// from the seed it prints. (Its first findings are the mail-parser debug
/// assertion of [`multipart_rfc822_boundary_glued_to_header`].)
#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let inputs = (0..3000).map(move |_| {
        let seed = rng.0;
        (seed, random_message(&mut rng))
    });
    run_batch("random bytes", inputs);
}

/// 2,000 fixtures with bytes changed, inserted, removed or cut off.
#[test]
fn mutated_fixtures_never_panic() {
    let fixtures = all_fixtures();
    assert!(!fixtures.is_empty());
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let inputs = (0..2000).map(move |_| {
        let seed = rng.0;
        let base = &fixtures[rng.below(fixtures.len())];
        (seed, mutate(&mut rng, base))
    });
    run_batch("mutated fixtures", inputs);
}

/// Found by `random_bytes_never_panic`: mail-parser 0.11.9 hits
/// `debug_assert!(false, "Invalid part ID, could not find multipart.")`
/// (src/parsers/message.rs) on a `message/rfc822` part whose boundary line
/// runs into its header and that holds a second `message/rfc822` header.
/// Release builds skip the assertion; debug builds, the tests and a
/// `cargo fuzz` run (debug assertions on) panic.
#[test]
fn multipart_rfc822_boundary_glued_to_header() {
    let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--bContent-Type: message/rfc822\n\n\
                Content-Type: message/rfc822\n\n\n--b--\n";
    analyse("boundary glued to a message/rfc822 header", raw.to_vec());
}

// ------------------------------------------------------------------ size cap

#[test]
fn over_the_cap_is_truncated_and_still_classified() {
    // The notice and the delivery-status part sit in the first 3 KiB; a large
    // returned message follows.
    let mut raw = postfix_bounce();
    let head_len = raw.len();
    let end = b"\n--3F2A21C0123.1795428900/mail.example.com--\n";
    raw.truncate(raw.len() - end.len());
    for i in 0..2000 {
        raw.extend(
            format!("attachment line {i:05} of the returned message, padding padding\n").bytes(),
        );
    }
    raw.extend_from_slice(end);
    assert!(raw.len() > 64 * 1024);

    let options = Options { max_bytes: 4096 };
    let report = analyse_with("over a 4 KiB cap", raw.clone(), options);
    assert!(report.truncated, "a message over the cap must say so");
    assert_bob_unknown("over a 4 KiB cap", &report);
    assert_eq!(report.recipients[0].action, Action::Failed);

    // Under the cap, and exactly at the cap: not truncated.
    let report = analyse_with(
        "under the cap",
        raw.clone(),
        Options {
            max_bytes: raw.len() + 1,
        },
    );
    assert!(!report.truncated);
    assert_bob_unknown("under the cap", &report);
    let report = analyse_with(
        "at the cap",
        raw.clone(),
        Options {
            max_bytes: raw.len(),
        },
    );
    assert!(!report.truncated);

    // The unmodified fixture is well under the default cap.
    let report = analyse("default cap", postfix_bounce());
    assert!(!report.truncated);
    assert!(head_len < 4096 * 2);

    // Degenerate caps: nothing fits, or the cap falls inside the first line.
    let report = analyse_with("cap 0", raw.clone(), Options { max_bytes: 0 });
    assert!(report.truncated);
    let report = analyse_with("cap 7", raw.clone(), Options { max_bytes: 7 });
    assert!(report.truncated);
    let report = analyse_with(
        "cap on one long line",
        vec![b'a'; 10_000],
        Options { max_bytes: 100 },
    );
    assert!(report.truncated);
}

#[test]
fn over_the_default_cap() {
    // 10 MiB (the default cap, architecture.md) plus one line.
    let mut raw = postfix_bounce();
    let line = b"padding line of the returned message, which is far too large........\n";
    while raw.len() <= bounce::DEFAULT_MAX_BYTES {
        raw.extend_from_slice(line);
    }
    let report = bounded(
        "over the 10 MiB default cap",
        Duration::from_secs(30),
        move || bounce::analyse(&raw),
    );
    assert!(report.truncated);
    assert_bob_unknown("over the 10 MiB default cap", &report);
}

// ------------------------------------------------------------------ bad text

#[test]
fn invalid_utf8_anywhere() {
    // Raw invalid sequences in a header, the notice and the DSN fields.
    const BAD: &[u8] = b"\xff\xfe\xc3\x28\xe2\x82\xf0\x9f\xc0";
    let raw = dsn_message(
        "X-Junk: BAD\n",
        "Final-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: User unknown BAD\n",
    )
    .replace("Subject: Undelivered", "Subject: BAD Undelivered")
    .replace("could not be delivered.", "could not be delivered. BAD");
    let bytes = replace_all(raw.as_bytes(), b"BAD", BAD);
    assert!(std::str::from_utf8(&bytes).is_err());
    let report = analyse("invalid UTF-8", bytes);
    assert_bob_unknown("invalid UTF-8", &report);

    // Invalid UTF-8 inside the address itself.
    let raw = dsn_message(
        "",
        "Final-Recipient: rfc822; bBADob@example.net\nAction: failed\nStatus: 5.1.1\n",
    );
    let report = analyse(
        "invalid UTF-8 in the address",
        replace_all(raw.as_bytes(), b"BAD", BAD),
    );
    assert!(report.recipients.len() <= 1);
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn wrong_charset_labels() {
    // The Russian KOI8-R notice, relabelled.
    let koi8 = fixture("prose/russian_koi8r.eml");
    for label in [
        "utf-8",
        "iso-2022-jp",
        "x-unknown-charset",
        "",
        "utf-7",
        "\"koi8-r",
    ] {
        let relabelled = replace_all(
            &koi8,
            b"charset=koi8-r",
            format!("charset={label}").as_bytes(),
        );
        assert_ne!(relabelled, koi8);
        let report = analyse(&format!("KOI8-R labelled {label:?}"), relabelled);
        assert_eq!(report.verdict, Verdict::Bounce, "label {label:?}");
        let ivan = report
            .recipients
            .iter()
            .find(|r| r.address == "ivan@example.org")
            .unwrap_or_else(|| panic!("label {label:?}: ivan missing: {:?}", report.recipients));
        assert_eq!(ivan.status.as_deref(), Some("5.2.2"), "label {label:?}");
        assert_eq!(ivan.reason, Reason::MailboxFull, "label {label:?}");
    }

    // The Japanese notice labelled UTF-8, and encoded words with bogus
    // charsets and broken payloads.
    let jis = fixture("prose/japanese_iso2022jp.eml");
    let relabelled = replace_all(&jis, b"charset=\"ISO-2022-JP\"", b"charset=\"utf-8\"");
    assert_ne!(relabelled, jis);
    let report = analyse("ISO-2022-JP labelled utf-8", relabelled);
    assert_eq!(report.verdict, Verdict::Bounce);
    assert!(
        report
            .recipients
            .iter()
            .any(|r| r.address == "hanako@example.jp")
    );

    let raw = dsn_message(
        "X-Note: =?x-bogus?B?////?= =?utf-8?Q?=ZZ=?= =?iso-2022-jp?B?GyRC%%%?= =?utf-8?B?\n",
        "Final-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\n",
    )
    .replace(
        "Subject: Undelivered Mail Returned to Sender",
        "Subject: =?x-bogus?Q?Undelivered_Mail?= =?utf-8?B?!!!?=",
    );
    let report = analyse("bogus encoded words", raw.into_bytes());
    assert_bob_unknown("bogus encoded words", &report);
}
