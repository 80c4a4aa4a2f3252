//! Raw facts read from the box: device tree, DMI, os-release, kernel, `/proc/cpuinfo`, network.
//!
//! Every path is resolved under a `root` parameter (`/` in production, a fixture tree in tests). Every
//! source is optional: a missing, unreadable, oversized or garbage file yields `None` and a debug line,
//! never an error. Values are hostile input: read with a size cap, decoded lossily, control characters
//! removed, whitespace collapsed, capped at [`MAX_VALUE_CHARS`].
//!
//! sysinfo is deliberately not used: it cannot be pointed at a fixture root, and every fact it would
//! give (OS, kernel, host name, CPU brand, memory) is one small file here.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest value kept from any source, in characters.
pub const MAX_VALUE_CHARS: usize = 128;
/// Bytes read from a single-value file (sysfs attribute, device-tree property, id file).
const SMALL_FILE_BYTES: u64 = 4 * 1024;
/// Bytes read from a multi-line file (os-release, meminfo, route tables).
const TEXT_FILE_BYTES: u64 = 64 * 1024;
/// `/proc/cpuinfo` on many-core boxes is long, and ARM puts `Hardware`/`Model` at the end.
const CPUINFO_BYTES: u64 = 512 * 1024;
/// Interfaces looked at in `/sys/class/net` (a box has a handful; bound hostile trees).
const MAX_INTERFACES: usize = 256;

/// What the box says about itself. `None`/empty means the source was absent or unusable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Device-tree `model` (ARM boards), e.g. "Raspberry Pi 4 Model B Rev 1.4".
    pub dt_model: Option<String>,
    /// Device-tree `compatible` list, most specific first, e.g. ["raspberrypi,4-model-b", "brcm,bcm2711"].
    pub dt_compatible: Vec<String>,
    /// DMI `sys_vendor` (x86), placeholder strings such as "To be filled by O.E.M." dropped.
    pub dmi_vendor: Option<String>,
    /// DMI `product_name`.
    pub dmi_product: Option<String>,
    /// DMI `product_version`.
    pub dmi_version: Option<String>,
    /// os-release `NAME`.
    pub os_name: Option<String>,
    /// os-release `ID`.
    pub os_id: Option<String>,
    /// os-release `VERSION_ID`.
    pub os_version_id: Option<String>,
    /// os-release `PRETTY_NAME`.
    pub os_pretty_name: Option<String>,
    /// Kernel release, e.g. "6.1.0-18-arm64".
    pub kernel_release: Option<String>,
    pub host_name: Option<String>,
    /// `/proc/cpuinfo` `Model` line (Raspberry Pi and other ARM kernels name the board there).
    pub cpu_board_model: Option<String>,
    /// CPU brand: `model name` (x86), `cpu model` (MIPS), `Hardware` or `Processor` (ARM).
    pub cpu_brand: Option<String>,
    pub mem_total_bytes: Option<u64>,
    /// The interface carrying the default route, else the first non-loopback interface that is up.
    pub primary_interface: Option<Interface>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub wireless: bool,
}

impl Facts {
    /// Read every source under `root`. Never fails; costs a few dozen small reads.
    pub fn collect(root: &Path) -> Facts {
        let os = read_os_release(root);
        let os_get = |key: &str| {
            os.iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| sanitize(v.as_bytes()))
        };
        let cpuinfo = read_file(&root.join("proc/cpuinfo"), CPUINFO_BYTES);
        let cpu_field = |keys: &[&str]| {
            let text = String::from_utf8_lossy(cpuinfo.as_deref()?);
            keys.iter()
                .find_map(|key| colon_field(&text, key).and_then(|v| sanitize(v.as_bytes())))
        };
        Facts {
            dt_model: dt_property(root, "model").and_then(|b| sanitize(first_c_string(&b))),
            dt_compatible: dt_property(root, "compatible")
                .map(|b| b.split(|&c| c == 0).filter_map(sanitize).take(16).collect())
                .unwrap_or_default(),
            dmi_vendor: dmi(root, "sys_vendor"),
            dmi_product: dmi(root, "product_name"),
            dmi_version: dmi(root, "product_version"),
            os_name: os_get("NAME"),
            os_id: os_get("ID"),
            os_version_id: os_get("VERSION_ID"),
            os_pretty_name: os_get("PRETTY_NAME"),
            kernel_release: read_value(&root.join("proc/sys/kernel/osrelease")),
            host_name: read_value(&root.join("proc/sys/kernel/hostname"))
                .or_else(|| read_value(&root.join("etc/hostname"))),
            cpu_board_model: cpu_field(&["Model"]),
            cpu_brand: cpu_field(&["model name", "cpu model", "Hardware", "Processor"]),
            mem_total_bytes: read_file(&root.join("proc/meminfo"), TEXT_FILE_BYTES)
                .and_then(|b| mem_total(&String::from_utf8_lossy(&b))),
            primary_interface: primary_interface(root),
        }
    }
}

