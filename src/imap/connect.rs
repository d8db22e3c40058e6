//! Transport: TCP, then TLS through tokio-rustls (implicit, or after
//! STARTTLS), with the certificate and host name always verified.
//!
//! Trust anchors are the system roots (rustls-native-certs, loaded once per
//! process) plus the inbox's optional `ca_file`. There is no way to turn
//! verification off.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::Error;

/// The byte stream under an IMAP session: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum Stream {
    /// No TLS (loopback only; the config layer enforces that).
    Plain(TcpStream),
    /// TLS, implicit or after STARTTLS.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens the TCP connection within `limit`.
pub(super) async fn tcp(host: &str, port: u16, limit: Duration) -> Result<TcpStream, Error> {
    let stream = tokio::time::timeout(limit, TcpStream::connect((host, port)))
        .await
        .map_err(|_| Error::Timeout("TCP connect"))?
        .map_err(|source| Error::Connect {
            host: host.to_string(),
            port,
            source,
        })?;
    // IMAP is a request/response protocol of small writes (commands, DONE).
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Wraps `tcp` in TLS for `host`, trusting the system roots and `ca_file`.
pub(super) async fn tls(
    tcp: TcpStream,
    host: &str,
    ca_file: Option<&Path>,
    limit: Duration,
) -> Result<Stream, Error> {
    let config = shared_client_config(host, ca_file)?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| Error::Tls {
        host: host.to_string(),
        message: format!("'{host}' is not a valid server name: {e}"),
    })?;
    let connector = TlsConnector::from(config);
    let stream = tokio::time::timeout(limit, connector.connect(name, tcp))
        .await
        .map_err(|_| Error::Timeout("TLS handshake"))?
        .map_err(|e| Error::Tls {
            host: host.to_string(),
            message: describe_tls_error(&e),
        })?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// The system trust anchors, loaded once (reading the system store costs
/// milliseconds and a file parse; a thousand sessions share it).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        // Unparsable system certificates are skipped, as browsers do.
        let _ = roots.add_parsable_certificates(found.certs);
        roots
    })
}

/// One TLS client configuration per trust setting (system roots, or system
/// roots plus a given `ca_file`), shared by every session that uses it: a
/// configuration holds its own copy of the root store (~150 trust anchors),
/// and each live connection keeps its configuration, so a copy per session
/// would cost tens of kilobytes per idle inbox. A `ca_file` is read the
/// first time it is used; changing it takes a restart.
fn shared_client_config(host: &str, ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
    static CONFIGS: OnceLock<Mutex<HashMap<Option<PathBuf>, Arc<ClientConfig>>>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| Mutex::new(HashMap::new()));
    let key = ca_file.map(Path::to_path_buf);
    if let Some(config) = configs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&key)
    {
        return Ok(config.clone());
    }
    let config = client_config(host, ca_file)?;
    configs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(key, config.clone());
    Ok(config)
}

fn client_config(host: &str, ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
    let tls_error = |message: String| Error::Tls {
        host: host.to_string(),
        message,
    };
    let mut roots = system_roots().clone();
    if let Some(path) = ca_file {
        let mut added = 0usize;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| tls_error(format!("could not read ca_file {}: {e}", path.display())))?
        {
            let cert = cert.map_err(|e| {
                tls_error(format!(
                    "ca_file {} holds a bad certificate: {e}",
                    path.display()
                ))
            })?;
            roots.add(cert).map_err(|e| {
                tls_error(format!(
                    "ca_file {} holds an unusable CA: {e}",
                    path.display()
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(tls_error(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        return Err(tls_error(
            "no trusted CA certificates: the system store is empty and no ca_file is set".into(),
        ));
    }
    // An installed process-wide provider wins; otherwise the one this build
    // links (aws-lc-rs, also used by reqwest).
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Words for a failed handshake; certificate problems say so plainly.
fn describe_tls_error(e: &io::Error) -> String {
    use rustls::CertificateError as C;
    let inner = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            C::UnknownIssuer => "the server's certificate was not trusted: it is signed by an \
                                 unknown issuer (set ca_file to the CA that issued it)"
                .into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the server's certificate was not trusted: it is not valid for this host name"
                    .into()
            }
            C::Expired | C::ExpiredContext { .. } => {
                "the server's certificate was not trusted: it has expired".into()
            }
            other => format!("the server's certificate was not trusted: {other:?}"),
        },
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {e}"),
    }
}
