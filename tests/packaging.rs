//! The shipped packaging files agree with the contract and with each other: the default config
//! parses with our own loader and carries the contract values, the unit has the directives the
//! daemon relies on, and unit, config, sysusers, maintainer scripts and cargo-deb metadata name
//! the same paths. (`systemd-analyze verify/security` run in `packaging/check.sh`.)

use std::path::{Path, PathBuf};

use tvauth::config::{Config, DEFAULT_PATH};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `(section, key, value)` for every assignment in a systemd unit, comments dropped.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_owned();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not an assignment: {line}"));
        out.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
    }
    out
}

fn unit_values(entries: &[(String, String, String)], section: &str, key: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.clone())
        .collect()
}

fn unit_value(entries: &[(String, String, String)], section: &str, key: &str) -> String {
    let v = unit_values(entries, section, key);
    assert_eq!(v.len(), 1, "[{section}] {key}= set {} times", v.len());
    v[0].clone()
}

#[test]
fn default_config_parses_with_the_contract_values() {
    let path = repo_file("packaging/tvauth.toml");
    let c = Config::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.source.as_deref(), Some(path.as_path()));
    assert_eq!(c.state_dir, Path::new("/var/lib/tvauth"));
    assert_eq!(c.log_level, log::LevelFilter::Info);

    assert_eq!(c.socket.path, Path::new("/run/tvauth/tvauth.sock"));
    assert_eq!(c.socket.mode, 0o660);
    assert!(c.socket.allowed_uids.is_empty());
    assert!(c.socket.allowed_gids.is_empty());
    assert_eq!(c.socket.max_connections, 32);
    assert_eq!(c.socket.line_timeout_secs, 10);

    let p = &c.pass;
    assert_eq!(p.base_url, "https://sp.auth.adobe.com");
    assert_eq!(p.service_provider, "REF30");
    assert!(p.software_statement.is_empty());
    assert_eq!(p.ca_file, None);
    assert_eq!(p.legacy_base_url, "https://api.auth.adobe.com");
    assert_eq!(p.domain_name, "");
    assert_eq!(p.redirect_url, "");
    assert_eq!(p.timeout_secs, 15);
    assert_eq!(p.poll_interval_secs, 5);
    assert_eq!((p.throttle_per_sec, p.throttle_burst), (1, 10));

    // Only the hardware type is pinned; everything else is collected on the box.
    let expected = tvauth::config::DeviceConfig {
        primary_hardware_type: Some("SetTopBox".into()),
        ..Default::default()
    };
    assert_eq!(c.device, expected);
    assert_eq!(c.pass_missing(), vec!["pass.software_statement"]);
}

#[test]
fn default_config_equals_the_embedded_defaults() {
    // The shipped file documents the defaults; it must not silently change behaviour.
    let file = Config::from_file(&repo_file("packaging/tvauth.toml")).unwrap();
    let mut file_dump = file.to_masked_toml();
    let mut default_dump = Config::defaults().to_masked_toml();
    // First line names the source.
    file_dump = file_dump.split_once('\n').unwrap().1.to_owned();
    default_dump = default_dump.split_once('\n').unwrap().1.to_owned();
    assert_eq!(file_dump, default_dump);
}

#[test]
fn default_config_documents_every_key() {
    let text = read("packaging/tvauth.toml");
    let tables: Vec<&str> = tvauth::config::KEYS.iter().map(|(t, _)| *t).collect();
    let keys = tvauth::config::KEYS
        .iter()
        .flat_map(|(_, keys)| keys.iter())
        .filter(|k| !tables.contains(k));
    for key in keys {
        let present = text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        assert!(present, "key `{key}` is not in packaging/tvauth.toml");
    }
}

