//! `rebound track`: registers sent messages so that bounces can be matched to
//! them (issue 4): one message from arguments, or many from a JSON Lines file
//! (`-` = standard input). See docs/tracking.md.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::Store;
use crate::track::{Defaults, LineError, TrackSource, TrackedMessage, parse_line, parse_value};

/// At most this many line errors are printed (then a count of the rest).
const SHOWN_ERRORS: usize = 20;

/// Arguments of `rebound track`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::ConfigArg,
    /// The inbox the message was sent from (its account is the message's).
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    inbox: Option<String>,
    /// The message's Message-ID (angle brackets optional).
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    message_id: Option<String>,
    /// A recipient (To, Cc or Bcc); repeat for each.
    #[arg(long, value_name = "ADDR", conflicts_with = "file")]
    to: Vec<String>,
    /// The CRM's contact id of the --to before it; given once, of every --to.
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    contact_id: Vec<String>,
    /// The message's subject.
    #[arg(long, value_name = "S", conflicts_with = "file")]
    subject: Option<String>,
    /// When it was sent: RFC 3339 or Unix seconds (default now).
    #[arg(long, value_name = "TIME", conflicts_with = "file")]
    sent_at: Option<String>,
    /// Metadata handed back in events: a JSON object.
    #[arg(long, value_name = "JSON", conflicts_with = "file")]
    metadata: Option<String>,
    /// Register every line of a JSON Lines file instead (`-` = stdin).
    #[arg(long, value_name = "FILE.jsonl")]
    file: Option<PathBuf>,
}

/// Runs the command: exit 0, 1 when the store fails, 2 on usage or
/// validation errors (nothing is tracked then).
pub fn run(args: Args) -> ExitCode {
    let config = match super::load_config("track", &args.config.path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let defaults = Defaults {
        inbox: None,
        inboxes: config
            .inboxes
            .iter()
            .map(|i| (i.id.clone(), i.account.clone()))
            .collect::<BTreeMap<_, _>>(),
        now: now(),
        source: TrackSource::Cli,
    };
    let messages = match &args.file {
        Some(file) => from_file(file, &defaults),
        None => from_args(&args, &defaults, &std::env::args_os().collect::<Vec<_>>()),
    };
    let messages = match messages {
        Ok(messages) => messages,
        Err(problems) => {
            for problem in problems {
                eprintln!("rebound track: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match super::runtime("track", false) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let new = store.track(&messages, defaults.now).await;
        store.close().await;
        new
    });
    match result {
        Ok(new) => {
            eprintln!("tracked {} messages ({new} new)", messages.len());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("rebound track: {err}");
            ExitCode::from(1)
        }
    }
}

/// Now, in Unix seconds.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Every line of the file, validated; all problems (with line numbers) when
/// any line is invalid, so that a file is registered whole or not at all.
fn from_file(
    file: &std::path::Path,
    defaults: &Defaults,
) -> Result<Vec<TrackedMessage>, Vec<String>> {
    let mut text = String::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    };
    let name = if file.as_os_str() == "-" {
        "stdin".to_owned()
    } else {
        file.display().to_string()
    };
    if let Err(err) = read {
        return Err(vec![format!("cannot read {name}: {err}")]);
    }
    let mut messages = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, defaults) {
            Ok(message) => messages.push(message),
            Err(error) => errors.push(LineError { line: n + 1, error }),
        }
    }
    if errors.is_empty() {
        return Ok(messages);
    }
    let total = errors.len();
    let mut out: Vec<String> = errors
        .iter()
        .take(SHOWN_ERRORS)
        .map(|e| format!("{name}: {e}"))
        .collect();
    if total > SHOWN_ERRORS {
        out.push(format!(
            "... and {} more invalid lines",
            total - SHOWN_ERRORS
        ));
    }
    out.push(format!(
        "{total} invalid lines in {name}; nothing was tracked"
    ));
    Err(out)
}

