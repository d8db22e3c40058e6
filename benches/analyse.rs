//! Throughput of the analysis core against the parse-only floor.
//!
//! Not a test: `cargo bench --bench analyse` (or `scripts/bench.sh`).
//!
//! Loads every regular, non-hidden file under `REBOUND_BENCH_DIR` (default
//! `../shared/corpus/dev/eml`, relative to the package root) into memory, then
//! measures on one thread, in the same run:
//!
//! - **floor**: `mail_parser::MessageParser::new().parse(bytes)` over all messages;
//! - **core**: `rebound::bounce::analyse(bytes)` over all messages;
//! - for information, `MessageParser::new().parse_headers(bytes)`: the header
//!   block alone, what an early exit for ordinary mail could approach.
//!
//! One warm-up round of each, then `REBOUND_BENCH_ROUNDS` (default 30) rounds,
//! floor and core interleaved so that drift in machine load hits both alike.
//! Reports median, min and max messages/s, the ratio core/floor (time per
//! message), the slowest messages for the core, and the peak RSS (VmHWM).
//!
//! `REBOUND_BENCH_PROFILE=core` (or `floor`, `headers`) runs only that loop,
//! for use under a profiler.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

const DEFAULT_DIR: &str = "../shared/corpus/dev/eml";
const DEFAULT_ROUNDS: usize = 30;

