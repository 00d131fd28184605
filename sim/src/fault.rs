//! Fault injection: make the simulated API server misbehave the ways real ones do, on demand.
//!
//! The collector must survive dropped watches, expired resource versions, 5xx answers, slowness and RBAC
//! denials. Tests (and later the CLI) flip these switches on a shared [`Faults`]; the API consults it on every
//! resource request. Faults name resources as the API server does: `pods`, `deployments.apps`.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

/// The switches. Shared by the API and whoever injects faults.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
    drops: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    expire_next_watch: HashMap<String, u32>,
    errors: HashMap<String, u16>,
    forbidden: HashSet<String>,
    latency: Duration,
}

/// What a request for a resource must suffer before it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    /// Answer this server error code.
    Error(u16),
    /// Answer 403 Forbidden.
    Forbidden,
}

impl Default for Faults {
    fn default() -> Self {
        Faults { state: Mutex::default(), drops: watch::channel(0).0 }
    }
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every open watch connection now (the connection is cut mid-stream, as a restarting API server
    /// or a broken load balancer cuts it).
    pub fn drop_watches(&self) {
        self.drops.send_modify(|n| *n += 1);
    }

    /// The next watch of `resource` gets `410 Expired`, whatever its resourceVersion.
    pub fn expire_next_watch(&self, resource: &str) {
        *self.lock().expire_next_watch.entry(resource.to_owned()).or_default() += 1;
    }

    /// Every request for `resource` answers `code` (500, 503…) until cleared.
    pub fn fail(&self, resource: &str, code: u16) {
        self.lock().errors.insert(resource.to_owned(), code);
    }

    /// Every request for `resource` answers 403 Forbidden until cleared.
    pub fn forbid(&self, resource: &str) {
        self.lock().forbidden.insert(resource.to_owned());
    }

    /// Every resource request waits this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Clears every fault (open watches are not affected).
    pub fn clear(&self) {
        *self.lock() = State::default();
    }

    /// The latency to add to a request.
    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// What a request for `resource` must answer instead of being served, if anything.
    pub fn injected(&self, resource: &str) -> Option<Injected> {
        let state = self.lock();
        if state.forbidden.contains(resource) {
            return Some(Injected::Forbidden);
        }
        state.errors.get(resource).map(|code| Injected::Error(*code))
    }

    /// Whether this watch of `resource` must expire; consumes one `expire_next_watch`.
    pub fn take_expiry(&self, resource: &str) -> bool {
        let mut state = self.lock();
        match state.expire_next_watch.get_mut(resource) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                state.expire_next_watch.remove(resource);
                true
            }
            None => false,
        }
    }

    /// Changes whenever watches are to be dropped; a watch holds one and ends when it changes.
    pub fn drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_is_consumed_by_one_watch() {
        let faults = Faults::default();
        faults.expire_next_watch("pods");
        faults.expire_next_watch("pods");
        assert!(!faults.take_expiry("services"));
        assert!(faults.take_expiry("pods"));
        assert!(faults.take_expiry("pods"));
        assert!(!faults.take_expiry("pods"));
    }

    #[test]
    fn errors_and_denials_persist_until_cleared() {
        let faults = Faults::default();
        faults.fail("deployments.apps", 503);
        faults.forbid("secrets");
        faults.set_latency(Duration::from_millis(5));
        assert_eq!(faults.injected("deployments.apps"), Some(Injected::Error(503)));
        assert_eq!(faults.injected("deployments.apps"), Some(Injected::Error(503)));
        assert_eq!(faults.injected("secrets"), Some(Injected::Forbidden));
        assert_eq!(faults.injected("pods"), None);
        assert_eq!(faults.latency(), Duration::from_millis(5));
        faults.clear();
        assert_eq!((faults.injected("secrets"), faults.latency()), (None, Duration::ZERO));
    }

    #[test]
    fn dropping_watches_wakes_every_holder() {
        let faults = Faults::default();
        let mut a = faults.drops();
        let mut b = faults.drops();
        faults.drop_watches();
        assert!(a.has_changed().unwrap() && b.has_changed().unwrap());
        a.mark_unchanged();
        b.mark_unchanged();
        assert!(!a.has_changed().unwrap());
    }
}
