//! A self-contained Dovecot IMAP server for tests.
//!
//! [`Dovecot::start`] writes a config into a fresh temp dir (its own
//! `base_dir`, `state_dir`, log, passwd-file users with plain passwords,
//! Maildir storage) and runs `/usr/sbin/dovecot -F -c <config>` as a child
//! process listening on 127.0.0.1 only, on two free ports: implicit TLS
//! (993-style, [`Dovecot::tls_port`]) and plaintext/STARTTLS (143-style,
//! [`Dovecot::plain_port`]). TLS uses a throwaway CA and a leaf certificate
//! for `localhost`/`127.0.0.1` ([`Dovecot::ca_pem_path`] is the CA to trust).
//!
//! Test-friendly settings: no failed-login delay (`auth_failure_delay = 0`,
//! anvil auth penalty off), the special-use folders Junk (`\Junk`), Sent
//! (`\Sent`), Drafts (`\Drafts`) and Trash (`\Trash`) auto-created, IDLE
//! rechecking the mailbox every second (so it works even when the inotify
//! instances of the mail user run out across parallel tests). Optional: an
//! `oauth2` passdb validating XOAUTH2/OAUTHBEARER tokens against the fake
//! [`AuthServer`](super::authserver::AuthServer), and limits raised for a
//! thousand connections.
//!
//! When the tests run as root, mail processes run as the unprivileged
//! `rebound-vmail` user (created by `scripts/dovecot-setup.sh`) and the
//! package's `dovecot`/`dovenull` users serve as internal and login users.
//!
//! Dropping a [`Dovecot`] kills the server and its processes; the temp dir
//! goes with it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rebound::config::{
    Auth, FolderRef, Folders, ImapSettings, OAuth2Settings, PasswordMechanism, Secret, TlsMode,
};
use rebound::imap::utf7;

use super::authserver::{self, AuthServer};
use super::certs::TestCa;
use super::rawimap::{RawImap, quote};

mod config;
mod process;

use config::{is_root, mail_user_ids, render_config};
use process::{descendants, exists, signal, terminate};

/// The unprivileged user mail processes run as when tests run as root.
pub const MAIL_USER: &str = "rebound-vmail";

const SETUP_HINT: &str = "run scripts/dovecot-setup.sh (apt-get install dovecot-imapd)";

/// What to start.
#[derive(Debug, Clone)]
pub struct DovecotOptions {
    /// Users and their plain passwords (`alice`/`alice-pw` by default).
    pub users: Vec<(String, String)>,
    /// Dovecot's `tokeninfo_url` for an `oauth2` passdb (XOAUTH2/OAUTHBEARER);
    /// `None` leaves OAuth out.
    pub oauth_tokeninfo_url: Option<String>,
    /// Raise process/connection limits and enable IMAP hibernation, for
    /// benchmarks with ~1,000 concurrent sessions.
    pub many_connections: bool,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            users: vec![("alice".into(), "alice-pw".into())],
            oauth_tokeninfo_url: None,
            many_connections: false,
        }
    }
}

impl DovecotOptions {
    /// Options with no users yet (add them with [`DovecotOptions::user`]).
    pub fn new() -> Self {
        DovecotOptions {
            users: Vec::new(),
            ..DovecotOptions::default()
        }
    }

    /// Adds a user with a plain password (no `:` in either).
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }

    /// Validates OAuth2 bearer tokens against `server`'s tokeninfo endpoint.
    pub fn oauth(mut self, server: &AuthServer) -> Self {
        self.oauth_tokeninfo_url = Some(server.tokeninfo_url());
        self
    }

    /// Raises limits for many concurrent connections (see the field). As
    /// root this also raises the machine's `fs.inotify.max_user_instances`
    /// to at least 4096 (never lowers it): each IDLE session needs an inotify
    /// instance of the mail user to be woken and to hibernate, and the stock
    /// 128 leaves the rest polling in one process each (~5 MiB apiece).
    pub fn many_connections(mut self) -> Self {
        self.many_connections = true;
        self
    }
}

/// A running test Dovecot. See the module documentation.
pub struct Dovecot {
    dir: tempfile::TempDir,
    options: DovecotOptions,
    tls_port: u16,
    plain_port: u16,
    child: Option<Child>,
}

