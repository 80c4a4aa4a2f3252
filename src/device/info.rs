//! Facts + `[device]` overrides → the X-Device-Info object and header (spec §1.1).
//!
//! Mappings (config always wins; each value sanitised; restricted keys checked against the lists in
//! `config`, an invalid value — collected or configured — is never sent):
//! - `primaryHardwareType`: config, else "SetTopBox".
//! - `model`: device-tree model, else DMI product_name, else cpuinfo `Model`, else "Unknown".
//! - `manufacturer`: DMI sys_vendor, else the vendor prefix of the first device-tree `compatible`
//!   ("raspberrypi,4-model-b" → "raspberrypi"), else the first word of the device-tree model, else "Unknown".
//! - `version` (hardware version): DMI product_version, else os-release VERSION_ID (the firmware
//!   release on embedded images), else "Unknown".
//! - `osName`/`osFamily`/`osVendor`: from os-release ID for the few OSes the lists know (webOS, Tizen,
//!   Chrome OS, Android), else "Linux"/"Linux"/omitted.
//! - `osVersion`: the kernel release's version number ("6.1.0-18-arm64" → "6.1.0") since osName is
//!   Linux, else os-release VERSION_ID, else "Unknown".
//! - `connectionType`: "WiFi" when the primary interface is wireless, else "LAN" (also when none found).
//! - `vendor`, `applicationId`: config only; omitted when not set.

use std::path::Path;

use base64::Engine as _;
use miniserde::json::{Object, Value};

use crate::config::{DeviceConfig, HARDWARE_TYPES, OS_FAMILIES, OS_NAMES, OS_VENDORS};
use crate::device::facts::{Facts, sanitize};

const UNKNOWN: &str = "Unknown";

/// The X-Device-Info of this box, computed once; a refresh is a new [`DeviceInfo::collect`].
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    facts: Facts,
    primary_hardware_type: String,
    model: String,
    version: String,
    manufacturer: String,
    vendor: Option<String>,
    os_name: String,
    os_family: String,
    os_vendor: Option<String>,
    os_version: String,
    connection_type: String,
    application_id: Option<String>,
    header: String,
}

impl DeviceInfo {
    /// Read the box under `root` and apply `overrides`. Never fails.
    pub fn collect(root: &Path, overrides: &DeviceConfig) -> DeviceInfo {
        DeviceInfo::from_facts(Facts::collect(root), overrides)
    }

    /// The pure mapping, for facts gathered elsewhere.
    pub fn from_facts(facts: Facts, overrides: &DeviceConfig) -> DeviceInfo {
        let o = overrides;
        let free = |key: &str, v: &Option<String>| {
            let s = v.as_deref().and_then(|s| sanitize(s.as_bytes()));
            if v.is_some() && s.is_none() {
                log::warn!("device.{key}: nothing printable in the configured value; ignored");
            }
            s
        };
        let (os_name, os_family, os_vendor) = os_from_id(facts.os_id.as_deref());

        let model = free("model", &o.model)
            .or_else(|| facts.dt_model.clone())
            .or_else(|| facts.dmi_product.clone())
            .or_else(|| facts.cpu_board_model.clone())
            .unwrap_or_else(|| UNKNOWN.to_owned());
        let manufacturer = free("manufacturer", &o.manufacturer)
            .or_else(|| facts.dmi_vendor.clone())
            .or_else(|| {
                let first = facts.dt_compatible.first()?;
                let (prefix, _) = first.split_once(',')?;
                sanitize(prefix.as_bytes())
            })
            .or_else(|| {
                let model = facts.dt_model.as_deref()?;
                sanitize(model.split_whitespace().next()?.as_bytes())
            })
            .unwrap_or_else(|| UNKNOWN.to_owned());
        let version = free("version", &o.version)
            .or_else(|| facts.dmi_version.clone())
            .or_else(|| facts.os_version_id.clone())
            .unwrap_or_else(|| UNKNOWN.to_owned());
        let os_version = free("os_version", &o.os_version)
            .or_else(|| facts.kernel_release.as_deref().and_then(version_number))
            .or_else(|| facts.os_version_id.clone())
            .unwrap_or_else(|| UNKNOWN.to_owned());
        let connection_type = free("connection_type", &o.connection_type).unwrap_or_else(|| {
            match &facts.primary_interface {
                Some(i) if i.wireless => "WiFi".to_owned(),
                Some(_) => "LAN".to_owned(),
                None => {
                    log::debug!("device facts: no primary network interface; assuming LAN");
                    "LAN".to_owned()
                }
            }
        });

        let mut info = DeviceInfo {
            primary_hardware_type: pick(
                "primary_hardware_type",
                &o.primary_hardware_type,
                Some("SetTopBox"),
                HARDWARE_TYPES,
            )
            .unwrap_or_else(|| UNKNOWN.to_owned()),
            model,
            version,
            manufacturer,
            vendor: free("vendor", &o.vendor),
            os_name: pick("os_name", &o.os_name, Some(os_name), OS_NAMES)
                .unwrap_or_else(|| "Linux".to_owned()),
            os_family: pick("os_family", &o.os_family, Some(os_family), OS_FAMILIES)
                .unwrap_or_else(|| "Linux".to_owned()),
            os_vendor: pick("os_vendor", &o.os_vendor, os_vendor, OS_VENDORS),
            os_version,
            connection_type,
            application_id: free("application_id", &o.application_id),
            header: String::new(),
            facts,
        };
        info.header = base64::engine::general_purpose::STANDARD
            .encode(miniserde::json::to_string(&info.facts_json()));
        info
    }

