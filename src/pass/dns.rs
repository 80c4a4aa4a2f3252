//! Host name lookup only when a connection is opened.
//!
//! ureq 3 resolves the host of *every* request before it looks in its keep-alive pool, and with a
//! timeout set (we always set one) its `DefaultResolver` spawns a thread per lookup. Measured with
//! `cargo bench --bench agent`: each `profile.get` on a pooled connection cost a thread spawn, a
//! `getaddrinfo` (nsswitch, /etc/hosts, on a box a DNS query) and a new glibc malloc arena for the
//! short-lived thread. [`Deferred`] answers ureq's up-front lookup with no address; [`OnConnect`],
//! the first connector of the chain, does the real lookup (ureq's, bounded by the connect timeout)
//! only when the pool has no connection and a TCP connection is actually opened — what curl does.

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, NextTimeout, TcpConnector, Transport,
};

/// The resolver given to the ureq agent: no lookup before the pool is consulted.
#[derive(Debug, Default)]
pub struct Deferred;

impl Resolver for Deferred {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        Ok(self.empty())
    }
}

/// TCP connector that resolves the host first when ureq handed it no address (see [`Deferred`]).
#[derive(Debug)]
pub struct OnConnect<R = DefaultResolver> {
    lookup: R,
    tcp: TcpConnector,
}

impl<R: Resolver> OnConnect<R> {
    /// Resolve with `lookup` (tests count lookups; production uses ureq's `DefaultResolver`).
    pub fn with(lookup: R) -> OnConnect<R> {
        OnConnect {
            lookup,
            tcp: TcpConnector::default(),
        }
    }
}

impl<In: Transport, R: Resolver> Connector<In> for OnConnect<R> {
    type Out = <TcpConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() || !details.addrs.is_empty() {
            return self.tcp.connect(details, chained);
        }
        // Same budget as the connect; a lookup that runs out is still a lookup timeout.
        let timeout = NextTimeout {
            reason: ureq::Timeout::Resolve,
            ..details.timeout
        };
        let addrs = self.lookup.resolve(details.uri, details.config, timeout)?;
        let resolved = ConnectionDetails {
            uri: details.uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        self.tcp.connect(&resolved, chained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// ureq's lookup, counted.
    #[derive(Debug, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &ureq::http::Uri,
            config: &ureq::config::Config,
            timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            DefaultResolver::default().resolve(uri, config, timeout)
        }
    }

    /// A tiny HTTP/1.1 server on localhost answering `ok` to every request; `keep_alive: false`
    /// closes the connection after each answer. Serves connections one after the other.
    fn server(keep_alive: bool) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    // Request line and headers up to the blank line (GETs: no body).
                    let mut got = false;
                    while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                        got = true;
                        if line == "\r\n" {
                            break;
                        }
                        line.clear();
                    }
                    if !got {
                        break;
                    }
                    let conn = if keep_alive { "keep-alive" } else { "close" };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: {conn}\r\n\r\nok"
                    );
                    if w.write_all(resp.as_bytes()).is_err() || !keep_alive {
                        break;
                    }
                }
            }
        });
        port
    }

    fn agent(lookups: &Arc<AtomicUsize>) -> ureq::Agent {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build();
        let connector = ().chain(OnConnect::with(Counting(lookups.clone())));
        ureq::Agent::with_parts(config, connector, Deferred)
    }

    fn get(agent: &ureq::Agent, port: u16) -> String {
        let mut resp = agent
            .get(&format!("http://localhost:{port}/x"))
            .call()
            .unwrap();
        let mut body = String::new();
        resp.body_mut()
            .as_reader()
            .read_to_string(&mut body)
            .unwrap();
        body
    }

    #[test]
    fn pooled_calls_do_not_look_the_host_up_again() {
        let lookups = Arc::new(AtomicUsize::new(0));
        let agent = agent(&lookups);
        let port = server(true);
        for _ in 0..5 {
            assert_eq!(get(&agent, port), "ok");
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn every_new_connection_looks_the_host_up() {
        let lookups = Arc::new(AtomicUsize::new(0));
        let agent = agent(&lookups);
        let port = server(false);
        for _ in 0..3 {
            assert_eq!(get(&agent, port), "ok");
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 3);
    }

    /// A lookup that finds nothing (no network needed).
    #[derive(Debug)]
    struct Nowhere;

    impl Resolver for Nowhere {
        fn resolve(
            &self,
            _uri: &ureq::http::Uri,
            _config: &ureq::config::Config,
            _timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            Err(ureq::Error::HostNotFound)
        }
    }

    #[test]
    fn a_failed_lookup_is_still_host_not_found() {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build();
        let agent = ureq::Agent::with_parts(config, ().chain(OnConnect::with(Nowhere)), Deferred);
        let err = agent.get("http://tvauth.example/").call().unwrap_err();
        assert!(matches!(err, ureq::Error::HostNotFound), "{err}");
    }
}
