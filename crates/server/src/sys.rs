//! The one module with `unsafe`: batched UDP I/O through recvmmsg(2)/sendmmsg(2), the
//! conversion of kernel socket addresses, and kill(2) for `blason reload`.
//!
//! Everything here is exposed through safe functions; callers never see a raw pointer.
//! The iovec/mmsghdr arrays are rebuilt right before each system call, so no pointer
//! outlives the borrow it was taken from.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Room for one received datagram. Larger queries are dropped: no real client sends them.
pub const RX_BUF: usize = 4096;

/// Reusable buffers for one worker: `cap` queries in, `cap` replies out.
pub struct Batch {
    cap: usize,
    rx: Vec<u8>,
    rx_len: Vec<usize>,
    peer: Vec<libc::sockaddr_storage>,
    peer_len: Vec<libc::socklen_t>,
    out: Vec<Vec<u8>>,
    reply: Vec<bool>,
    iov: Vec<libc::iovec>,
    hdr: Vec<libc::mmsghdr>,
}

fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }
}

fn empty_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero bytes are a valid value
    // (family AF_UNSPEC).
    unsafe { mem::zeroed() }
}

fn empty_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain old data (integers and null pointers); all-zero is valid.
    unsafe { mem::zeroed() }
}

impl Batch {
    pub fn new(cap: usize) -> Batch {
        let cap = cap.max(1);
        Batch {
            cap,
            rx: vec![0; cap * RX_BUF],
            rx_len: vec![0; cap],
            peer: vec![empty_storage(); cap],
            peer_len: vec![0; cap],
            out: (0..cap).map(|_| Vec::with_capacity(1232)).collect(),
            reply: vec![false; cap],
            iov: vec![empty_iovec(); cap],
            hdr: vec![empty_mmsghdr(); cap],
        }
    }

    /// Blocks until at least one datagram arrives (or the socket's read timeout
    /// passes), then takes whatever else is already queued, up to `cap`.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        for i in 0..self.cap {
            self.iov[i] = libc::iovec {
                iov_base: self.rx[i * RX_BUF..].as_mut_ptr().cast(),
                iov_len: RX_BUF,
            };
            let h = &mut self.hdr[i];
            h.msg_hdr.msg_name = (&mut self.peer[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: `hdr` holds `cap` initialised headers whose name and iovec pointers
        // point into `peer`, `iov` and `rx`, all owned by `self`, alive and not moved
        // for the duration of the call (we hold `&mut self`); each iovec covers exactly
        // its own RX_BUF-sized slice of `rx`. A null timeout means "use SO_RCVTIMEO".
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdr.as_mut_ptr(),
                self.cap as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            let h = &self.hdr[i];
            // A datagram cut short by the buffer is not a query we can answer honestly.
            self.rx_len[i] = if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                0
            } else {
                h.msg_len as usize
            };
            self.peer_len[i] = h.msg_hdr.msg_namelen;
            self.reply[i] = false;
        }
        Ok(n)
    }

    /// Query `i` and the reply buffer for it, borrowed together.
    pub fn slot(&mut self, i: usize) -> (&[u8], &mut Vec<u8>) {
        let q = &self.rx[i * RX_BUF..i * RX_BUF + self.rx_len[i]];
        (q, &mut self.out[i])
    }

    /// Marks whether slot `i` has a reply to send.
    pub fn set_reply(&mut self, i: usize, send: bool) {
        self.reply[i] = send;
    }

    /// The sender of query `i`, for logging.
    pub fn peer(&self, i: usize) -> Option<SocketAddr> {
        storage_to_addr(&self.peer[i], self.peer_len[i])
    }

    /// Sends every marked reply among the first `n` slots. Returns how many went out;
    /// a reply the kernel refuses (e.g. unreachable peer) is skipped, not retried.
    pub fn send(&mut self, fd: BorrowedFd<'_>, n: usize) -> io::Result<usize> {
        let mut m = 0;
        for i in 0..n.min(self.cap) {
            if !self.reply[i] {
                continue;
            }
            self.iov[m] = libc::iovec {
                iov_base: self.out[i].as_mut_ptr().cast(),
                iov_len: self.out[i].len(),
            };
            let h = &mut self.hdr[m];
            h.msg_hdr.msg_name = (&mut self.peer[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = self.peer_len[i];
            h.msg_hdr.msg_iov = &mut self.iov[m];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
            m += 1;
        }
        let mut sent = 0;
        let mut at = 0;
        while at < m {
            // SAFETY: headers `at..m` were initialised above; their name and iovec
            // pointers point into `peer`, `iov` and `out`, owned by `self` and neither
            // moved nor resized while `&mut self` is held; each iovec length is the
            // length of the Vec it points into.
            let r = unsafe {
                libc::sendmmsg(
                    fd.as_raw_fd(),
                    self.hdr[at..].as_mut_ptr(),
                    (m - at) as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The first remaining message failed: drop it and go on with the rest.
                at += 1;
                if at >= m && sent == 0 {
                    return Err(e);
                }
                continue;
            }
            sent += r as usize;
            at += (r as usize).max(1);
        }
        Ok(sent)
    }
}

fn storage_to_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match ss.ss_family as libc::c_int {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, the kernel wrote
            // at least that many bytes, and sockaddr_storage is aligned for every
            // socket address type.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Signals a server may be sent from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Reload zones.
    Hup,
    /// Stop.
    Term,
}

/// Sends `sig` to process `pid` (used by `blason reload`, and by tests to stop a server).
pub fn send_signal(pid: u32, sig: Signal) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "invalid pid"))?;
    let signo = match sig {
        Signal::Hup => libc::SIGHUP,
        Signal::Term => libc::SIGTERM,
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; pid > 0 so it
    // targets exactly one process, never a process group.
    let r = unsafe { libc::kill(pid, signo) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
