//! Throwaway certificates for TLS tests: a CA and a leaf certificate for
//! `localhost` / `127.0.0.1` signed by it, generated with rcgen.
//!
//! A server must present the leaf, not the CA: rustls refuses a CA
//! certificate used as an end-entity certificate (`CaUsedAsEndEntity`).
//! [`TestCa::new`] called twice gives two unrelated CAs, which is how a test
//! checks that a certificate from an untrusted issuer is refused.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate authority that can sign leaf certificates.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf (server) certificate with its private key.
pub struct Leaf {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
}

/// Paths of certificate files written by [`TestCa::write_server_files`].
pub struct CertFiles {
    /// The CA certificate (what a client trusts).
    pub ca: PathBuf,
    /// The server's certificate chain (leaf then CA).
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl TestCa {
    /// A fresh CA named `name`; every call yields an unrelated key.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{name} test CA"));
        dn.push(DnType::OrganizationName, "rebound tests");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for the given names (DNS names or IP addresses),
    /// valid for TLS servers, signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("generate leaf key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `ca.pem`, `server-cert.pem` (leaf + CA) and `server-key.pem`
    /// for `localhost` and `127.0.0.1` into `dir`.
    pub fn write_server_files(&self, dir: &Path) -> CertFiles {
        let leaf = self.leaf(&["localhost", "127.0.0.1"]);
        let files = CertFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server-cert.pem"),
            key: dir.join("server-key.pem"),
        };
        std::fs::write(&files.ca, &self.cert_pem).expect("write ca.pem");
        std::fs::write(&files.cert, format!("{}{}", leaf.cert_pem, self.cert_pem))
            .expect("write server-cert.pem");
        std::fs::write(&files.key, &leaf.key_pem).expect("write server-key.pem");
        files
    }

    /// Writes only this CA's certificate to `path` (a trust anchor for a client).
    pub fn write_ca(&self, path: &Path) {
        std::fs::write(path, &self.cert_pem).expect("write CA file");
    }
}
