//! Crash-safe files in `state_dir`.
//!
//! Every write goes through [`Store::write`]; nothing else opens files in `state_dir` for writing.
//! A write is temp file (mode 0600) → fsync → rename over the target → fsync of the directory, so after
//! a power cut the file holds either the old or the new content, never a mix.
//!
//! On disk a state file is one header line and a JSON body:
//! `tvauth-state 1 <name> <sha256 of body, hex>\n<body>`. A file whose header, checksum or JSON does not
//! hold is *corrupt*: it is renamed to `<name>.corrupt`, logged, and reported as absent so the caller
//! rebuilds it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bounded_read::read_at_most;

const MAGIC: &str = "tvauth-state";
const FORMAT_VERSION: u32 = 1;
/// State files are tiny; a larger one is corrupt by definition (and never read whole into memory).
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// A failure to read or write `state_dir` (not corruption: that is recovered, not an error).
#[derive(Debug)]
pub enum StoreError {
    /// Creating or securing the directory failed.
    Dir { path: PathBuf, source: io::Error },
    /// Reading, writing, syncing or renaming a file failed.
    Io { path: PathBuf, source: io::Error },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Dir { path, source } => write!(f, "state dir {}: {source}", path.display()),
            StoreError::Io { path, source } => write!(f, "state file {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Dir { source, .. } | StoreError::Io { source, .. } => Some(source),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Open (creating if needed) `dir`, mode 0700.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let derr = |source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(derr)?;
        let meta = fs::metadata(dir).map_err(derr)?;
        if meta.permissions().mode() & 0o777 != 0o700 {
            if let Err(e) = fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
                log::warn!("cannot set mode 0700 on {}: {e}", dir.display());
            }
        }
        remove_dead_temps(dir);
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Atomically replace `name` with `value`. The file is mode 0600.
    pub fn write<T: miniserde::Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let body = miniserde::json::to_string(value);
        let mut bytes = header(name, body.as_bytes()).into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        write_atomic(&self.path(name), &bytes)
    }

    /// Read `name`. `Ok(None)` when it does not exist or was corrupt (then it has been moved aside to
    /// `<name>.corrupt` and a warning logged).
    pub fn read<T: miniserde::Deserialize>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let path = self.path(name);
        let ioerr = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let decoded = match read_at_most(&path, MAX_FILE_BYTES) {
            Ok(Some(bytes)) => decode::<T>(name, &bytes),
            Ok(None) => Err("too large"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ioerr(e)),
        };
        match decoded {
            Ok(v) => Ok(Some(v)),
            Err(why) => {
                let aside = self.path(&format!("{name}.corrupt"));
                log::warn!(
                    "state file {} is corrupt ({why}); moved to {} and rebuilding",
                    path.display(),
                    aside.display()
                );
                fs::rename(&path, &aside).map_err(ioerr)?;
                Ok(None)
            }
        }
    }

    /// Remove `name` (absent is fine), durably.
    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map_err(|source| StoreError::Io { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }
}

fn header(name: &str, body: &[u8]) -> String {
    format!(
        "{MAGIC} {FORMAT_VERSION} {name} {}\n",
        hex(ring::digest::digest(&ring::digest::SHA256, body).as_ref())
    )
}

fn decode<T: miniserde::Deserialize>(name: &str, bytes: &[u8]) -> Result<T, &'static str> {
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or("no header")?;
    let (head, body) = (&bytes[..=nl], &bytes[nl + 1..]);
    let head = std::str::from_utf8(head).map_err(|_| "header not UTF-8")?;
    let mut parts = head.trim_end().split(' ');
    if parts.next() != Some(MAGIC) {
        return Err("not a tvauth state file");
    }
    if parts.next() != Some("1") {
        return Err("unknown format version");
    }
    if parts.next() != Some(name) {
        return Err("belongs to another file");
    }
    if header(name, body) != head {
        return Err("checksum mismatch (torn or edited)");
    }
    let body = std::str::from_utf8(body).map_err(|_| "body not UTF-8")?;
    miniserde::json::from_str(body).map_err(|_| "body is not the expected JSON")
}

/// Write `bytes` to `path` atomically: same-directory temp file (0600), fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let ioerr = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.tmp.{}.{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(ioerr)
}

/// Remove the temp files of writes whose process died before the rename (SIGKILL, power cut): they
/// are never the committed content, and without this every interrupted write would leave one behind
/// in `state_dir` for good (found by tests/reliability.rs). A temp file of a live process (another
/// tvauth writing at this moment) is left alone.
fn remove_dead_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_pid) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        match fs::remove_file(e.path()) {
            Ok(()) => log::info!(
                "removed {} (a write interrupted by a crash or power cut)",
                e.path().display()
            ),
            Err(err) => log::warn!("cannot remove {}: {err}", e.path().display()),
        }
    }
}

