//! Who is on the other end of a Unix socket: `SO_PEERCRED` (uid, gid, pid) and `SO_PEERGROUPS`
//! (supplementary groups, Linux ≥ 4.13), read once at accept. The only `unsafe` of the crate's socket
//! code lives here.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups when the kernel tells them (else just `gid`).
    pub groups: Vec<u32>,
}

impl Peer {
    pub fn of(stream: &UnixStream) -> io::Result<Peer> {
        let fd = stream.as_raw_fd();
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: `cred` is a valid, writable ucred and `len` its size; the fd is open for the call.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&raw mut cred).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut groups = vec![0 as libc::gid_t; 64];
        let mut glen = (groups.len() * size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: `groups` has room for `glen` bytes; the kernel writes at most that and sets `glen`.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut glen,
            )
        };
        if rc == 0 {
            groups.truncate(glen as usize / size_of::<libc::gid_t>());
        } else {
            // Old kernel or more than 64 groups: the primary group is what we can check.
            groups.clear();
        }
        if !groups.contains(&cred.gid) {
            groups.push(cred.gid);
        }
        Ok(Peer {
            pid: cred.pid,
            uid: cred.uid,
            gid: cred.gid,
            groups,
        })
    }

    /// CONTRACT: empty lists allow anyone who can open the socket; otherwise the uid OR a gid must be
    /// listed.
    pub fn allowed(&self, uids: &[u32], gids: &[u32]) -> bool {
        if uids.is_empty() && gids.is_empty() {
            return true;
        }
        uids.contains(&self.uid)
            || gids.contains(&self.gid)
            || self.groups.iter().any(|g| gids.contains(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_credentials() {
        let (a, _b) = UnixStream::pair().unwrap();
        let p = Peer::of(&a).unwrap();
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!((p.uid, p.gid, p.pid as u32), (uid, gid, std::process::id()));
        assert!(!p.groups.is_empty());
    }

    #[test]
    fn access_rules() {
        let p = Peer {
            pid: 1,
            uid: 1000,
            gid: 100,
            groups: vec![100, 44],
        };
        assert!(p.allowed(&[], &[]));
        assert!(p.allowed(&[1000], &[]));
        assert!(p.allowed(&[], &[100]));
        assert!(p.allowed(&[], &[44]), "supplementary group");
        assert!(p.allowed(&[0], &[44]));
        assert!(!p.allowed(&[0], &[]));
        assert!(!p.allowed(&[], &[5]));
    }
}
