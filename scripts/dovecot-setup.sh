#!/usr/bin/env bash
# Prepares this machine for the IMAP tests: the tests start their own Dovecot
# instances (tests/support/dovecot.rs) from generated configs in temp dirs, so
# all they need is the Dovecot binary and, when they run as root, an
# unprivileged user for the mail processes.
#
# Idempotent: installs `dovecot-imapd` (apt-get, through sudo when not root)
# only when Dovecot is missing, and creates the `rebound-vmail` system user
# only when it does not exist. The package's own system service is not used;
# if the package started it on ports 143/993 that is harmless (the tests bind
# other, free ports on 127.0.0.1).
set -euo pipefail

MAIL_USER="rebound-vmail"

say() { printf 'dovecot-setup.sh: %s\n' "$*" >&2; }
die() { printf 'dovecot-setup.sh: error: %s\n' "$*" >&2; exit 1; }

sudo=()
if (( EUID != 0 )); then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    fi
fi

# --- Dovecot -----------------------------------------------------------------
dovecot_installed() {
    [[ -x /usr/sbin/dovecot ]] || command -v dovecot >/dev/null 2>&1 || return 1
    [[ "$(dpkg-query -W -f='${db:Status-Status}' dovecot-imapd 2>/dev/null || true)" == "installed" ]] \
        || ! command -v dpkg-query >/dev/null 2>&1
}

if ! dovecot_installed; then
    command -v apt-get >/dev/null 2>&1 \
        || die "Dovecot is not installed and this is not a Debian/Ubuntu system (no apt-get).
    Install Dovecot 2.3 with IMAP support (imapd) with your package manager."
    if (( EUID != 0 )) && (( ${#sudo[@]} == 0 )); then
        die "Dovecot is not installed; not running as root and sudo is not installed. As root run:
    apt-get update && apt-get install -y dovecot-imapd"
    fi
    say "installing dovecot-imapd (apt-get)"
    # policy-rc.d would keep the package from starting its service, but the
    # tests do not mind the system instance; keep the install plain.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update \
        || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd \
        || die "apt-get install -y dovecot-imapd failed"
fi

[[ -x /usr/sbin/dovecot ]] || command -v dovecot >/dev/null 2>&1 \
    || die "dovecot is still not found after installing dovecot-imapd"

# Debian's package creates `dovecot` (internal processes) and `dovenull`
# (login processes); the test instances run as these when root.
if (( EUID == 0 )); then
    for user in dovecot dovenull; do
        getent passwd "$user" >/dev/null 2>&1 \
            || die "system user '$user' is missing (it comes with the dovecot-core package); reinstall it:
    apt-get install --reinstall -y dovecot-core"
    done
fi

# --- The unprivileged mail user (root only) -----------------------------------
# Dovecot refuses to run mail processes as root: as root, the test instances
# set mail_uid/mail_gid to this user.
if (( EUID == 0 )); then
    if ! getent passwd "$MAIL_USER" >/dev/null 2>&1; then
        say "creating system user $MAIL_USER"
        if command -v useradd >/dev/null 2>&1; then
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$MAIL_USER" \
                || die "could not create system user $MAIL_USER"
        elif command -v adduser >/dev/null 2>&1; then
            adduser --system --group --no-create-home --home /nonexistent "$MAIL_USER" \
                || die "could not create system user $MAIL_USER"
        else
            die "neither useradd nor adduser is available to create system user $MAIL_USER"
        fi
    fi
fi

say "dovecot ready: $(/usr/sbin/dovecot --version 2>/dev/null || dovecot --version)"
