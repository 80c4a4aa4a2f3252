//! Whole-file reads with a size bound. Everything the agent reads from disk (configuration,
//! software statement, CA file, state files, device facts) goes through [`read_at_most`], so a
//! huge or endless file costs at most `max + 1` bytes of memory and is refused, never truncated.

use std::io::{self, Read};
use std::path::Path;

/// The contents of `path` when it holds at most `max` bytes; `Ok(None)` when it holds more (only
/// `max + 1` bytes are read to tell).
pub fn read_at_most(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_bytes_or_none() {
        let dir = std::env::temp_dir().join(format!("tvauth-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_at_most(&f, 5).unwrap().as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_at_most(&f, 4).unwrap(), None);
        let e = read_at_most(&dir.join("absent"), 5).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
