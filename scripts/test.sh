#!/usr/bin/env bash
# Runs every test of rebound. This is THE test command of the README and of .ci/run.
#
# Works on a fresh Debian/Ubuntu machine that has this repository and Rust
# (>= 1.95, via rustup): it installs the system packages the tests need (with
# sudo when not run as root), then runs `cargo test` over all targets and the
# doc tests. It never needs ../shared (the corpus check is scripts/accuracy.sh).
set -euo pipefail

# System packages the tests need, installed when missing. Later issues add to
# this list (Dovecot for the IMAP tests: scripts/dovecot-setup.sh below).
APT_PACKAGES=()

MIN_RUST="1.95"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- Rust -------------------------------------------------------------------
# A rustup install puts cargo in ~/.cargo/bin, which a fresh shell may not have
# on PATH yet.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    die "cargo not found. rebound needs Rust >= $MIN_RUST, installed with rustup:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain stable
    . \"\$HOME/.cargo/env\"
then run this script again (see README.md, 'Precondition')."
fi

# rustc prints e.g. "rustc 1.95.0 (…)"; compare major.minor with MIN_RUST.
rust_version="$(rustc --version 2>/dev/null | awk '{print $2}')"
version_at_least() { # $1 >= $2, both "major.minor[.patch]"
    local a b
    IFS=. read -r -a a <<<"$1"
    IFS=. read -r -a b <<<"$2"
    (( ${a[0]:-0} > ${b[0]:-0} )) && return 0
    (( ${a[0]:-0} < ${b[0]:-0} )) && return 1
    (( ${a[1]:-0} >= ${b[1]:-0} ))
}
if [[ -z "$rust_version" ]] || ! version_at_least "${rust_version%%-*}" "$MIN_RUST"; then
    die "rustc ${rust_version:-(not found)} is too old: rebound needs Rust >= $MIN_RUST.
    rustup update stable"
fi

# --- System packages ----------------------------------------------------------
# Rust links through the system C compiler driver (`cc`); a machine with only
# rustup may not have one.
if ! command -v cc >/dev/null 2>&1; then
    APT_PACKAGES+=(gcc libc6-dev)
fi

# Installs the given Debian packages that are not installed yet:
# `apt-get update && apt-get install -y ...`, through sudo when not root.
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]]; then
            missing+=("$pkg")
        fi
    done
    (( ${#missing[@]} == 0 )) && return 0

    command -v apt-get >/dev/null 2>&1 \
        || die "the tests need these packages, and this is not a Debian/Ubuntu system (no apt-get): ${missing[*]}
    install them with your package manager, then run this script again."
    local sudo=()
    if (( EUID != 0 )); then
        command -v sudo >/dev/null 2>&1 \
            || die "the tests need these packages: ${missing[*]}
    not running as root and sudo is not installed; as root run:
    apt-get update && apt-get install -y ${missing[*]}"
        sudo=(sudo)
    fi
    say "installing ${missing[*]} (apt-get)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" \
        || die "could not install: ${missing[*]}"
}

if (( ${#APT_PACKAGES[@]} > 0 )); then
    ensure_apt_packages "${APT_PACKAGES[@]}"
fi

# --- Dovecot for the IMAP tests ------------------------------------------------
# The IMAP tests start their own Dovecot instances; this installs the package
# (and, as root, the unprivileged mail user) when missing.
bash scripts/dovecot-setup.sh || die "could not prepare Dovecot for the IMAP tests"

# --- Tests ------------------------------------------------------------------
say "cargo test --all-targets"
cargo test --all-targets
say "cargo test --doc"
cargo test --doc
say "all tests passed"
