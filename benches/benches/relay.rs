//! The relay path per packet, through a real media worker, against a raw UDP relay thread
//! measured the same way in the same run.
//!
//! Each iteration sends one 172-byte G.711 packet from the "caller" socket to the worker's
//! caller-leg port and waits until it arrives, relayed, on the "agent" socket: two syscalls of
//! ours, the worker's wake-up, its receive, parse, latch and payload-type checks, statistics,
//! sequence/timestamp/SSRC rewrite and send. The baseline does the same through a thread that
//! only receives and sends. The ratio of the two is what the relay costs beyond the kernel.
//!
//!     cargo bench -p switchboard-benches --bench relay

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::config::{MediaConfig, RecordingConfig};
use switchboard::media::{MediaEngine, RemoteMedia, Role};
use switchboard_media::codec::{CodecKind, CodecParams};

fn packet(seq: u16) -> [u8; 172] {
    let mut p = [0xd5u8; 172];
    p[0] = 0x80;
    p[1] = 8;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p
}

fn remote(addr: SocketAddr) -> RemoteMedia {
    RemoteMedia {
        rtp: addr,
        rtcp: SocketAddr::new(addr.ip(), addr.port() + 1),
        rtcp_mux: false,
        codec: CodecKind::Pcma,
        payload_type: 8,
        params: CodecParams::default(),
        telephone_event: Some(101),
        send: true,
        recv: true,
        // As if the SIP signalling came from the same host: we may send before it does.
        signalling: Some(addr.ip()),
    }
}

/// A bridged two-leg session on a one-worker engine; returns the caller-leg address.
fn worker_relay(
    rt: &tokio::runtime::Runtime,
    caller: &UdpSocket,
    agent: &UdpSocket,
) -> (Arc<MediaEngine>, SocketAddr, Box<dyn std::any::Any>) {
    rt.block_on(async {
        let media = MediaConfig {
            workers: 1,
            rtp_port_min: 36000,
            rtp_port_max: 36999,
            timeout_s: 0,
            ..MediaConfig::default()
        };
        let recording = RecordingConfig {
            enabled: false,
            ..RecordingConfig::default()
        };
        let engine = MediaEngine::start(&media, &recording, 7).expect("media engine");
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let session = engine.new_session(tx).await.expect("session");
        let a = session.add_leg(Role::Caller).await.expect("leg");
        let b = session.add_leg(Role::Callee).await.expect("leg");
        session
            .set_remote(a.leg, remote(caller.local_addr().unwrap()))
            .await
            .unwrap();
        session
            .set_remote(b.leg, remote(agent.local_addr().unwrap()))
            .await
            .unwrap();
        session.bridge(a.leg, b.leg).await.unwrap();
        // Keep the session and its event receiver alive for the whole bench.
        (
            engine.clone(),
            a.addr,
            Box::new((session, rx)) as Box<dyn std::any::Any>,
        )
    })
}

/// A raw relay thread: what arrives on `front` goes to `to`, nothing else.
fn raw_relay(to: SocketAddr, stop: Arc<AtomicBool>) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").unwrap();
    front
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = front.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = front.recv_from(&mut buf) {
                let _ = front.send_to(&buf[..n], to);
            }
        }
    });
    addr
}

fn relay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    agent
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let (_engine, leg_a, _keep) = worker_relay(&rt, &caller, &agent);
    let stop = Arc::new(AtomicBool::new(false));
    let raw = raw_relay(agent.local_addr().unwrap(), stop.clone());
    let mut buf = [0u8; 2048];
    let mut seq = 0u16;
    // Latch the worker on the caller socket before measuring.
    for _ in 0..10 {
        seq = seq.wrapping_add(1);
        caller.send_to(&packet(seq), leg_a).unwrap();
        let _ = agent.recv(&mut buf);
    }
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw UDP relay thread, per packet", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            caller.send_to(&packet(seq), raw).unwrap();
            agent.recv(&mut buf).unwrap()
        });
    });
    group.bench_function("switchboard media worker, per packet", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            caller.send_to(&packet(seq), leg_a).unwrap();
            agent.recv(&mut buf).unwrap()
        });
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
}

criterion_group!(benches, relay);
criterion_main!(benches);
