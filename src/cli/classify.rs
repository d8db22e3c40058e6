//! `rebound classify [--format jsonl|pretty] PATH...`

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;

use crate::bounce::{self, Options, Report, Verdict};

/// Arguments of `rebound classify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Size cap in bytes; larger messages are analysed on their first bytes.
    #[arg(long, default_value_t = bounce::DEFAULT_MAX_BYTES)]
    max_bytes: usize,
    /// Files, directories (walked recursively; hidden entries skipped) or `-` for stdin.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per message (the output contract).
    Jsonl,
    /// A readable summary.
    Pretty,
}

/// One line of `--format jsonl`: the report with the file it came from.
#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    #[serde(flatten)]
    report: &'a Report,
}

/// Runs the command: 0 when every input was read, 1 otherwise.
pub fn run(args: Args) -> ExitCode {
    let options = Options {
        max_bytes: args.max_bytes,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failures = 0usize;
    for path in &args.paths {
        if path.as_os_str() == "-" {
            let mut raw = Vec::new();
            match io::stdin().lock().read_to_end(&mut raw) {
                Ok(_) => {
                    if emit(
                        &mut out,
                        args.format,
                        "-",
                        &bounce::analyse_with(&raw, &options),
                    )
                    .is_err()
                    {
                        return ExitCode::from(1);
                    }
                }
                Err(err) => {
                    eprintln!("rebound: cannot read stdin: {err}");
                    failures += 1;
                }
            }
            continue;
        }
        let mut files = Vec::new();
        failures += collect(path, &mut files);
        for file in files {
            match fs::read(&file) {
                Ok(raw) => {
                    let report = bounce::analyse_with(&raw, &options);
                    let name = file.to_string_lossy();
                    if emit(&mut out, args.format, &name, &report).is_err() {
                        return ExitCode::from(1);
                    }
                }
                Err(err) => {
                    eprintln!("rebound: cannot read {}: {err}", file.display());
                    failures += 1;
                }
            }
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(1);
    }
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Adds the files under `path` (sorted, hidden entries skipped) to `files`;
/// returns how many entries could not be read.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> usize {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) => {
            eprintln!("rebound: cannot read {}: {err}", path.display());
            return 1;
        }
    };
    if meta.is_file() {
        files.push(path.to_path_buf());
        return 0;
    }
    if !meta.is_dir() {
        eprintln!("rebound: skipping {}: not a regular file", path.display());
        return 0;
    }
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(err) => {
            eprintln!("rebound: cannot read directory {}: {err}", path.display());
            return 1;
        }
    };
    let mut children: Vec<PathBuf> = Vec::new();
    let mut failures = 0;
    for entry in entries {
        match entry {
            Ok(entry) => {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    children.push(entry.path());
                }
            }
            Err(err) => {
                eprintln!("rebound: cannot read directory {}: {err}", path.display());
                failures += 1;
            }
        }
    }
    children.sort();
    for child in children {
        failures += collect(&child, files);
    }
    failures
}

fn emit(out: &mut impl Write, format: Format, file: &str, report: &Report) -> io::Result<()> {
    match format {
        Format::Jsonl => {
            let line = Line { file, report };
            serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
            out.write_all(b"\n")
        }
        Format::Pretty => pretty(out, file, report),
    }
}

pub(crate) fn pretty(out: &mut impl Write, file: &str, report: &Report) -> io::Result<()> {
    let verdict = serde_json::to_value(report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    write!(out, "{file}: {verdict}")?;
    if let Some(format) = &report.format {
        write!(out, " ({format})")?;
    }
    if let Some(gateway) = &report.gateway {
        write!(out, " via gateway {gateway}")?;
    }
    if report.truncated {
        write!(out, " [truncated]")?;
    }
    writeln!(out)?;
    for r in &report.recipients {
        let kind = serde_json::to_value(r.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        let reason = serde_json::to_value(r.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        writeln!(
            out,
            "  {} {} {} {} {}",
            r.address,
            kind.unwrap_or_default(),
            reason.unwrap_or_default(),
            r.status.as_deref().unwrap_or("-"),
            r.smtp_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
        )?;
        if let Some(d) = &r.diagnostic {
            writeln!(out, "    {d}")?;
        }
        if let Some(s) = &r.suggested_address {
            writeln!(out, "    did you mean {s}?")?;
        }
    }
    if report.verdict == Verdict::Bounce
        && let Some(id) = &report.original.message_id
    {
        writeln!(out, "  original: <{id}>")?;
    }
    if let Some(c) = &report.complaint {
        writeln!(
            out,
            "  complaint: {} by {}",
            c.feedback_type.as_deref().unwrap_or("?"),
            c.recipient.as_deref().unwrap_or("?")
        )?;
    }
    if let Some(a) = &report.auto_reply {
        writeln!(out, "  marker: {}", a.marker)?;
    }
    Ok(())
}