struct Corpus {
    names: Vec<PathBuf>,
    messages: Vec<Vec<u8>>,
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` (the README's
    // test command, which must pass without the corpus) runs this binary
    // without it: then it only proves the benchmark builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: built; run it with `cargo bench --bench analyse` (scripts/bench.sh)");
        return ExitCode::SUCCESS;
    }
    let dir = std::env::var_os("REBOUND_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let rounds = match std::env::var("REBOUND_BENCH_ROUNDS") {
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("bench: REBOUND_BENCH_ROUNDS must be a positive integer, got {v:?}");
                return ExitCode::from(2);
            }
        },
        Err(_) => DEFAULT_ROUNDS,
    };
    if !dir.is_dir() {
        eprintln!(
            "bench: message directory {} not found (cwd {}).\n\
             Set REBOUND_BENCH_DIR to a directory of raw messages (.eml files), \
             e.g. the dev corpus at ../shared/corpus/dev/eml beside the clone.",
            dir.display(),
            std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    let corpus = match load(&dir) {
        Ok(c) if !c.messages.is_empty() => c,
        Ok(_) => {
            eprintln!("bench: no messages under {}", dir.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("bench: cannot read {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    let n = corpus.messages.len();
    let bytes: usize = corpus.messages.iter().map(Vec::len).sum();
    println!(
        "corpus: {} ({n} messages, {:.1} MiB), {rounds} rounds, single thread",
        dir.display(),
        bytes as f64 / (1024.0 * 1024.0)
    );

    let floor = |msgs: &[Vec<u8>]| {
        let parser = MessageParser::new();
        for m in msgs {
            black_box(parser.parse(black_box(m.as_slice())));
        }
    };
    // Not a floor of the core (which needs the bodies), but the cost of the
    // header block alone: what an early exit for ordinary mail could approach.
    let headers_only = |msgs: &[Vec<u8>]| {
        let parser = MessageParser::new();
        for m in msgs {
            black_box(parser.parse_headers(black_box(m.as_slice())));
        }
    };
    let core = |msgs: &[Vec<u8>]| {
        for m in msgs {
            black_box(rebound::bounce::analyse(black_box(m.as_slice())));
        }
    };

    // Profiling aid: `REBOUND_BENCH_PROFILE=core|floor|headers` runs only that loop,
    // `rounds` times, with no report (e.g. under `perf record`).
    if let Ok(which) = std::env::var("REBOUND_BENCH_PROFILE") {
        for _ in 0..rounds {
            match which.as_str() {
                "floor" => floor(&corpus.messages),
                "headers" => headers_only(&corpus.messages),
                _ => core(&corpus.messages),
            }
        }
        return ExitCode::SUCCESS;
    }

    // Warm-up: caches, allocator, lazily built tables.
    time(|| floor(&corpus.messages));
    time(|| core(&corpus.messages));

    time(|| headers_only(&corpus.messages));

    let mut floor_t = Vec::with_capacity(rounds);
    let mut core_t = Vec::with_capacity(rounds);
    let mut head_t = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        floor_t.push(time(|| floor(&corpus.messages)));
        core_t.push(time(|| core(&corpus.messages)));
        head_t.push(time(|| headers_only(&corpus.messages)));
    }

    let f = Stats::new(&floor_t, n);
    let c = Stats::new(&core_t, n);
    println!();
    println!(
        "{:<28} {:>12} {:>12} {:>12} {:>10}",
        "", "median msg/s", "min msg/s", "max msg/s", "µs/msg"
    );
    f.print("floor (mail-parser parse)");
    c.print("core (bounce::analyse)");
    Stats::new(&head_t, n).print("(info) parse_headers only");
    let ratio = c.median_secs / f.median_secs;
    println!();
    println!("ratio core/floor (median time): {ratio:.2}x");
    println!(
        "targets: core >= 50000 msg/s: {}; core within 2x of floor: {}",
        verdict(c.median_rate() >= 50_000.0),
        verdict(ratio <= 2.0)
    );

    // The slowest messages for the core, each timed alone (best of 5).
    let mut per: Vec<(Duration, usize)> = corpus
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let best = (0..5)
                .map(|_| time(|| black_box(rebound::bounce::analyse(black_box(m)))))
                .min()
                .unwrap_or_default();
            (best, i)
        })
        .collect();
    per.sort_unstable_by(|a, b| b.cmp(a));
    let total: Duration = per.iter().map(|(d, _)| *d).sum();
    println!();
    println!("slowest messages (core, best of 5):");
    for (d, i) in per.iter().take(5) {
        println!(
            "  {:>9.1} µs  {:>5.1}%  {:>8} B  {}",
            d.as_secs_f64() * 1e6,
            100.0 * d.as_secs_f64() / total.as_secs_f64(),
            corpus.messages[*i].len(),
            corpus.names[*i].display()
        );
    }

    if let Some(hwm) = peak_rss_kib() {
        println!();
        println!(
            "peak RSS (VmHWM, corpus held in memory): {:.1} MiB",
            hwm as f64 / 1024.0
        );
    }
    ExitCode::SUCCESS
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

struct Stats {
    median_secs: f64,
    min_secs: f64,
    max_secs: f64,
    n: usize,
}

impl Stats {
    fn new(times: &[Duration], n: usize) -> Stats {
        let mut s: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        let mid = s.len() / 2;
        let median_secs = if s.len().is_multiple_of(2) {
            (s[mid - 1] + s[mid]) / 2.0
        } else {
            s[mid]
        };
        Stats {
            median_secs,
            min_secs: s[0],
            max_secs: s[s.len() - 1],
            n,
        }
    }

    fn median_rate(&self) -> f64 {
        self.n as f64 / self.median_secs
    }

    fn print(&self, label: &str) {
        // The fastest round gives the highest rate and vice versa.
        println!(
            "{label:<28} {:>12.0} {:>12.0} {:>12.0} {:>10.2}",
            self.median_rate(),
            self.n as f64 / self.max_secs,
            self.n as f64 / self.min_secs,
            self.median_secs * 1e6 / self.n as f64
        );
    }
}

/// Every regular, non-hidden file under `dir`, recursively, in path order.
fn load(dir: &Path) -> std::io::Result<Corpus> {
    let mut names = Vec::new();
    walk(dir, &mut names)?;
    names.sort();
    let messages = names
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(Corpus { names, messages })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Peak resident set size of this process in KiB, from /proc (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
