//! Limits that keep one client from hurting others: failed logins per client IP (guessing tokens), and live
//! connections per identity (one wall display stuck in a reconnect loop, or a leaked token used everywhere).
//! Both use bounded memory whatever the traffic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed credentials per client IP within a window.
#[derive(Debug, Clone)]
pub struct FailedLogins {
    inner: Arc<Mutex<HashMap<IpAddr, (u32, Instant)>>>,
    max_failures: u32,
    window: Duration,
    max_clients: usize,
}

impl FailedLogins {
    /// At most `max_failures` failures per `window` per IP, remembering at most `max_clients` IPs.
    pub fn new(max_failures: u32, window: Duration, max_clients: usize) -> FailedLogins {
        FailedLogins { inner: Arc::default(), max_failures, window, max_clients }
    }

    /// Whether `ip` may try again now.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        let map = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&ip).is_none_or(|(count, since)| *count < self.max_failures || since.elapsed() >= self.window)
    }

    /// Counts a failure of `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let mut map = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.max_clients && !map.contains_key(&ip) {
            map.retain(|_, (_, since)| since.elapsed() < self.window);
            if map.len() >= self.max_clients {
                // Still full of live entries: forget the oldest one (an attacker cycling addresses gains only
                // that its oldest address may try again sooner).
                if let Some(oldest) = map.iter().min_by_key(|(_, (_, since))| *since).map(|(ip, _)| *ip) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// How many IPs are remembered.
    pub fn tracked(&self) -> usize {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

/// Live connections per identity.
#[derive(Debug, Clone)]
pub struct Connections {
    inner: Arc<Mutex<HashMap<String, usize>>>,
    max: usize,
}

/// One counted connection; the count drops with it.
#[derive(Debug)]
pub struct Permit {
    inner: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Connections {
    /// At most `max` per identity.
    pub fn new(max: usize) -> Connections {
        Connections { inner: Arc::default(), max }
    }

    /// A permit for one more connection of `key`, unless it has `max` already.
    pub fn acquire(&self, key: &str) -> Option<Permit> {
        let mut map = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = map.entry(key.to_owned()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Permit { inner: self.inner.clone(), key: key.to_owned() })
    }

    /// The limit.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut map = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_is_blocked_after_too_many_failures_and_others_are_not() {
        let limits = FailedLogins::new(3, Duration::from_secs(60), 100);
        let bad: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.allowed(bad));
            limits.failed(bad);
        }
        assert!(!limits.allowed(bad));
        assert!(limits.allowed("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn the_window_ends_the_block() {
        let limits = FailedLogins::new(1, Duration::from_millis(20), 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        limits.failed(ip);
        assert!(!limits.allowed(ip));
        std::thread::sleep(Duration::from_millis(30));
        assert!(limits.allowed(ip));
    }

    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let limits = FailedLogins::new(3, Duration::from_secs(60), 50);
        for i in 0..10_000u32 {
            limits.failed(IpAddr::V4(i.into()));
        }
        assert!(limits.tracked() <= 50, "{}", limits.tracked());
    }

    #[test]
    fn the_connection_cap_counts_per_identity_and_frees_on_drop() {
        let connections = Connections::new(2);
        let a1 = connections.acquire("alice").unwrap();
        let _a2 = connections.acquire("alice").unwrap();
        assert!(connections.acquire("alice").is_none());
        assert!(connections.acquire("bob").is_some());
        drop(a1);
        assert!(connections.acquire("alice").is_some());
    }
}