/// The raw hardware identities the fingerprint can be derived from (kept out of [`Facts`] so they never
/// reach JSON or logs). Bytes are trimmed of NULs and whitespace; placeholder values are dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HardwareIds {
    /// Device-tree `serial-number` (ARM SoC serial).
    pub dt_serial: Option<Vec<u8>>,
    /// DMI `product_uuid`, lowercased (readable by root only on most kernels).
    pub dmi_uuid: Option<Vec<u8>>,
    /// `/etc/machine-id`, lowercased.
    pub machine_id: Option<Vec<u8>>,
}

impl HardwareIds {
    pub fn collect(root: &Path) -> HardwareIds {
        HardwareIds {
            dt_serial: dt_property(root, "serial-number")
                .and_then(|b| identity_bytes(first_c_string(&b), false)),
            dmi_uuid: read_file(
                &root.join("sys/class/dmi/id/product_uuid"),
                SMALL_FILE_BYTES,
            )
            .and_then(|b| identity_bytes(&b, true)),
            machine_id: read_file(&root.join("etc/machine-id"), SMALL_FILE_BYTES)
                .and_then(|b| identity_bytes(&b, true)),
        }
    }
}

/// Resolve an absolute configured path (e.g. `device.identity_file`) under `root`.
pub fn under_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// A trimmed identity, or `None` when empty or a known placeholder (all one digit, vendor filler) —
/// such values are shared by many boxes and would collide fingerprints.
pub fn identity_bytes(raw: &[u8], lowercase: bool) -> Option<Vec<u8>> {
    let trimmed = trim_bytes(raw);
    let mut id = trimmed.to_vec();
    if lowercase {
        id.make_ascii_lowercase();
    }
    let significant: Vec<u8> = id
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'-' | b':' | b' ' | b'.'))
        .collect();
    let first = *significant.first()?;
    if significant.len() < 4 || significant.iter().all(|&b| b == first) {
        return None;
    }
    const PLACEHOLDERS: &[&[u8]] = &[
        b"03000200-0400-0500-0006-000700080009",
        b"uninitialized",
        b"0123456789",
        b"123456789",
        b"not specified",
        b"not applicable",
        b"default string",
        b"to be filled by o.e.m.",
        b"none",
    ];
    if PLACEHOLDERS.iter().any(|p| id.eq_ignore_ascii_case(p)) {
        return None;
    }
    Some(id)
}

fn trim_bytes(raw: &[u8]) -> &[u8] {
    let junk = |b: &u8| *b == 0 || b.is_ascii_whitespace();
    let start = raw.iter().position(|b| !junk(b)).unwrap_or(raw.len());
    let end = raw.iter().rposition(|b| !junk(b)).map_or(start, |i| i + 1);
    &raw[start..end]
}

/// Lossy UTF-8, control characters dropped (whitespace ones become a space), whitespace collapsed,
/// trimmed, capped at [`MAX_VALUE_CHARS`]. `None` when nothing printable is left.
pub fn sanitize(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() || c == '\u{FEFF}' {
            continue;
        }
        let needed = 1 + usize::from(pending_space);
        if count + needed > MAX_VALUE_CHARS {
            break;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        count += needed;
    }
    if out.is_empty() { None } else { Some(out) }
}

/// Device-tree strings end with NUL; keep what precedes the first one.
fn first_c_string(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or(bytes)
}

/// Read up to `cap` bytes of a regular file. Anything else (absent, directory, FIFO, unreadable,
/// too long) is `None` with a debug line; a too-long file is rejected, not truncated.
pub fn read_file(path: &Path, cap: u64) -> Option<Vec<u8>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            log::debug!("device fact {}: {e}", path.display());
            return None;
        }
    };
    // sysfs and procfs files are regular files; a FIFO or device would block or never end.
    if !meta.is_file() {
        log::debug!("device fact {}: not a regular file", path.display());
        return None;
    }
    match crate::bounded_read::read_at_most(path, cap) {
        Err(e) => {
            log::debug!("device fact {}: {e}", path.display());
            None
        }
        Ok(None) => {
            log::debug!(
                "device fact {}: longer than {cap} bytes, ignored",
                path.display()
            );
            None
        }
        Ok(Some(buf)) => Some(buf),
    }
}

/// A single-value file, sanitised.
fn read_value(path: &Path) -> Option<String> {
    let v = sanitize(&read_file(path, SMALL_FILE_BYTES)?);
    if v.is_none() {
        log::debug!("device fact {}: empty", path.display());
    }
    v
}

