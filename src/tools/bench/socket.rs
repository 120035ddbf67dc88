//! Non-blocking TCP connect from a chosen loopback source address.
//!
//! Every connection from 127.0.0.1 to one server port needs its own ephemeral port;
//! with ~19,000 of them (plus TIME_WAIT leftovers) the kernel's search for a free
//! port dominates the generator's CPU. Binding each connection to one of many
//! 127.x.y.z source addresses, with the port chosen at connect time
//! (IP_BIND_ADDRESS_NO_PORT), gives every source address its own port range.

use mio::net::TcpStream;
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Source addresses each agent cycles through.
pub const SOURCES_PER_AGENT: u32 = 32;

/// Source address for connection `connection` of agent `agent`: 127.2.agent.(1..=32).
pub fn source_address(agent: u8, connection: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        2,
        agent,
        1 + (connection as u32 % SOURCES_PER_AGENT) as u8,
    )
}

/// Starts a non-blocking connect from `source` (port chosen by the kernel) to `dest`;
/// from the kernel's usual source when `source` cannot be bound.
pub fn connect_from(source: Ipv4Addr, dest: SocketAddrV4) -> io::Result<TcpStream> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns; OwnedFd closes it on error.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    if bind_source(&socket, source).is_err() {
        // A sandbox without the rest of 127/8 (or without IP_BIND_ADDRESS_NO_PORT):
        // let the kernel choose the source as usual.
        return connect(SocketAddr::V4(dest));
    }
    let remote = sockaddr(dest);
    // SAFETY: `remote` is a valid sockaddr_in and the length matches it.
    let rc = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            (&remote as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(error);
        }
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// Plain non-blocking connect (the kernel picks the source), for non-IPv4 targets.
pub fn connect(dest: SocketAddr) -> io::Result<TcpStream> {
    TcpStream::connect(dest)
}

fn bind_source(socket: &OwnedFd, source: Ipv4Addr) -> io::Result<()> {
    let enable: libc::c_int = 1;
    // SAFETY: the option value points at a live c_int of the given size.
    check(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&enable as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    let local = sockaddr(SocketAddrV4::new(source, 0));
    // SAFETY: `local` is a valid sockaddr_in and the length matches it.
    check(unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&local as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn source_addresses_stay_on_loopback_and_rotate() {
        assert_eq!(source_address(0, 0), Ipv4Addr::new(127, 2, 0, 1));
        assert_eq!(source_address(3, 31), Ipv4Addr::new(127, 2, 3, 32));
        assert_eq!(source_address(3, 32), Ipv4Addr::new(127, 2, 3, 1));
        assert!((0..1000).all(|i| source_address(255, i).is_loopback()));
    }

    #[test]
    fn connects_from_the_chosen_source() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(dest) = listener.local_addr().unwrap() else {
            unreachable!()
        };
        let source = Ipv4Addr::new(127, 2, 9, 7);
        let _stream = connect_from(source, dest).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), source);
    }
}
