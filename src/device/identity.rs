//! The device fingerprint (`AP-Device-Identifier: fingerprint <value>`, spec §1.2).
//!
//! Adobe invalidates every profile when this value changes, so it is derived once and then read back
//! from `state_dir/identity` forever. Derivation takes the strongest hardware identity the box has —
//! the configured `device.identity_file`, else the device-tree serial number, else the DMI product UUID,
//! else `/etc/machine-id` — and computes `base64(HMAC-SHA256(APP_KEY, "<source>:<id bytes>"))`: the same
//! box always gives the same value, two boxes give different ones, and the raw serial is neither sent
//! nor correlatable with other apps' identifiers. Only a box with none of these gets 32 random bytes.
//! Host name, NICs and addresses are never inputs.
//!
//! A corrupt or truncated state file is moved aside by the store and re-derived: the same value comes
//! back when it came from hardware.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use miniserde::json::{Object, Value};
use miniserde::{Deserialize, Serialize};

use crate::config::DeviceConfig;
use crate::device::facts::{self, HardwareIds};
use crate::store::{Store, StoreError};

/// The app-specific HMAC key: makes our fingerprint uncorrelatable with other users of the same serial.
/// Never change it — every fingerprint derived from hardware would change with it.
const APP_KEY: &[u8] = b"tvauth/ap-device-identifier/v1";
/// The state file name in `state_dir`.
pub const STATE_FILE: &str = "identity";
const ID_FILE_BYTES: u64 = 4 * 1024;
/// A stored fingerprint longer than this is not ours.
const MAX_FINGERPRINT_CHARS: usize = 512;

/// Source kinds, recorded next to the fingerprint and mixed into the HMAC message.
pub const SOURCE_IDENTITY_FILE: &str = "identity-file";
pub const SOURCE_DT_SERIAL: &str = "device-tree-serial";
pub const SOURCE_DMI_UUID: &str = "dmi-product-uuid";
pub const SOURCE_MACHINE_ID: &str = "machine-id";
pub const SOURCE_RANDOM: &str = "random";

/// The on-disk document (inside the store's versioned, checksummed envelope).
#[derive(Serialize, Deserialize)]
struct Stored {
    fingerprint: String,
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    fingerprint: String,
    source: String,
}

impl Identity {
    /// The persisted fingerprint, or a new derivation (then persisted) when there is none or it was
    /// corrupt. Errors only when `state_dir` cannot be read or written.
    pub fn load_or_derive(
        store: &Store,
        root: &Path,
        cfg: &DeviceConfig,
    ) -> Result<Identity, StoreError> {
        if let Some(stored) = store.read::<Stored>(STATE_FILE)? {
            match Identity::from_stored(stored) {
                Some(id) => return Ok(id),
                None => log::warn!(
                    "state file {} holds no valid fingerprint; deriving it again",
                    store.path(STATE_FILE).display()
                ),
            }
        }
        let (id, persist) = derive(root, cfg);
        if persist {
            store.write(
                STATE_FILE,
                &Stored {
                    fingerprint: id.fingerprint.clone(),
                    source: id.source.clone(),
                },
            )?;
            log::info!("device fingerprint derived from {}", id.source);
        }
        Ok(id)
    }

    /// Derive without the store (diagnostics). Hardware-derived values are deterministic; on a box
    /// without any identity this is a new random value on every call.
    pub fn derive(root: &Path, cfg: &DeviceConfig) -> Identity {
        derive(root, cfg).0
    }

    fn from_stored(s: Stored) -> Option<Identity> {
        let valid = !s.fingerprint.is_empty()
            && s.fingerprint.len() <= MAX_FINGERPRINT_CHARS
            && STANDARD.decode(&s.fingerprint).is_ok();
        if !valid {
            return None;
        }
        let source = facts::sanitize(s.source.as_bytes()).unwrap_or_else(|| "unknown".to_owned());
        Some(Identity {
            fingerprint: s.fingerprint,
            source,
        })
    }

    /// The base64 fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The `AP-Device-Identifier` header value.
    pub fn header(&self) -> String {
        format!("fingerprint {}", self.fingerprint)
    }