    /// The `X-Device-Info` header value: standard padded base64 of the compact JSON object.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The X-Device-Info object; optional keys are absent, never null.
    pub fn facts_json(&self) -> Value {
        let mut obj = Object::new();
        for (k, v) in self.fields() {
            obj.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        Value::Object(obj)
    }

    /// `{"facts": {…}, "header": "…"}` — the `device.info` result (CONTRACT §3).
    pub fn to_json(&self) -> Value {
        let mut obj = Object::new();
        obj.insert("facts".to_owned(), self.facts_json());
        obj.insert("header".to_owned(), Value::String(self.header.clone()));
        Value::Object(obj)
    }

    /// The X-Device-Info keys and values in the spec's order (for human output).
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut f = vec![
            ("primaryHardwareType", self.primary_hardware_type.as_str()),
            ("model", self.model.as_str()),
            ("version", self.version.as_str()),
            ("manufacturer", self.manufacturer.as_str()),
        ];
        if let Some(v) = &self.vendor {
            f.push(("vendor", v));
        }
        f.push(("osName", &self.os_name));
        f.push(("osFamily", &self.os_family));
        if let Some(v) = &self.os_vendor {
            f.push(("osVendor", v));
        }
        f.push(("osVersion", &self.os_version));
        f.push(("connectionType", &self.connection_type));
        if let Some(v) = &self.application_id {
            f.push(("applicationId", v));
        }
        f
    }

    /// The device model (for the User-Agent).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The raw facts behind the header (CPU, memory, host name… for diagnostics).
    pub fn facts(&self) -> &Facts {
        &self.facts
    }
}

/// The configured value if it is in `allowed`, else the collected one if it is, else `None`.
fn pick(
    key: &str,
    configured: &Option<String>,
    collected: Option<&str>,
    allowed: &[&str],
) -> Option<String> {
    let ok = |v: &str| allowed.contains(&v);
    if let Some(v) = configured {
        if ok(v) {
            return Some(v.clone());
        }
        // config.rs refuses these at load; a DeviceConfig built in code can still carry one.
        log::warn!("device.{key}: `{v}` is not an allowed value; ignored");
    }
    match collected {
        Some(v) if ok(v) => Some(v.to_owned()),
        Some(v) => {
            log::debug!("device facts: collected {key} `{v}` is not an allowed value; dropped");
            None
        }
        None => None,
    }
}

/// (osName, osFamily, osVendor) for an os-release ID; only OSes the restricted lists name.
fn os_from_id(id: Option<&str>) -> (&'static str, &'static str, Option<&'static str>) {
    match id.map(str::to_ascii_lowercase).as_deref() {
        Some("webos" | "webosose") => ("webOS", "webOS", Some("LG")),
        Some("tizen") => ("Linux", "Tizen", Some("Tizen Project")),
        Some("chromeos" | "chromiumos") => ("Chrome OS", "Linux", Some("Google")),
        Some("android") => ("Android", "Android", Some("Google")),
        _ => ("Linux", "Linux", None),
    }
}

/// The leading dotted number of a kernel release: "6.1.0-18-arm64" → "6.1.0", "5.4" → "5.4".
fn version_number(release: &str) -> Option<String> {
    let end = release
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(release.len());
    let v = release[..end].trim_matches('.');
    if v.is_empty() || !v.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_version_number() {
        assert_eq!(version_number("6.1.0-18-arm64").as_deref(), Some("6.1.0"));
        assert_eq!(version_number("5.4").as_deref(), Some("5.4"));
        assert_eq!(version_number("4.9.113+").as_deref(), Some("4.9.113"));
        assert_eq!(version_number("rc-6.1"), None);
        assert_eq!(version_number(""), None);
        assert_eq!(version_number("..."), None);
    }

    #[test]
    fn os_table_only_yields_listed_values() {
        for id in [
            None,
            Some("webos"),
            Some("tizen"),
            Some("chromeos"),
            Some("android"),
            Some("debian"),
        ] {
            let (n, f, v) = os_from_id(id);
            assert!(OS_NAMES.contains(&n), "{id:?}");
            assert!(OS_FAMILIES.contains(&f), "{id:?}");
            if let Some(v) = v {
                assert!(OS_VENDORS.contains(&v), "{id:?}");
            }
        }
    }

    #[test]
    fn bad_restricted_values_never_pass() {
        let cfg = DeviceConfig {
            primary_hardware_type: Some("Toaster".into()),
            os_name: Some("linux".into()),
            os_family: Some("Plan 9".into()),
            os_vendor: Some("Debian".into()),
            ..DeviceConfig::default()
        };
        let info = DeviceInfo::from_facts(Facts::default(), &cfg);
        let f: Vec<_> = info.fields();
        let get = |k: &str| f.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
        assert_eq!(get("primaryHardwareType"), Some("SetTopBox"));
        assert_eq!(get("osName"), Some("Linux"));
        assert_eq!(get("osFamily"), Some("Linux"));
        assert_eq!(get("osVendor"), None);
    }
}