fn dt_property(root: &Path, name: &str) -> Option<Vec<u8>> {
    ["proc/device-tree", "sys/firmware/devicetree/base"]
        .iter()
        .find_map(|dir| read_file(&root.join(dir).join(name), SMALL_FILE_BYTES))
}

/// A DMI string, with the firmware placeholders that mean "not set" dropped.
fn dmi(root: &Path, name: &str) -> Option<String> {
    let v = read_value(&root.join("sys/class/dmi/id").join(name))?;
    if is_placeholder(&v) {
        log::debug!("device fact dmi {name}: placeholder `{v}` ignored");
        return None;
    }
    Some(v)
}

/// Filler strings BIOS vendors leave in DMI fields.
pub fn is_placeholder(v: &str) -> bool {
    const FILLERS: &[&str] = &[
        "to be filled by o.e.m.",
        "to be filled by oem",
        "default string",
        "system product name",
        "system manufacturer",
        "system version",
        "not specified",
        "not applicable",
        "not available",
        "none",
        "n/a",
        "oem",
        "o.e.m.",
        "unknown",
        "x.x",
        "0123456789",
        "123456789",
    ];
    let lower = v.trim().to_ascii_lowercase();
    FILLERS.contains(&lower.as_str())
}

/// `/etc/os-release` (else `/usr/lib/os-release`) as key/value pairs, shell quoting undone.
fn read_os_release(root: &Path) -> Vec<(String, String)> {
    let bytes = read_file(&root.join("etc/os-release"), TEXT_FILE_BYTES)
        .or_else(|| read_file(&root.join("usr/lib/os-release"), TEXT_FILE_BYTES));
    bytes.map_or_else(Vec::new, |b| parse_os_release(&String::from_utf8_lossy(&b)))
}

pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .take(1024)
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            let key = key.trim();
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            Some((key.to_owned(), unquote(value.trim())))
        })
        .collect()
}

/// os-release values are shell-like: "double" (with \ escapes), 'single', or bare.
fn unquote(v: &str) -> String {
    let mut chars = v.chars();
    match chars.next() {
        Some(q @ ('"' | '\'')) => {
            let mut out = String::new();
            let mut escaped = false;
            for c in chars {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    break;
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => v.to_owned(),
    }
}

/// `key : value` from cpuinfo-style text; exact key match (x86 `processor` ≠ ARM `Processor`).
fn colon_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key)
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let v = colon_field(meminfo, "MemTotal")?;
    let kib: u64 = v.trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// The default-route interface (IPv4, then IPv6), else the first up, non-loopback interface,
/// preferring physical ones (with a `device` link) over virtual ones.
fn primary_interface(root: &Path) -> Option<Interface> {
    let net = root.join("sys/class/net");
    let name = default_route_v4(root)
        .or_else(|| default_route_v6(root))
        .or_else(|| first_up_interface(&net))?;
    let dir = net.join(&name);
    let wireless = dir.join("wireless").exists()
        || dir.join("phy80211").exists()
        || read_file(&dir.join("uevent"), SMALL_FILE_BYTES).is_some_and(|u| {
            String::from_utf8_lossy(&u)
                .lines()
                .any(|l| l == "DEVTYPE=wlan")
        });
    Some(Interface { name, wireless })
}

/// A kernel interface name: 1..=15 bytes, no path separators.
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

fn default_route_v4(root: &Path) -> Option<String> {
    let text = read_file(&root.join("proc/net/route"), TEXT_FILE_BYTES)?;
    let text = String::from_utf8_lossy(&text);
    let mut best: Option<(u32, &str)> = None;
    for line in text.lines().skip(1).take(4096) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dest), Some(flags), Some(metric), Some(mask)) =
            (f.first(), f.get(1), f.get(3), f.get(6), f.get(7))
        else {
            continue;
        };
        let flags = u32::from_str_radix(flags, 16).unwrap_or(0);
        let metric: u32 = metric.parse().unwrap_or(u32::MAX);
        const RTF_UP: u32 = 0x1;
        if *dest == "00000000"
            && *mask == "00000000"
            && flags & RTF_UP != 0
            && *iface != "lo"
            && valid_ifname(iface)
            && beats(best, metric)
        {
            best = Some((metric, iface));
        }
    }
    best.map(|(_, i)| i.to_owned())
}

