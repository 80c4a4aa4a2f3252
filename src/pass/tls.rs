//! TLS for the ureq agent: rustls with the ring provider pinned, the built-in Mozilla roots *plus*
//! the PEM certificates of `pass.ca_file`.
//!
//! ureq's own connector can only use the Mozilla roots or replace them (`RootCerts::Specific`), so
//! this module plugs a small connector into ureq's (semver-exempt, "unversioned") transport chain:
//! TCP from ureq, then a rustls `ClientConfig` we build ourselves. It is a copy of ureq 3.5's
//! `RustlsConnector` minus the features we do not use (client certs, disabled verification).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::ClientConnection;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// Largest `ca_file` we read (a full Mozilla bundle is ~220 KiB).
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// What "now" is for certificate validity (and the clock hint). A plain function so tests can
/// pretend the box clock is wrong.
pub type WallClock = fn() -> SystemTime;

/// Roots: Mozilla's (compiled in) followed by every certificate in `ca_file`.
/// `Err` names what is wrong with the file (the caller reports it as a configuration problem).
pub fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let pem = crate::bounded_read::read_at_most(path, MAX_CA_FILE_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .ok_or_else(|| format!("{} is larger than 4 MiB", path.display()))?;
        let mut added = 0;
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => {
                    let der = CertificateDer::from(c.der().to_vec());
                    roots
                        .add(der)
                        .map_err(|e| format!("{}: bad certificate: {e}", path.display()))?;
                    added += 1;
                }
                Ok(_) => {} // keys and other PEM blocks are ignored
                Err(e) => return Err(format!("{}: bad PEM: {e}", path.display())),
            }
        }
        if added == 0 {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        log::debug!(
            "tls: {} built-in roots + {added} from {}",
            webpki_roots::TLS_SERVER_ROOTS.len(),
            path.display()
        );
    }
    Ok(roots)
}

/// The rustls client configuration: ring provider, TLS 1.2 + 1.3, the given roots and clock.
pub fn client_config(roots: RootCertStore, now: WallClock) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        key_provider: &NoPrivateKeys,
        ..rustls::crypto::ring::default_provider()
    });
    let config = ClientConfig::builder_with_details(provider, Arc::new(Clock(now)))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| format!("tls setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// We never present a certificate, so we never load a private key. Without ring's key provider in
/// the configuration, its key parsing and RSA/ECDSA/Ed25519 signing code is not linked at all
/// (39 KB of the x86_64 binary, resident like all its code).
#[derive(Debug)]
struct NoPrivateKeys;

impl rustls::crypto::KeyProvider for NoPrivateKeys {
    fn load_private_key(
        &self,
        _key_der: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "tvauth does not use client certificates".into(),
        ))
    }
}

#[derive(Debug)]
struct Clock(WallClock);

impl rustls::time_provider::TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        (self.0)()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(UnixTime::since_unix_epoch)
    }
}

/// Wraps the chained TCP transport in TLS when the URL is `https`.
#[derive(Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector { config }
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("no host name for tls"))?;
        // IPv6 literals come bracketed in the URI.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ureq::Error::Tls("invalid tls server name"))?;
        let mut conn =
            ClientConnection::new(self.config.clone(), name).map_err(ureq::Error::Rustls)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock).map_err(io_error)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// rustls reports handshake failures as `io::Error(InvalidData, rustls::Error)`: unwrap them so the
/// certificate error (and its clock context) survives.
fn io_error(e: std::io::Error) -> ureq::Error {
    let is_rustls = e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>());
    if is_rustls {
        if let Some(inner) = e.into_inner() {
            if let Ok(r) = inner.downcast::<rustls::Error>() {
                return ureq::Error::Rustls(*r);
            }
        }
        return ureq::Error::Tls("tls handshake failed");
    }
    ureq::Error::from(e)
}

pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output).map_err(io_error)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input).map_err(io_error)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_cannot_load_private_keys() {
        let config = client_config(root_store(None).unwrap(), SystemTime::now).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(vec![0u8; 8].into());
        let Err(err) = config.crypto_provider().key_provider.load_private_key(key) else {
            panic!("a private key was loaded");
        };
        assert!(err.to_string().contains("client certificates"), "{err}");
        assert!(!config.client_auth_cert_resolver.has_certs());
    }
}
