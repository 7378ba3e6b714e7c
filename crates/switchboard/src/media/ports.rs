//! The RTP port pool: every call leg takes an even port for RTP and the next odd one for RTCP
//! (RFC 3550 §11), from the configured range.
//!
//! **Ports are chosen at random** among the free pairs, so a leg's port cannot be guessed from
//! the last one (handing them out in sequence told a scanner where the next call would be).
//! The generator is seeded from the operating system's CSPRNG, not from `rng_seed`: values
//! derived from that seed (SSRCs) are visible to every caller.
//!
//! **A freed pair rests** for [`QUARANTINE`] before it is handed out again, so late packets of a
//! call that just ended do not land in the next one (and cannot latch there). Should every other
//! pair be taken, the pair that has rested longest is used rather than refusing a call.
//!
//! A port that another program holds is skipped (the bind fails), so the pool never needs the
//! range to itself.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// How long a released pair rests before it is handed out again (while others are free).
pub const QUARANTINE: Duration = Duration::from_secs(10);

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
    /// Even ports neither leased nor resting, in no useful order (a pick is random anyway).
    free: Vec<u16>,
    /// Even ports released, oldest first, with when: they join `free` after [`QUARANTINE`].
    resting: VecDeque<(Instant, u16)>,
    /// Pairs leased now.
    leased: usize,
    rng: StdRng,
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
        self.pool.release(self.port, Instant::now());
    }
}

impl PortPool {
    /// A pool over `min..=max` on `address`; `min` is rounded up to even. Picks are seeded from
    /// the operating system's CSPRNG.
    #[must_use]
    pub fn new(address: IpAddr, min: u16, max: u16) -> Arc<PortPool> {
        Self::with_rng(address, min, max, StdRng::from_rng(&mut rand::rng()))
    }

