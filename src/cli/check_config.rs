//! `rebound check-config FILE`: load and validate a configuration, print a
//! summary of what it will do (never a secret), or every problem.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{
    Auth, CallbackConfig, Config, InboxConfig, OAuthMechanism, PasswordMechanism, Source,
    StoreConfig, TlsMode,
};

/// Arguments of `rebound check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file (YAML).
    file: PathBuf,
}

/// Runs the command: 0 when the file is valid, 2 when it has problems or
/// cannot be read (the problems go to stderr, one per line).
pub fn run(args: Args) -> ExitCode {
    let shown = args.file.display();
    match Config::load(&args.file) {
        Ok(config) => {
            let mut out = io::stdout().lock();
            if write_summary(&mut out, &shown.to_string(), &config)
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            let mut err = io::stderr().lock();
            for problem in &errors.0 {
                let _ = writeln!(err, "{problem}");
            }
            let count = errors.0.len();
            let noun = if count == 1 { "problem" } else { "problems" };
            let _ = writeln!(err, "rebound: {shown} is not valid: {count} {noun}");
            ExitCode::from(2)
        }
    }
}

/// The summary: the file's verdict, store, callback, then one line per inbox.
fn write_summary(out: &mut impl Write, file: &str, config: &Config) -> io::Result<()> {
    let count = config.inboxes.len();
    let disabled = config.inboxes.iter().filter(|i| !i.enabled).count();
    let noun = if count == 1 { "inbox" } else { "inboxes" };
    let disabled_note = if disabled > 0 {
        format!(" ({disabled} disabled)")
    } else {
        String::new()
    };
    writeln!(out, "{file}: ok, {count} {noun}{disabled_note}")?;
    match &config.store {
        StoreConfig::Sqlite { path } => writeln!(out, "store     sqlite {}", path.display())?,
    }
    match &config.callback {
        CallbackConfig::Stdout => writeln!(out, "callback  stdout")?,
        CallbackConfig::File { path } => writeln!(out, "callback  file {}", path.display())?,
        CallbackConfig::Http(http) => writeln!(
            out,
            "callback  http {} (signed{}, timeout {:?}, retried for {:?})",
            http.url,
            if http.previous_secret.is_some() {
                " with two secrets"
            } else {
                ""
            },
            http.timeout,
            http.retry_budget
        )?,
    }
    if let Some(api) = &config.api {
        writeln!(out, "api       http://{} (bearer token)", api.listen)?;
    }
    let r = &config.retention;
    writeln!(
        out,
        "retention delivered events {}, tracked messages {} (pruned every {})",
        crate::config::format_duration(r.delivered_events),
        crate::config::format_duration(r.tracked_messages),
        crate::config::format_duration(r.interval)
    )?;
    let rows: Vec<[String; 5]> = config.inboxes.iter().map(row).collect();
    let mut widths = [0usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (row, inbox) in rows.iter().zip(&config.inboxes) {
        let mut line = String::from("inbox     ");
        for (cell, width) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        if !inbox.enabled {
            line.push_str("(disabled)");
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// id, account, provider, where the mail is, how it logs in.
fn row(inbox: &InboxConfig) -> [String; 5] {
    let (place, auth) = match &inbox.source {
        Source::Imap(imap) => {
            let tls = match imap.tls {
                TlsMode::Implicit => "tls",
                TlsMode::Starttls => "starttls",
                TlsMode::None => "plaintext",
            };
            let host = if imap.host.contains(':') {
                format!(
                    "[{}]",
                    imap.host.trim_start_matches('[').trim_end_matches(']')
                )
            } else {
                imap.host.clone()
            };
            let auth = match &imap.auth {
                Auth::Password { mechanism, .. } => match mechanism {
                    PasswordMechanism::Plain => "password (plain)",
                    PasswordMechanism::Login => "password (login)",
                },
                Auth::OAuth2(oauth) => match oauth.mechanism {
                    Some(OAuthMechanism::Xoauth2) => "oauth2 (xoauth2)",
                    Some(OAuthMechanism::Oauthbearer) => "oauth2 (oauthbearer)",
                    None => "oauth2",
                },
            };
            (format!("{host}:{} {tls}", imap.port), auth)
        }
        Source::Maildir(maildir) => (maildir.path.display().to_string(), "none"),
    };
    [
        inbox.id.clone(),
        format!("account={}", inbox.account),
        inbox.provider.as_str().to_owned(),
        place,
        format!("auth={auth}"),
    ]
}
