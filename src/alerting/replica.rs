//! What the alerting runtime needs to run as one of several replicas that page once (high
//! availability; the Lease and the replication are `crate::cluster`'s): the [`SendGate`] the
//! delivery asks right before each attempt, and the idempotency key of a notification.
//!
//! Every replica routes, groups and keeps its timers; only the one whose gate is open sends
//! and writes the notification log. Alone (no `cluster:` section) the gate is always open.
//! The Lease holder's gate is open until its last successful renewal plus `renew_deadline`
//! ([`SendGate::open_until`]), so a holder that cannot renew stops sending before the Lease
//! may pass to another replica.
//!
//! The idempotency key ([`idempotency_key`]) is a SHA-256 over what every replica agrees on:
//! the receiver, the integration, the group key, the alerts' fingerprints with their
//! firing/resolved state, and the previous entry of the (replicated) notification log, which
//! tells a repeat apart from the notification before it. It never involves one replica's
//! clock or timers, so a notification the old holder sent but could not replicate gets the
//! same key when the new holder sends it again. [`with_idempotency_key`] makes the key
//! visible to the integration sending the notification ([`current_idempotency_key`]), which
//! sends it as the HTTP header `Idempotency-Key` (the webhook also as `idempotencyKey` in its
//! payload; an email as an `Idempotency-Key` header and its Message-ID `<key@domain>`).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::alert::fingerprint_hex;
use super::nflog::NflogKey;

/// The HTTP header that carries a notification's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

#[derive(Debug)]
enum Gate {
    /// Alone: always open.
    Always,
    /// A replica: open until the instant, if any.
    Until(Option<Instant>),
}

/// Whether this replica may send notifications now; clones share the state.
#[derive(Clone, Debug)]
pub struct SendGate {
    gate: Arc<Mutex<Gate>>,
    /// Notified each time a closed replica gate opens (this replica took the Lease).
    opened: Arc<tokio::sync::Notify>,
}

impl Default for SendGate {
    fn default() -> Self {
        SendGate::always()
    }
}