    /// The same with a given generator (tests).
    #[must_use]
    pub fn with_rng(address: IpAddr, min: u16, max: u16, rng: StdRng) -> Arc<PortPool> {
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
                free: (min..=max).step_by(2).collect(),
                resting: VecDeque::new(),
                leased: 0,
                rng,
            }),
            address,
        })
    }

    /// How many pairs are leased now.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.state().leased
    }

    /// Binds a free even/odd pair chosen at random.
    ///
    /// # Errors
    /// When every pair in the range is leased or held by another program.
    pub fn allocate(self: &Arc<Self>) -> io::Result<PortLease> {
        self.allocate_at(Instant::now())
    }

    fn allocate_at(self: &Arc<Self>, now: Instant) -> io::Result<PortLease> {
        let mut state = self.state();
        while let Some(&(at, port)) = state.resting.front() {
            if now.saturating_duration_since(at) < QUARANTINE {
                break;
            }
            state.resting.pop_front();
            state.free.push(port);
        }
        // A random start, then on through the free list for ports another program holds.
        let count = state.free.len();
        let start = if count == 0 {
            0
        } else {
            state.rng.random_range(0..count)
        };
        for k in 0..count {
            let i = (start + k) % count;
            if let Some((rtp, rtcp)) = self.bind(state.free[i])? {
                let port = state.free.swap_remove(i);
                return Ok(self.lease(&mut state, port, rtp, rtcp));
            }
        }
        // Nothing else: the pairs that rested longest first.
        for i in 0..state.resting.len() {
            if let Some((rtp, rtcp)) = self.bind(state.resting[i].1)? {
                let port = state.resting.remove(i).map_or(0, |(_, port)| port);
                return Ok(self.lease(&mut state, port, rtp, rtcp));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "no free RTP port pair on {} between {} and {} ({} in use by calls): widen \
                 media.rtp_port_min/max",
                self.address,
                state.min,
                state.max + 1,
                state.leased
            ),
        ))
    }

    /// The pair at `port`, `None` when another program holds either port; `Err` only when the
    /// process is out of file descriptors (no other port would do better: say so at once).
    fn bind(&self, port: u16) -> io::Result<Option<(UdpSocket, UdpSocket)>> {
        let one = |port: u16| match UdpSocket::bind(SocketAddr::new(self.address, port)) {
            Ok(socket) => Ok(Some(socket)),
            Err(err) if matches!(err.raw_os_error(), Some(23 | 24)) => Err(io::Error::new(
                err.kind(),
                format!(
                    "out of file descriptors ({err}): no RTP socket can be opened; raise the \
                     limit (ulimit -n / LimitNOFILE) or lower sip.tcp_max_connections"
                ),
            )),
            Err(_) => Ok(None),
        };
        let Some(rtp) = one(port)? else {
            return Ok(None);
        };
        let Some(rtcp) = one(port + 1)? else {
            return Ok(None);
        };
        Ok(Some((rtp, rtcp)))
    }

    fn lease(
        self: &Arc<Self>,
        state: &mut PoolState,
        port: u16,
        rtp: UdpSocket,
        rtcp: UdpSocket,
    ) -> PortLease {
        state.leased += 1;
        PortLease {
            rtp,
            rtcp,
            guard: LeaseGuard {
                port,
                pool: self.clone(),
            },
        }
    }

    fn release(&self, port: u16, now: Instant) {
        let mut state = self.state();
        state.leased = state.leased.saturating_sub(1);
        state.resting.push_back((now, port));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // The state stays consistent across a panic elsewhere: every update is a few moves
        // between lists that cannot panic half-way.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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

    fn pool(base: u16, pairs: u16, seed: u64) -> Arc<PortPool> {
        PortPool::with_rng(
            loopback(),
            base,
            base + pairs * 2 - 1,
            StdRng::seed_from_u64(seed),
        )
    }

    #[test]
    fn pairs_are_even_odd_distinct_and_the_range_runs_out() {
        let base = free_range(40000, 3);
        let pool = pool(base, 3, 1);
        let leases: Vec<PortLease> = (0..3).map(|_| pool.allocate().unwrap()).collect();
        let ports: BTreeSet<u16> = leases.iter().map(PortLease::port).collect();
        assert_eq!(ports, BTreeSet::from([base, base + 2, base + 4]));
        for lease in &leases {
            assert_eq!(lease.rtcp.local_addr().unwrap().port(), lease.port() + 1);
        }
        assert_eq!(pool.in_use(), 3);
        let err = pool.allocate().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string().contains("widen media.rtp_port_min/max"),
            "{err}"
        );
    }

    #[test]
    fn ports_are_not_handed_out_in_sequence() {
        let base = free_range(42000, 50);
        // Whatever the seed, twenty picks from fifty pairs are not the round-robin sequence,
        // and two seeds do not pick alike.
        let picks = |seed| -> Vec<u16> {
            let pool = pool(base, 50, seed);
            (0..20)
                .map(|_| {
                    let lease = pool.allocate().unwrap();
                    let port = lease.port();
                    drop(lease);
                    port
                })
                .collect()
        };
        let (a, b) = (picks(1), picks(2));
        let sequential: Vec<u16> = (0..20).map(|i| base + 2 * i).collect();
        assert_ne!(a, sequential);
        assert_ne!(a, b);
        // A step from one pick to the next is not a constant either.
        let steps: BTreeSet<i32> = a
            .windows(2)
            .map(|w| i32::from(w[1]) - i32::from(w[0]))
            .collect();
        assert!(steps.len() > 5, "{a:?}");
    }

    #[test]
    fn every_pair_gets_picked_over_time() {
        let base = free_range(44000, 8);
        let pool = pool(base, 8, 3);
        let mut seen = BTreeSet::new();
        let mut now = Instant::now();
        for _ in 0..200 {
            // Released at once (real time), picked again a virtual quarantine later.
            seen.insert(pool.allocate_at(now).unwrap().port());
            now += QUARANTINE;
        }
        assert_eq!(seen.len(), 8, "{seen:?}");
    }

    #[test]
    fn a_freed_pair_rests_unless_nothing_else_is_free() {
        let base = free_range(46000, 3);
        let pool = pool(base, 3, 4);
        let t0 = Instant::now();
        let freed = pool.allocate_at(t0).unwrap().port();
        // The two other pairs go first …
        let b = pool.allocate_at(t0).unwrap();
        let c = pool.allocate_at(t0).unwrap();
        assert!(b.port() != freed && c.port() != freed);
        // … then the resting one rather than refusing the call.
        let d = pool.allocate_at(t0).unwrap();
        assert_eq!(d.port(), freed);
        drop((b, c, d));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn a_rested_pair_is_free_again() {
        let base = free_range(48000, 2);
        let pool = pool(base, 2, 5);
        let t0 = Instant::now();
        let other = pool.allocate_at(t0).unwrap();
        let freed = pool.allocate_at(t0).unwrap().port();
        assert_eq!(pool.state().free.len(), 0);
        // Released (just now, in real time) well before this virtual instant.
        let again = pool.allocate_at(t0 + 2 * QUARANTINE).unwrap();
        assert_eq!(again.port(), freed);
        assert!(pool.state().resting.is_empty());
        drop((other, again));
    }

    #[test]
    fn ports_held_by_others_are_skipped_and_guards_free_them() {
        let base = free_range(50000, 2);
        let pool = pool(base, 2, 6);
        let squatter = UdpSocket::bind((loopback(), base + 1)).unwrap();
        for _ in 0..10 {
            let lease = pool.allocate().unwrap();
            assert_eq!(lease.port(), base + 2);
            let (rtp, rtcp, guard) = lease.into_parts();
            drop((rtp, rtcp));
            assert_eq!(pool.in_use(), 1);
            drop(guard);
            assert_eq!(pool.in_use(), 0);
        }
        drop(squatter);
    }

    #[test]
    fn odd_bounds_are_rounded_inside_the_range() {
        let pool = PortPool::new(loopback(), 20001, 20005);
        let state = pool.state();
        assert_eq!((state.min, state.max), (20002, 20004));
        assert_eq!(state.free.len(), 2);
    }
}
