//! The `rebound` command line. See `rebound --help` and the README.

use std::process::ExitCode;

fn main() -> ExitCode {
    rebound::cli::main()
}