impl SendGate {
    /// The gate of a redline that runs alone: always open.
    pub fn always() -> SendGate {
        SendGate {
            gate: Arc::new(Mutex::new(Gate::Always)),
            opened: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The gate of a replica: closed until [`SendGate::open_until`].
    pub fn replica() -> SendGate {
        SendGate {
            gate: Arc::new(Mutex::new(Gate::Until(None))),
            opened: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a replica's gate until `until` (the Lease renewal's start plus the renew
    /// deadline); no effect on an always-open gate.
    pub fn open_until(&self, until: Instant) {
        if let Gate::Until(u) = &mut *self.lock() {
            let was_closed = !u.is_some_and(|u| Instant::now() < u);
            *u = Some(until);
            if was_closed {
                self.opened.notify_one();
            }
        }
    }

    /// Completes once a closed replica gate has opened since the last call (a takeover: the
    /// new holder sends what its peers left pending). Never completes on an always-open gate.
    pub async fn opened(&self) {
        self.opened.notified().await;
    }

    /// Closes a replica's gate at once (the Lease is lost or released).
    pub fn close(&self) {
        if let Gate::Until(u) = &mut *self.lock() {
            *u = None;
        }
    }

    /// Whether a notification may be sent now.
    pub fn may_send(&self) -> bool {
        match &*self.lock() {
            Gate::Always => true,
            Gate::Until(u) => u.is_some_and(|u| Instant::now() < u),
        }
    }
}

/// The idempotency key of the notification of `firing` and `resolved` for `key`, decided
/// against a log whose last entry for `key` was sent at `previous_sent_at_ms` (`None`: no
/// entry): 64 hex digits.
pub fn idempotency_key(
    key: &NflogKey,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    previous_sent_at_ms: Option<i64>,
) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    // Each field is length-prefixed, so no two different inputs print the same bytes.
    for field in [&key.receiver, &key.integration, &key.group_key] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field.as_bytes());
    }
    for (tag, set) in [(b'f', firing), (b'r', resolved)] {
        ctx.update(&[tag]);
        ctx.update(&(set.len() as u64).to_be_bytes());
        for fp in set {
            ctx.update(fingerprint_hex(*fp).as_bytes());
        }
    }
    match previous_sent_at_ms {
        Some(ms) => {
            ctx.update(b"p");
            ctx.update(&ms.to_be_bytes());
        }
        None => ctx.update(b"n"),
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

tokio::task_local! {
    static IDEMPOTENCY_KEY: String;
}

/// Runs `f` (an integration's `notify`) with `key` as the notification's idempotency key.
pub async fn with_idempotency_key<F: Future>(key: String, f: F) -> F::Output {
    IDEMPOTENCY_KEY.scope(key, f).await
}

/// The idempotency key of the notification being sent, inside [`with_idempotency_key`].
pub fn current_idempotency_key() -> Option<String> {
    IDEMPOTENCY_KEY.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> NflogKey {
        NflogKey {
            group_key: "{}:{alertname=\"A\"}".into(),
            receiver: "team".into(),
            integration: "webhook[0]".into(),
        }
    }

    #[test]
    fn key_depends_on_content_and_previous_entry_only() {
        let f: BTreeSet<u64> = [1, 2].into();
        let none = BTreeSet::new();
        let k = idempotency_key(&key(), &f, &none, Some(5));
        // Computed twice (as on two replicas): the same.
        assert_eq!(k, idempotency_key(&key(), &f, &none, Some(5)));
        assert_eq!(k.len(), 64);
        // Each input changes it: a repeat (other previous entry), a resolution, a new alert,
        // another integration.
        assert_ne!(k, idempotency_key(&key(), &f, &none, Some(6)));
        assert_ne!(k, idempotency_key(&key(), &f, &none, None));
        assert_ne!(
            k,
            idempotency_key(&key(), &[1].into(), &[2].into(), Some(5))
        );
        assert_ne!(
            k,
            idempotency_key(&key(), &[1, 2, 3].into(), &none, Some(5))
        );
        let mut other = key();
        other.integration = "webhook[1]".into();
        assert_ne!(k, idempotency_key(&other, &f, &none, Some(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn replica_gate_closes_at_its_deadline() {
        assert!(SendGate::always().may_send());
        let g = SendGate::replica();
        assert!(!g.may_send(), "closed until the Lease is held");
        g.open_until(Instant::now() + Duration::from_millis(1500));
        assert!(g.may_send());
        tokio::time::advance(Duration::from_millis(1499)).await;
        assert!(g.may_send());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!g.may_send(), "not renewed within the deadline: closed");
        g.open_until(Instant::now() + Duration::from_secs(1));
        g.close();
        assert!(!g.may_send());
    }

    #[tokio::test(start_paused = true)]
    async fn opening_a_closed_gate_is_announced_once() {
        let g = SendGate::replica();
        g.open_until(Instant::now() + Duration::from_secs(2));
        tokio::time::timeout(Duration::from_millis(1), g.opened())
            .await
            .expect("the takeover is announced");
        // A renewal while open is no takeover.
        g.open_until(Instant::now() + Duration::from_secs(2));
        assert!(
            tokio::time::timeout(Duration::from_millis(1), g.opened())
                .await
                .is_err(),
            "a renewal is no takeover"
        );
        // Lapsed, then renewed: a takeover again.
        tokio::time::advance(Duration::from_secs(3)).await;
        g.open_until(Instant::now() + Duration::from_secs(2));
        tokio::time::timeout(Duration::from_millis(1), g.opened())
            .await
            .expect("the second takeover is announced");
    }

    #[tokio::test]
    async fn key_is_visible_inside_the_scope_only() {
        assert_eq!(current_idempotency_key(), None);
        let seen = with_idempotency_key("k1".into(), async { current_idempotency_key() }).await;
        assert_eq!(seen.as_deref(), Some("k1"));
    }
}
