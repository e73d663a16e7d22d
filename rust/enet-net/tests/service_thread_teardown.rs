//! `stop_all_service_threads` (the extension's teardown) in a process of its own: it stops
//! every thread of the process, so it cannot run beside the other tests.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rust_enet_net::{
    BindAddress, ServiceConfig, ServiceThread, SharedUdpHost, UdpHost, stop_all_service_threads,
};
use rust_enet_proto::HostConfig;

fn serviced_host() -> ServiceThread {
    let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let udp = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
    ServiceThread::start(SharedUdpHost::new(udp), ServiceConfig::default()).unwrap()
}

#[test]
fn stop_all_ends_every_thread_whoever_owns_it() {
    let first = serviced_host();
    let second = serviced_host();
    assert!(first.is_running() && second.is_running());
    let start = Instant::now();
    stop_all_service_threads();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(!first.is_running() && !second.is_running());
    // The hosts go on without them, driven by their owners.
    for thread in [&first, &second] {
        let mut guard = thread.host().lock();
        let udp = guard.as_mut().unwrap();
        assert!(!udp.is_thread_serviced());
        assert!(udp.service(Duration::ZERO).unwrap().is_none());
    }
}