impl Dovecot {
    /// Writes the config and starts the server; returns once both ports
    /// accept connections. Panics with a hint when Dovecot is not installed.
    pub async fn start(options: DovecotOptions) -> Dovecot {
        let binary = dovecot_binary();
        let dir = tempfile::Builder::new()
            .prefix("rebound-dovecot-")
            .tempdir()
            .expect("create the Dovecot temp dir");
        let mut dovecot = Dovecot {
            dir,
            options,
            tls_port: 0,
            plain_port: 0,
            child: None,
        };
        dovecot.prepare_dirs();
        if dovecot.options.many_connections {
            raise_inotify_instances(4096);
        }
        // Free ports are picked by binding port 0 and releasing it; another
        // process may grab one in between, so a bind failure picks new ones.
        let mut last_error = String::new();
        for _ in 0..5 {
            dovecot.tls_port = free_port();
            dovecot.plain_port = free_port();
            dovecot.write_config();
            // A port taken in between, or a start slowed down by a loaded
            // machine: try again with new ports, and report the last reason.
            match dovecot.spawn(&binary).await {
                Ok(()) => return dovecot,
                Err(e) => last_error = e,
            }
        }
        panic!("dovecot did not start after 5 attempts; the last one: {last_error}");
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// The implicit-TLS port (993-style) on 127.0.0.1.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The plaintext/STARTTLS port (143-style) on 127.0.0.1.
    pub fn plain_port(&self) -> u16 {
        self.plain_port
    }

    /// The password of `user` (panics for an unknown user).
    pub fn password(&self, user: &str) -> String {
        self.options
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("no test user {user}"))
    }