/// The writer's pid of a temp file name `.<name>.tmp.<pid>.<n>` (see [`write_atomic`]).
fn temp_file_pid(file_name: &str) -> Option<u32> {
    let (head, tail) = file_name.strip_prefix('.')?.rsplit_once(".tmp.")?;
    let (pid, n) = tail.split_once('.')?;
    if head.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0 && p <= i32::MAX as u32)
}

fn process_alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniserde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Doc {
        a: String,
        n: u64,
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tvauth-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trip_with_modes() {
        let d = tempdir("rt");
        let s = Store::open(&d.join("state")).unwrap();
        assert_eq!(
            fs::metadata(s.dir()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(s.read::<Doc>("doc").unwrap(), None);
        let doc = Doc {
            a: "x\ny\"".into(),
            n: 7,
        };
        s.write("doc", &doc).unwrap();
        assert_eq!(
            fs::metadata(s.path("doc")).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(s.read::<Doc>("doc").unwrap(), Some(doc));
        // no temp files left behind
        assert_eq!(fs::read_dir(s.dir()).unwrap().count(), 1);
        s.remove("doc").unwrap();
        s.remove("doc").unwrap();
        assert_eq!(s.read::<Doc>("doc").unwrap(), None);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn corruption_is_detected_and_moved_aside() {
        let d = tempdir("corrupt");
        let s = Store::open(&d).unwrap();
        s.write(
            "doc",
            &Doc {
                a: "hello".into(),
                n: 1,
            },
        )
        .unwrap();
        let good = fs::read(s.path("doc")).unwrap();
        let cases: Vec<Vec<u8>> = vec![
            good[..good.len() - 3].to_vec(), // truncated
            good.iter()
                .map(|&b| if b == b'h' { b'j' } else { b })
                .collect(), // edited body
            b"garbage".to_vec(),             // no header
            Vec::new(),                      // empty
            good.replacen(b"tvauth-state 1 doc", b"tvauth-state 9 doc"), // future version
        ];
        for bad in cases {
            fs::write(s.path("doc"), &bad).unwrap();
            assert_eq!(
                s.read::<Doc>("doc").unwrap(),
                None,
                "{:?}",
                String::from_utf8_lossy(&bad)
            );
            assert_eq!(fs::read(s.path("doc.corrupt")).unwrap(), bad);
            assert!(!s.path("doc").exists());
        }
        // Right checksum, wrong shape: also corrupt.
        s.write(
            "doc",
            &Doc {
                a: "x".into(),
                n: 2,
            },
        )
        .unwrap();
        #[derive(Deserialize)]
        struct Other {
            #[allow(dead_code)]
            z: u64,
        }
        assert!(s.read::<Other>("doc").unwrap().is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    /// Regression (tests/reliability.rs, SIGKILL mid-write): a dead writer's temp file used to stay in
    /// `state_dir` forever; `open` now removes it, but never a live process's or another file.
    #[test]
    fn open_removes_temp_files_of_dead_writers_only() {
        let d = tempdir("temps");
        let s = Store::open(&d).unwrap();
        s.write(
            "doc",
            &Doc {
                a: "x".into(),
                n: 1,
            },
        )
        .unwrap();
        // pid 2^22 + 1 is above Linux's pid_max (4194304): never a live process.
        let dead = d.join(".doc.tmp.4194305.0");
        let live = d.join(format!(".doc.tmp.{}.7", std::process::id()));
        let other = d.join(".doc.tmp.notapid.1");
        for f in [&dead, &live, &other] {
            fs::write(f, b"half a write").unwrap();
        }
        let s = Store::open(&d).unwrap();
        assert!(!dead.exists());
        assert!(live.exists() && other.exists());
        assert_eq!(s.read::<Doc>("doc").unwrap().unwrap().n, 1);
        assert_eq!(temp_file_pid(".doc.tmp.12.3"), Some(12));
        assert_eq!(temp_file_pid(".a.b.tmp.12.3"), Some(12));
        for bad in [
            "doc",
            ".doc.tmp.12",
            ".doc.tmp.0.1",
            ".tmp.12.3",
            ".doc.tmp.12.x",
            "x.tmp.1.2",
        ] {
            assert_eq!(temp_file_pid(bad), None, "{bad}");
        }
        fs::remove_dir_all(&d).unwrap();
    }

    trait Replacen {
        fn replacen(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }
    impl Replacen for Vec<u8> {
        fn replacen(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let pos = self.windows(from.len()).position(|w| w == from).unwrap();
            [&self[..pos], to, &self[pos + from.len()..]].concat()
        }
    }
}
