//! The RTP port pool: every call leg takes an even port for RTP and the next odd one for RTCP
//! (RFC 3550 §11), from the configured range.
//!
//! Ports are handed out round-robin through the range rather than lowest-first, so a port
//! freed by a call that just ended is not given to the next call at once: late packets of the old
//! call would otherwise land in the new one. A port that another program holds is skipped (the
//! bind fails), so the pool never needs the range to itself.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};

/// Allocates RTP/RTCP socket pairs.
#[derive(Debug)]
pub struct PortPool {
    inner: Mutex<PoolState>,
    address: IpAddr,
}

#[derive(Debug)]
struct PoolState {
    /// Lowest even port.
    min: u16,
    /// Highest even port we may use (its odd neighbour is the RTCP port).
    max: u16,
    /// Where the next search starts; always even.
    next: u16,
    /// Even ports currently leased.
    in_use: HashSet<u16>,
}

/// A bound RTP/RTCP pair; the ports return to the pool when it is dropped.
#[derive(Debug)]
pub struct PortLease {
    /// The RTP socket (even port).
    pub rtp: UdpSocket,
    /// The RTCP socket (the next odd port).
    pub rtcp: UdpSocket,
    guard: LeaseGuard,
}

impl PortLease {
    /// The RTP port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.guard.port
    }

    /// Splits off the sockets, keeping the lease (which frees the port on drop).
    #[must_use]
    pub fn into_parts(self) -> (UdpSocket, UdpSocket, LeaseGuard) {
        (self.rtp, self.rtcp, self.guard)
    }
}

/// Frees a leased port when dropped (after its sockets are closed).
#[derive(Debug)]
pub struct LeaseGuard {
    port: u16,
    pool: Arc<PortPool>,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.pool.release(self.port);
    }
}

impl PortPool {
    /// A pool over `min..=max` on `address`; `min` is rounded up to even.
    #[must_use]
    pub fn new(address: IpAddr, min: u16, max: u16) -> Arc<PortPool> {
        let min = min.saturating_add(min % 2);
        // The highest even port whose odd neighbour is still inside the range.
        let max = if max.is_multiple_of(2) {
            max.saturating_sub(2)
        } else {
            max - 1
        }
        .max(min);
        Arc::new(PortPool {
            inner: Mutex::new(PoolState {
                min,
                max,
                next: min,
                in_use: HashSet::new(),
            }),
            address,
        })
    }

    /// How many pairs are leased now.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.state().in_use.len()
    }

    /// Binds the next free even/odd pair.
    ///
    /// # Errors
    /// When every pair in the range is leased or held by another program.
    pub fn allocate(self: &Arc<Self>) -> io::Result<PortLease> {
        let mut state = self.state();
        let pairs = usize::from((state.max - state.min) / 2) + 1;
        for _ in 0..pairs {
            let port = state.next;
            state.next = if port >= state.max {
                state.min
            } else {
                port + 2
            };
            if state.in_use.contains(&port) {
                continue;
            }
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.address, port)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.address, port + 1)) else {
                continue;
            };
            state.in_use.insert(port);
            return Ok(PortLease {
                rtp,
                rtcp,
                guard: LeaseGuard {
                    port,
                    pool: self.clone(),
                },
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "no free RTP port pair on {} between {} and {} ({} in use by calls): widen \
                 media.rtp_port_min/max",
                self.address,
                state.min,
                state.max + 1,
                state.in_use.len()
            ),
        ))
    }

    fn release(&self, port: u16) {
        self.state().in_use.remove(&port);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // The state stays consistent across a panic elsewhere: every update is one insert/remove.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    /// A free even base port with `pairs` free pairs above it, searched from `from` (each test
    /// searches its own region: tests run in parallel).
    fn free_range(from: u16, pairs: u16) -> u16 {
        for base in (from..from + 5000).step_by(64) {
            let all_free = (0..pairs * 2).all(|i| UdpSocket::bind((loopback(), base + i)).is_ok());
            if all_free {
                return base;
            }
        }
        panic!("no free range");
    }

    #[test]
    fn pairs_are_even_odd_and_round_robin() {
        let base = free_range(40000, 3);
        let pool = PortPool::new(loopback(), base, base + 5);
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_eq!((a.port(), b.port()), (base, base + 2));
        assert_eq!(a.rtcp.local_addr().unwrap().port(), base + 1);
        drop(a);
        // The freed pair is not reused at once: the next lease goes on round the range.
        let c = pool.allocate().unwrap();
        assert_eq!(c.port(), base + 4);
        let d = pool.allocate().unwrap();
        assert_eq!(d.port(), base);
        assert_eq!(pool.in_use(), 3);
        let err = pool.allocate().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string().contains("widen media.rtp_port_min/max"),
            "{err}"
        );
    }

    #[test]
    fn ports_held_by_others_are_skipped_and_guards_free_them() {
        let base = free_range(46000, 2);
        let pool = PortPool::new(loopback(), base, base + 3);
        let squatter = UdpSocket::bind((loopback(), base + 1)).unwrap();
        let lease = pool.allocate().unwrap();
        assert_eq!(lease.port(), base + 2);
        let (rtp, rtcp, guard) = lease.into_parts();
        drop((rtp, rtcp));
        assert_eq!(pool.in_use(), 1);
        drop(guard);
        assert_eq!(pool.in_use(), 0);
        drop(squatter);
    }

    #[test]
    fn odd_bounds_are_rounded_inside_the_range() {
        let pool = PortPool::new(loopback(), 20001, 20005);
        let state = pool.state();
        assert_eq!((state.min, state.max), (20002, 20004));
    }
}