    /// The server's log so far (for assertions and failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Settings for `user`: 127.0.0.1, implicit TLS trusting the test CA,
    /// password LOGIN; INBOX and `\Junk` watched, `\Sent` for tracking.
    pub fn imap_settings(&self, user: &str) -> ImapSettings {
        ImapSettings {
            host: "127.0.0.1".into(),
            port: self.tls_port,
            tls: TlsMode::Implicit,
            ca_file: Some(self.ca_pem_path()),
            username: user.into(),
            auth: Auth::Password {
                password: Secret::new(self.password(user)),
                mechanism: PasswordMechanism::Login,
            },
            folders: Folders {
                watch: vec![
                    FolderRef::Name("INBOX".into()),
                    FolderRef::SpecialUse("\\Junk".into()),
                ],
                sent: Some(FolderRef::SpecialUse("\\Sent".into())),
            },
            poll_interval: Duration::from_secs(60),
            idle: true,
            allow_plaintext_remote: false,
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// The same as config YAML: one entry of `inboxes:` (`  - id: ...`,
    /// provider `imap`, implicit TLS to this server trusting the test CA,
    /// `user`'s password), for tests that run the `rebound` binary. Lines
    /// appended after it at four spaces of indentation extend the entry.
    pub fn inbox_yaml(&self, id: &str, account: &str, user: &str) -> String {
        format!(
            "  - id: {id}\n    account: {account}\n    provider: imap\n    host: 127.0.0.1\n    \
             port: {port}\n    tls: implicit\n    ca_file: \"{ca}\"\n    username: {user}\n    \
             auth: {{ kind: password, password: \"{pw}\", mechanism: login }}\n",
            port = self.tls_port,
            ca = self.ca_pem_path().display(),
            pw = self.password(user),
        )
    }

    /// Like [`Dovecot::imap_settings`], with OAuth2 through `server`'s token
    /// endpoint and `refresh_token` (start Dovecot with
    /// [`DovecotOptions::oauth`] for the server to accept the tokens).
    pub fn imap_settings_oauth(
        &self,
        user: &str,
        server: &AuthServer,
        refresh_token: &str,
    ) -> ImapSettings {
        let mut settings = self.imap_settings(user);
        settings.auth = Auth::OAuth2(OAuth2Settings {
            client_id: authserver::CLIENT_ID.into(),
            client_secret: Some(Secret::new(authserver::CLIENT_SECRET)),
            refresh_token: Secret::new(refresh_token),
            token_url: server.token_url(),
            scopes: vec!["imap".into()],
            mechanism: None,
        });
        settings
    }

    /// A logged-in harness connection (plaintext port) for `user`.
    async fn raw(&self, user: &str) -> RawImap {
        RawImap::login(self.plain_port, user, &self.password(user)).await
    }

    /// APPENDs one message to `folder` (UTF-8 name) through IMAP and returns
    /// its UID.
    pub async fn append(&self, user: &str, folder: &str, message: &[u8]) -> u32 {
        let uids = self.append_many(user, folder, [message.to_vec()]).await;
        uids.first().copied().expect("one UID")
    }

    /// APPENDs many messages on one connection, pipelined; returns their UIDs
    /// in order. MULTIAPPEND in chunks of 500; 10,000 small messages take ~6 s.
    pub async fn append_many(
        &self,
        user: &str,
        folder: &str,
        messages: impl IntoIterator<Item = Vec<u8>>,
    ) -> Vec<u32> {
        let mut raw = self.raw(user).await;
        let messages: Vec<Vec<u8>> = messages.into_iter().collect();
        let mut uids = Vec::with_capacity(messages.len());
        let mut messages = messages.into_iter().peekable();
        // Chunks bound the memory of one pipelined write.
        while messages.peek().is_some() {
            let chunk: Vec<Vec<u8>> = messages.by_ref().take(500).collect();
            uids.extend(raw.append_many(&utf7::encode(folder), chunk).await);
        }
        raw.ok("LOGOUT").await;
        uids
    }

    /// The flags of message `uid` in `folder`, e.g. `["\\Seen"]`. Read with
    /// EXAMINE, so looking does not change them.
    pub async fn flags(&self, user: &str, folder: &str, uid: u32) -> Vec<String> {
        let mut raw = self.raw(user).await;
        raw.ok(&format!("EXAMINE {}", quote(&utf7::encode(folder))))
            .await;
        let reply = raw.ok(&format!("UID FETCH {uid} (UID FLAGS)")).await;
        raw.ok("LOGOUT").await;
        let line = reply
            .untagged
            .iter()
            .find(|l| l.contains("FETCH") && l.contains(&format!("UID {uid}")))
            .unwrap_or_else(|| panic!("no message with UID {uid} in {folder}"));
        let flags = line
            .split("FLAGS (")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or("");
        flags.split_whitespace().map(str::to_string).collect()
    }

    /// The folder's UIDVALIDITY, via STATUS on a harness connection.
    pub async fn uidvalidity(&self, user: &str, folder: &str) -> u32 {
        let mut raw = self.raw(user).await;
        let reply = raw
            .ok(&format!(
                "STATUS {} (UIDVALIDITY)",
                quote(&utf7::encode(folder))
            ))
            .await;
        raw.ok("LOGOUT").await;
        reply
            .untagged
            .iter()
            .find_map(|l| l.split("UIDVALIDITY ").nth(1))
            .and_then(|rest| rest.trim_end_matches(')').split([' ', ')']).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no UIDVALIDITY for {folder}"))
    }

    /// Creates a folder (UTF-8 name) with `doveadm`, which takes UTF-8, so the
    /// name's wire encoding comes from Dovecot, not from rebound's encoder.
    pub async fn create_folder(&self, user: &str, name: &str) {
        let out = Command::new(doveadm_binary())
            .arg("-c")
            .arg(self.config_path())
            .args(["mailbox", "create", "-u", user, name])
            .output()
            .expect("run doveadm");
        assert!(
            out.status.success(),
            "doveadm mailbox create {name} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Gives `folder` a new UIDVALIDITY while keeping its messages, as a
    /// server does after rebuilding its index: stops the server, deletes the
    /// folder's `dovecot-uidlist` and index files (and the mailbox list
    /// index), starts it again. Returns the new UIDVALIDITY; panics if it did
    /// not change.
    pub async fn reset_uidvalidity(&mut self, user: &str, folder: &str) -> u32 {
        let before = self.uidvalidity(user, folder).await;
        self.stop().await;
        let root = self.maildir_root(user);
        let folder_dir = if folder.eq_ignore_ascii_case("INBOX") {
            root.clone()
        } else {
            root.join(format!(".{}", utf7::encode(folder).replace('/', ".")))
        };
        assert!(
            folder_dir.is_dir(),
            "no Maildir folder at {}",
            folder_dir.display()
        );
        remove_matching(&folder_dir, |n| {
            n == "dovecot-uidlist" || n.starts_with("dovecot.index")
        });
        remove_matching(&root, |n| n.starts_with("dovecot.list.index"));
        self.start_again().await;
        let after = self.uidvalidity(user, folder).await;
        assert_ne!(before, after, "UIDVALIDITY of {folder} did not change");
        after
    }

    /// Stops and starts the server on the same ports with the same data.
    /// Open sessions are cut.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops the server and all its processes (SIGTERM, SIGKILL after 5 s);
    /// open sessions are cut. Idempotent.
    pub async fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, Duration::from_secs(5)).await;
        }
    }

    /// Starts a stopped server again on the same ports with the same data.
    pub async fn start_again(&mut self) {
        let binary = dovecot_binary();
        // The ports were ours a moment ago; a few tries ride out a slow release.
        let mut last_error = String::new();
        for _ in 0..20 {
            match self.spawn(&binary).await {
                Ok(()) => return,
                Err(e) if e.contains("Address already in use") => {
                    last_error = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("dovecot could not bind its ports again: {last_error}");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    fn maildir_root(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user).join("Maildir")
    }

    fn prepare_dirs(&self) {
        let root = self.dir.path();
        for sub in ["run", "state", "home", "tls"] {
            std::fs::create_dir_all(root.join(sub)).expect("create Dovecot dirs");
        }
        let ca = TestCa::new("dovecot");
        ca.write_server_files(&root.join("tls"));
        let mut passwd = String::new();
        for (user, password) in &self.options.users {
            passwd.push_str(&format!("{user}:{{PLAIN}}{password}\n"));
        }
        std::fs::write(root.join("passwd"), passwd).expect("write passwd");
        if is_root() {
            // The auth process (user `dovecot`) reads the passwd file and the
            // mail processes (MAIL_USER) write under home/: the temp dir must
            // be traversable, home/ owned by the mail user.
            use std::os::unix::fs::PermissionsExt;
            let open = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(root, open.clone()).expect("chmod temp dir");
            std::fs::set_permissions(root.join("passwd"), std::fs::Permissions::from_mode(0o644))
                .expect("chmod passwd");
            let (uid, gid) = mail_user_ids();
            std::os::unix::fs::chown(root.join("home"), Some(uid), Some(gid))
                .expect("chown home to the mail user");
        }
    }

    fn write_config(&self) {
        let config = render_config(
            self.dir.path(),
            self.tls_port,
            self.plain_port,
            &self.options,
        );
        std::fs::write(self.config_path(), config).expect("write dovecot.conf");
    }

    /// Runs the master in the foreground and waits for both ports. `Err`
    /// carries the log and stderr when it exits early.
    async fn spawn(&mut self, binary: &Path) -> Result<(), String> {
        let root = self.dir.path();
        let stderr = std::fs::File::create(root.join("dovecot.stderr")).expect("stderr file");
        let mut command = if self.options.many_connections {
            // Every connection costs descriptors in the login and master
            // processes; raise the soft limit to the hard one.
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" -F -c \"$1\"")
                .arg(binary)
                .arg(self.config_path());
            c
        } else {
            let mut c = Command::new(binary);
            c.arg("-F").arg("-c").arg(self.config_path());
            c
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("could not run {}: {e}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let stderr =
                    std::fs::read_to_string(root.join("dovecot.stderr")).unwrap_or_default();
                return Err(format!(
                    "dovecot exited at startup ({status}).\nstderr:\n{stderr}\nlog:\n{}",
                    self.log()
                ));
            }
            if port_open(self.tls_port) && port_open(self.plain_port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "dovecot did not open its ports within 15 s.\nlog:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // As in `terminate`, children first (the master reaps them), but
            // with SIGKILL and a short wait: Drop blocks its thread.
            let master = child.id();
            let processes = descendants(master);
            for pid in &processes {
                signal(*pid, "KILL");
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while processes.iter().any(|p| exists(*p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let respawned = descendants(master);
            let _ = child.kill();
            for pid in &respawned {
                signal(*pid, "KILL");
            }
            let _ = child.wait();
        }
    }
}

/// Raises `fs.inotify.max_user_instances` to `at_least` when it is lower and
/// the process may write it (root); reports on stderr what it did.
pub fn raise_inotify_instances(at_least: u64) {
    const PATH: &str = "/proc/sys/fs/inotify/max_user_instances";
    let current: u64 = std::fs::read_to_string(PATH)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if current >= at_least {
        return;
    }
    match std::fs::write(PATH, at_least.to_string()) {
        Ok(()) => eprintln!("dovecot harness: raised {PATH} from {current} to {at_least}"),
        Err(e) => eprintln!(
            "dovecot harness: {PATH} is {current} and could not be raised ({e}); \
             IDLE sessions beyond it poll instead of hibernating"
        ),
    }
}

fn remove_matching(dir: &Path, pred: impl Fn(&str) -> bool) {
    for entry in std::fs::read_dir(dir).expect("read Maildir dir").flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(&pred) && entry.path().is_file() {
            std::fs::remove_file(entry.path()).expect("remove index file");
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let fixed = Path::new("/usr/sbin").join(name);
    if fixed.is_file() {
        return Some(fixed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn dovecot_binary() -> PathBuf {
    find_binary("dovecot").unwrap_or_else(|| panic!("dovecot not found: {SETUP_HINT}"))
}

fn doveadm_binary() -> PathBuf {
    find_binary("doveadm").unwrap_or_else(|| panic!("doveadm not found: {SETUP_HINT}"))
}