#[test]
fn unit_has_the_directives_the_daemon_relies_on() {
    let unit = read("packaging/tvauth.service");
    let e = unit_entries(&unit);
    let s = "Service";
    assert_eq!(unit_value(&e, s, "Type"), "notify");
    assert_eq!(unit_value(&e, s, "NotifyAccess"), "main");
    assert_eq!(
        unit_value(&e, s, "ExecStart"),
        format!("/usr/bin/tvauth daemon --config {DEFAULT_PATH}")
    );
    assert_eq!(unit_value(&e, s, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(unit_value(&e, s, "Restart"), "on-failure");
    assert!(!unit_value(&e, "Unit", "StartLimitIntervalSec").is_empty());
    assert!(!unit_value(&e, "Unit", "StartLimitBurst").is_empty());

    assert_eq!(unit_value(&e, s, "User"), "tvauth");
    assert_eq!(unit_value(&e, s, "Group"), "tvauth-clients");
    assert_eq!(unit_value(&e, s, "StateDirectory"), "tvauth");
    assert_eq!(unit_value(&e, s, "StateDirectoryMode"), "0700");
    assert_eq!(unit_value(&e, s, "RuntimeDirectory"), "tvauth");
    assert_eq!(unit_value(&e, s, "RuntimeDirectoryMode"), "0750");
    assert_eq!(unit_value(&e, s, "ConfigurationDirectory"), "tvauth");
    assert_eq!(unit_value(&e, "Install", "WantedBy"), "multi-user.target");

    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectProc", "invisible"),
        ("ProtectKernelTunables", "yes"),
        ("RestrictNamespaces", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("UMask", "0077"),
    ] {
        assert_eq!(unit_value(&e, s, key), value, "{key}");
    }
    // Outbound HTTPS and the socket need these families; nothing more.
    assert_eq!(
        unit_value(&e, s, "RestrictAddressFamilies"),
        "AF_UNIX AF_INET AF_INET6 AF_NETLINK"
    );
    // Relaxed on purpose (see the comments in the unit): each would break what the agent reads.
    for key in [
        "ProcSubset",
        "PrivateUsers",
        "PrivateNetwork",
        "IPAddressDeny",
    ] {
        assert!(unit_values(&e, s, key).is_empty(), "{key} must stay unset");
        assert!(
            unit.lines()
                .any(|l| l.starts_with('#') && l.contains(&format!("{key}="))),
            "the unit must say why {key}= is relaxed"
        );
    }
    // DynamicUser would give the state_dir an unstable owner and the socket no fixed group.
    assert!(unit_values(&e, s, "DynamicUser").is_empty());
}

#[test]
fn unit_config_and_sysusers_agree() {
    let e = unit_entries(&read("packaging/tvauth.service"));
    let c = Config::from_file(&repo_file("packaging/tvauth.toml")).unwrap();
    let state = unit_value(&e, "Service", "StateDirectory");
    assert_eq!(c.state_dir, Path::new("/var/lib").join(state));
    let runtime = unit_value(&e, "Service", "RuntimeDirectory");
    assert_eq!(
        c.socket.path.parent(),
        Some(Path::new("/run").join(runtime).as_path())
    );
    let conf = unit_value(&e, "Service", "ConfigurationDirectory");
    assert_eq!(
        Path::new(DEFAULT_PATH).parent(),
        Some(Path::new("/etc").join(conf).as_path())
    );

    // Two threads per connection plus a few must fit under TasksMax.
    let tasks: usize = unit_value(&e, "Service", "TasksMax").parse().unwrap();
    assert!(
        tasks >= 2 * c.socket.max_connections + 8,
        "TasksMax={tasks}"
    );

    // The user and group the unit runs as are the ones sysusers.d creates.
    let sysusers = read("packaging/tvauth.sysusers");
    let lines: Vec<Vec<&str>> = sysusers
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let user = unit_value(&e, "Service", "User");
    let group = unit_value(&e, "Service", "Group");
    assert!(
        lines.iter().any(|l| l[0] == "u" && l[1] == user),
        "{sysusers}"
    );
    assert!(
        lines.iter().any(|l| l[0] == "g" && l[1] == group),
        "{sysusers}"
    );
    // The user's home is the state dir (shown by tools; no shell).
    let home = lines.iter().find(|l| l[0] == "u").and_then(|l| l.last());
    assert_eq!(home.map(Path::new), Some(c.state_dir.as_path()));
}

#[test]
fn state_is_only_deleted_on_purge() {
    let postrm = read("packaging/debian/postrm");
    assert!(postrm.contains("#DEBHELPER#"), "cargo-deb needs the token");
    let purge = postrm
        .find(r#"if [ "$1" = "purge" ]; then"#)
        .expect("a purge branch");
    let rm = postrm
        .find("rm -rf /var/lib/tvauth")
        .expect("state removal");
    assert!(rm > purge, "state_dir removed outside the purge branch");
    let branch_end = postrm[purge..].find("\nfi").map(|i| purge + i).unwrap();
    assert!(
        rm < branch_end,
        "state_dir removed outside the purge branch"
    );
    assert_eq!(postrm.matches("rm ").count(), 1, "nothing else is removed");
}

#[test]
fn deb_metadata_installs_what_the_unit_expects() {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let dests: Vec<(&str, &str)> = assets
        .iter()
        .map(|a| {
            let a = a.as_array().unwrap();
            (a[0].as_str().unwrap(), a[1].as_str().unwrap())
        })
        .collect();
    for (src, _) in &dests {
        if !src.starts_with("target/") {
            assert!(repo_file(src).is_file(), "asset {src} missing");
        }
    }
    assert!(dests.contains(&("target/release/tvauth", "usr/bin/")));
    let conf_dest = DEFAULT_PATH.trim_start_matches('/');
    assert!(dests.contains(&("packaging/tvauth.toml", conf_dest)));
    let scripts = deb["maintainer-scripts"].as_str().unwrap();
    assert!(repo_file(scripts).join("postrm").is_file());
    let units = deb["systemd-units"]["unit-scripts"].as_str().unwrap();
    assert!(repo_file(units).join("tvauth.service").is_file());
    assert!(repo_file(units).join("tvauth.sysusers").is_file());
}