    /// How the fingerprint was derived: one of the `SOURCE_*` kinds.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `{"fingerprint": …, "header": …, "source": …}` — the `device.identifier` result plus `source`.
    pub fn to_json(&self) -> Value {
        let mut obj = Object::new();
        obj.insert(
            "fingerprint".to_owned(),
            Value::String(self.fingerprint.clone()),
        );
        obj.insert("header".to_owned(), Value::String(self.header()));
        obj.insert("source".to_owned(), Value::String(self.source.clone()));
        Value::Object(obj)
    }
}

/// The identity and whether to persist it. A pinned `identity_file` that cannot be read yet (e.g. a
/// vendor partition not mounted) falls back to the chain *without* persisting a hardware-derived value,
/// so the pinned source takes over once it appears; a random fallback is always persisted.
fn derive(root: &Path, cfg: &DeviceConfig) -> (Identity, bool) {
    let mut pinned_missing = false;
    if let Some(path) = &cfg.identity_file {
        let full = facts::under_root(root, path);
        match facts::read_file(&full, ID_FILE_BYTES).and_then(|b| facts::identity_bytes(&b, false))
        {
            Some(id) => return (from_hardware(SOURCE_IDENTITY_FILE, &id), true),
            None => {
                pinned_missing = true;
                log::warn!(
                    "device.identity_file {}: no usable identity; falling back to the built-in sources",
                    full.display()
                );
            }
        }
    }
    let ids = HardwareIds::collect(root);
    let hardware = [
        (SOURCE_DT_SERIAL, ids.dt_serial),
        (SOURCE_DMI_UUID, ids.dmi_uuid),
        (SOURCE_MACHINE_ID, ids.machine_id),
    ];
    for (kind, id) in hardware {
        if let Some(id) = id {
            return (from_hardware(kind, &id), !pinned_missing);
        }
    }
    log::warn!("no hardware identity on this box; using a random, persisted fingerprint");
    (
        Identity {
            fingerprint: STANDARD.encode(random_bytes()),
            source: SOURCE_RANDOM.to_owned(),
        },
        true,
    )
}

fn from_hardware(kind: &str, id: &[u8]) -> Identity {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, APP_KEY);
    let mut msg = Vec::with_capacity(kind.len() + 1 + id.len());
    msg.extend_from_slice(kind.as_bytes());
    msg.push(b':');
    msg.extend_from_slice(id);
    Identity {
        fingerprint: STANDARD.encode(ring::hmac::sign(&key, &msg)),
        source: kind.to_owned(),
    }
}

fn random_bytes() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; 32];
    if ring::rand::SystemRandom::new().fill(&mut buf).is_err() {
        // getrandom(2) and /dev/urandom both failed: still unique per box in practice, and persisted.
        log::error!("system random source failed; fingerprint seeded from time and pid");
        let seed = format!(
            "{}:{}:{:p}",
            crate::clock::now_ms(),
            std::process::id(),
            &buf
        );
        buf.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, seed.as_bytes()).as_ref());
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_keyed_by_source_kind() {
        let a = from_hardware(SOURCE_MACHINE_ID, b"3d1219c7c4c5404aaa1f6d2a48adfda4");
        let b = from_hardware(SOURCE_DMI_UUID, b"3d1219c7c4c5404aaa1f6d2a48adfda4");
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(STANDARD.decode(&a.fingerprint).unwrap().len(), 32);
        // Pinned test vector: changing the key or message layout breaks every deployed fingerprint.
        assert_eq!(
            from_hardware(SOURCE_MACHINE_ID, b"0123456789abcdef0123456789abcdef").fingerprint,
            PINNED_VECTOR
        );
    }

    /// Computed independently: python3 hmac.new(key, b"machine-id:…", sha256), base64.
    const PINNED_VECTOR: &str = "EO/2MoNXHqtCfNHIuobed3eumBsTj7vKnnW86/R58Sg=";

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes(), random_bytes());
    }

    #[test]
    fn stored_values_are_checked() {
        let ok = |f: &str| {
            Identity::from_stored(Stored {
                fingerprint: f.into(),
                source: "machine-id".into(),
            })
            .is_some()
        };
        assert!(ok("YmEyM2QxNDEtZDcxNS01NjFjLTk0ZjQtZTllNGM5NjZiMWVi"));
        assert!(!ok(""));
        assert!(!ok("not base64!"));
        assert!(!ok(&"A".repeat(1000)));
    }
}