/// The one message the arguments describe, validated like a file line.
fn from_args(
    args: &Args,
    defaults: &Defaults,
    raw: &[OsString],
) -> Result<Vec<TrackedMessage>, Vec<String>> {
    let usage = |text: String| Err(vec![text]);
    if args.inbox.is_none() || args.message_id.is_none() || args.to.is_empty() {
        return usage(
            "give --inbox, --message-id and at least one --to, or --file FILE.jsonl".to_owned(),
        );
    }
    let contacts = match pair_contacts(&args.to, &args.contact_id, &order(raw)) {
        Ok(contacts) => contacts,
        Err(text) => return usage(text),
    };
    let metadata = match &args.metadata {
        None => serde_json::Value::Null,
        Some(text) => match serde_json::from_str(text) {
            Ok(value) => value,
            Err(err) => return usage(format!("--metadata is not JSON: {err}")),
        },
    };
    let recipients: Vec<serde_json::Value> = args
        .to
        .iter()
        .zip(contacts)
        .map(|(address, contact_id)| {
            serde_json::json!({ "address": address, "contact_id": contact_id })
        })
        .collect();
    let value = serde_json::json!({
        "inbox": args.inbox,
        "message_id": args.message_id,
        "recipients": recipients,
        "subject": args.subject,
        "sent_at": args.sent_at,
        "metadata": metadata,
    });
    match parse_value(&value, defaults) {
        Ok(message) => Ok(vec![message]),
        Err(err) => usage(err.to_string()),
    }
}

/// Which of `--to` (`true`) and `--contact-id` (`false`) came in which order
/// on the command line. clap keeps each list's order but not how the two
/// interleave, which decides which address a contact id belongs to.
fn order(raw: &[OsString]) -> Vec<bool> {
    let mut kinds = Vec::new();
    let mut value_next = false;
    for arg in raw.iter().skip(1) {
        let arg = arg.to_string_lossy();
        if value_next {
            value_next = false;
            continue;
        }
        if arg == "--" {
            break;
        }
        for (flag, kind) in [("--to", true), ("--contact-id", false)] {
            if arg == flag {
                kinds.push(kind);
                value_next = true;
            } else if arg.strip_prefix(flag).is_some_and(|r| r.starts_with('=')) {
                kinds.push(kind);
            }
        }
        // Other options' values cannot start with "--" unquoted (clap would
        // refuse them), so they need no skipping here.
    }
    kinds
}

/// The contact id of each address: none; one given once applies to all;
/// otherwise each applies to the `--to` just before it.
fn pair_contacts(
    to: &[String],
    contacts: &[String],
    order: &[bool],
) -> Result<Vec<Option<String>>, String> {
    if contacts.is_empty() {
        return Ok(vec![None; to.len()]);
    }
    if let [only] = contacts {
        return Ok(vec![Some(only.clone()); to.len()]);
    }
    if order.iter().filter(|k| **k).count() != to.len()
        || order.iter().filter(|k| !**k).count() != contacts.len()
    {
        return Err("cannot tell which --to each --contact-id belongs to".to_owned());
    }
    let mut out: Vec<Option<String>> = Vec::with_capacity(to.len());
    let mut contacts = contacts.iter();
    for kind in order {
        if *kind {
            out.push(None);
            continue;
        }
        let contact = contacts.next().cloned();
        match out.last_mut() {
            Some(slot @ None) => *slot = contact,
            Some(Some(_)) => {
                return Err("two --contact-id for the same --to".to_owned());
            }
            None => return Err("--contact-id must follow the --to it belongs to".to_owned()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn contact_ids_pair_with_the_to_before_them() {
        let to = vec!["a@x.y".to_owned(), "b@x.y".to_owned(), "c@x.y".to_owned()];
        let raw = os(&[
            "rebound",
            "track",
            "--to",
            "a@x.y",
            "--contact-id",
            "1",
            "--to",
            "b@x.y",
            "--to=c@x.y",
            "--contact-id=3",
        ]);
        let contacts = vec!["1".to_owned(), "3".to_owned()];
        assert_eq!(
            pair_contacts(&to, &contacts, &order(&raw)).unwrap(),
            vec![Some("1".into()), None, Some("3".into())]
        );
        // Given once: every address.
        assert_eq!(
            pair_contacts(&to, &["9".into()], &[]).unwrap(),
            vec![Some("9".into()); 3]
        );
        let raw = os(&[
            "rebound",
            "--contact-id",
            "1",
            "--to",
            "a",
            "--contact-id",
            "2",
        ]);
        assert!(pair_contacts(&to[..1], &["1".into(), "2".into()], &order(&raw)).is_err());
        let raw = os(&[
            "rebound",
            "--to",
            "a",
            "--contact-id",
            "1",
            "--contact-id",
            "2",
        ]);
        assert!(pair_contacts(&to[..1], &["1".into(), "2".into()], &order(&raw)).is_err());
    }
}