fn default_route_v6(root: &Path) -> Option<String> {
    let text = read_file(&root.join("proc/net/ipv6_route"), TEXT_FILE_BYTES)?;
    let text = String::from_utf8_lossy(&text);
    let mut best: Option<(u32, &str)> = None;
    for line in text.lines().take(4096) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let (dest, plen, metric, flags, iface) = (f[0], f[1], f[5], f[8], f[9]);
        let flags = u32::from_str_radix(flags, 16).unwrap_or(0);
        let metric = u32::from_str_radix(metric, 16).unwrap_or(u32::MAX);
        const RTF_UP: u32 = 0x1;
        const RTF_REJECT: u32 = 0x200;
        if dest.bytes().all(|b| b == b'0')
            && dest.len() == 32
            && plen == "00"
            && flags & RTF_UP != 0
            && flags & RTF_REJECT == 0
            && iface != "lo"
            && valid_ifname(iface)
            && beats(best, metric)
        {
            best = Some((metric, iface));
        }
    }
    best.map(|(_, i)| i.to_owned())
}

/// True when a route with `metric` beats the current best (lower metric wins, first on ties).
fn beats(best: Option<(u32, &str)>, metric: u32) -> bool {
    match best {
        Some((m, _)) => metric < m,
        None => true,
    }
}

fn first_up_interface(net: &Path) -> Option<String> {
    let entries = match fs::read_dir(net) {
        Ok(e) => e,
        Err(e) => {
            log::debug!("device fact {}: {e}", net.display());
            return None;
        }
    };
    let mut names: Vec<String> = entries
        .take(MAX_INTERFACES)
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != "lo" && valid_ifname(n))
        .collect();
    names.sort();
    let up: Vec<&String> = names
        .iter()
        .filter(|n| {
            read_file(&net.join(n).join("operstate"), SMALL_FILE_BYTES)
                .is_some_and(|s| trim_bytes(&s) == b"up")
        })
        .collect();
    let physical = up.iter().find(|n| net.join(n).join("device").exists());
    physical.or(up.first()).map(|n| (*n).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_controls_and_caps() {
        assert_eq!(
            sanitize(b"  Foo\x01Bar\r\n\tbaz\0 ").as_deref(),
            Some("FooBar baz")
        );
        assert_eq!(sanitize(b"\0\x07\n "), None);
        assert_eq!(sanitize(b"a\xffb").as_deref(), Some("a\u{FFFD}b"));
        let long = "é".repeat(1000);
        let s = sanitize(long.as_bytes()).unwrap();
        assert_eq!(s.chars().count(), MAX_VALUE_CHARS);
        // C1 controls and escape sequences are dropped too.
        assert_eq!(
            sanitize("x\u{1b}[31my\u{85}z".as_bytes()).as_deref(),
            Some("x[31my z")
        );
        // A space never pushes past the cap.
        let spaced = "a ".repeat(200);
        let s = sanitize(spaced.as_bytes()).unwrap();
        assert!(s.chars().count() <= MAX_VALUE_CHARS && !s.ends_with(' '));
    }

    #[test]
    fn os_release_quoting() {
        let kv = parse_os_release(
            "# comment\nNAME=\"My \\\"OS\\\"\"\nID=myos\nVERSION_ID='1.2'\nBAD KEY=x\nPRETTY_NAME=\"unterminated\n",
        );
        let get = |k: &str| kv.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        assert_eq!(get("NAME"), Some("My \"OS\""));
        assert_eq!(get("ID"), Some("myos"));
        assert_eq!(get("VERSION_ID"), Some("1.2"));
        assert_eq!(get("PRETTY_NAME"), Some("unterminated"));
        assert_eq!(get("BAD KEY"), None);
    }

    #[test]
    fn placeholder_identities_are_refused() {
        for bad in [
            &b"00000000-0000-0000-0000-000000000000\n"[..],
            b"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            b"03000200-0400-0500-0006-000700080009",
            b"0000000000000000\0",
            b"uninitialized\n",
            b"abc",
            b"\0\0\n",
        ] {
            assert_eq!(identity_bytes(bad, true), None, "{bad:?}");
        }
        assert_eq!(
            identity_bytes(b"  4C4C4544-0042\0\n", true).as_deref(),
            Some(&b"4c4c4544-0042"[..])
        );
        assert_eq!(
            identity_bytes(b"10000000AbCd\0", false).as_deref(),
            Some(&b"10000000AbCd"[..])
        );
    }

    #[test]
    fn cpuinfo_fields() {
        let arm = "processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(
            colon_field(arm, "Model"),
            Some("Raspberry Pi 4 Model B Rev 1.4")
        );
        assert_eq!(colon_field(arm, "Processor"), None);
        assert_eq!(colon_field(arm, "Hardware"), Some("BCM2835"));
        assert_eq!(
            mem_total("MemTotal:        3884096 kB\n"),
            Some(3884096 * 1024)
        );
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total("MemTotal: 99999999999999999999 kB\n"), None);
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(valid_ifname("eth0") && valid_ifname("wlp2s0"));
        for bad in [
            "",
            ".",
            "..",
            "../../etc",
            "a/b",
            "averyveryverylongname",
            "e th0",
        ] {
            assert!(!valid_ifname(bad), "{bad}");
        }
    }
}
