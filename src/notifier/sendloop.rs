//! One Alertmanager's queue and the task that sends it (Prometheus 3's `sendLoop`): a
//! bounded queue that drops its oldest alerts when full, batches of at most
//! `max_batch_size` alerts POSTed as API v2 JSON under the set's timeout, and the
//! metrics of that Alertmanager.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{am_labels, Alert, Metrics, NotifierOptions};
use crate::config::alerting::AlertmanagerConfig;
use crate::config::Auth;
use crate::httpclient::ClientError;

/// What a send loop needs to POST.
struct Sender {
    client: Result<reqwest::Client, ClientError>,
    auth: Option<Auth>,
    timeout: Duration,
}

/// The queue of one discovered Alertmanager.
pub(crate) struct SendLoop {
    url: String,
    queue: Mutex<VecDeque<Alert>>,
    capacity: usize,
    batch: usize,
    has_work: Notify,
    stopping: Notify,
    stopped: AtomicBool,
    metrics: Metrics,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Why a batch was not accepted.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Client(#[source] ClientError),
    #[error("reading credentials: {0}")]
    Credentials(#[source] std::io::Error),
    #[error("{}", crate::httpclient::error_chain(.0))]
    Request(#[source] reqwest::Error),
    #[error("bad response status {0}")]
    Status(reqwest::StatusCode),
    #[error("context deadline exceeded")]
    Timeout,
}

impl SendLoop {
    /// Starts the loop of the Alertmanager at `url`. With no client (its settings could
    /// not be built), every batch fails with that error and is counted. Call within the
    /// tokio runtime.
    pub(crate) fn start(
        url: String,
        client: Result<reqwest::Client, ClientError>,
        cfg: &AlertmanagerConfig,
        opts: &NotifierOptions,
        metrics: Metrics,
    ) -> Arc<SendLoop> {
        let l = Arc::new(SendLoop {
            url,
            queue: Mutex::new(VecDeque::new()),
            capacity: opts.queue_capacity.max(1),
            batch: opts.max_batch_size.max(1),
            has_work: Notify::new(),
            stopping: Notify::new(),
            stopped: AtomicBool::new(false),
            metrics,
            task: Mutex::new(None),
        });
        let sender = Sender {
            client,
            auth: cfg.http.auth.clone(),
            timeout: cfg.timeout,
        };
        let task = tokio::spawn(l.clone().run(sender));
        *l.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        l
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Alert>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `alerts`, dropping the oldest queued ones (and, for a batch larger than the
    /// whole queue, its first ones) so at most `capacity` remain; drops are counted.
    pub(crate) fn add(&self, alerts: &[Alert]) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let mut dropped = 0usize;
        let mut alerts = alerts;
        if alerts.len() > self.capacity {
            let d = alerts.len() - self.capacity;
            tracing::warn!(alertmanager = %self.url, count = d, "Alert batch larger than queue capacity, dropping alerts");
            dropped += d;
            alerts = &alerts[d..];
        }
        let mut q = self.queue();
        let over = (q.len() + alerts.len()).saturating_sub(self.capacity);
        if over > 0 {
            tracing::warn!(alertmanager = %self.url, count = over, "Alert notification queue full, dropping alerts");
            dropped += over;
            q.drain(..over);
        }
        q.extend(alerts.iter().cloned());
        let len = q.len();
        drop(q);
        self.has_work.notify_one();
        let l = am_labels(&self.url);
        self.metrics
            .queue_length
            .get_or_create(&l)
            .set(i64::try_from(len).unwrap_or(i64::MAX));
        if dropped > 0 {
            self.metrics
                .dropped
                .get_or_create(&l)
                .inc_by(dropped as u64);
        }
    }

    /// Asks the loop to end: it sends what is queued, then removes its metrics.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stopping.notify_one();
    }

    /// Waits until the loop has ended (after [`SendLoop::stop`]).
    pub(crate) async fn finished(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    async fn run(self: Arc<Self>, sender: Sender) {
        loop {
            tokio::select! {
                biased;
                _ = self.stopping.notified() => break,
                _ = self.has_work.notified() => {}
            }
            if self.stopped.load(Ordering::Acquire) {
                break;
            }
            self.send_one_batch(&sender).await;
            if !self.queue().is_empty() {
                self.has_work.notify_one();
            }
        }
        while !self.queue().is_empty() {
            self.send_one_batch(&sender).await;
        }
        self.metrics.remove(&self.url);
    }

    fn next_batch(&self) -> Vec<Alert> {
        let mut q = self.queue();
        let n = q.len().min(self.batch);
        let batch: Vec<Alert> = q.drain(..n).collect();
        let len = q.len();
        drop(q);
        self.metrics
            .queue_length
            .get_or_create(&am_labels(&self.url))
            .set(i64::try_from(len).unwrap_or(i64::MAX));
        batch
    }

    async fn send_one_batch(&self, sender: &Sender) {
        let batch = self.next_batch();
        if batch.is_empty() {
            return;
        }
        let l = am_labels(&self.url);
        let n = batch.len() as u64;
        let begin = tokio::time::Instant::now();
        let body = encode(&batch);
        let outcome = match tokio::time::timeout(sender.timeout, self.post(sender, body)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout),
        };
        match outcome {
            Ok(()) => {
                self.metrics
                    .latency
                    .get_or_create(&l)
                    .observe(begin.elapsed().as_secs_f64());
                self.metrics.sent.get_or_create(&l).inc_by(n);
            }
            Err(e) => {
                tracing::error!(alertmanager = %self.url, count = n, error = %e, "Error sending alerts");
                self.metrics.errors.get_or_create(&l).inc_by(n);
                self.metrics.dropped.get_or_create(&l).inc_by(n);
            }
        }
    }

    async fn post(&self, sender: &Sender, body: Vec<u8>) -> Result<(), SendError> {
        let client = sender
            .client
            .as_ref()
            .map_err(|e| SendError::Client(e.clone()))?;
        let req = client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let req = crate::httpclient::apply_auth(req, sender.auth.as_ref())
            .await
            .map_err(SendError::Credentials)?;
        let resp = req.send().await.map_err(SendError::Request)?;
        let status = resp.status();
        // The body is read to its end (Prometheus discards it) so the connection is reused.
        let _ = resp.bytes().await;
        if !status.is_success() {
            return Err(SendError::Status(status));
        }
        Ok(())
    }
}

/// Alertmanager API v2 `PostableAlerts` JSON, as Prometheus' `alertsToOpenAPIAlerts`
/// marshals them (empty annotations and generatorURL left out).
pub(crate) fn encode(alerts: &[Alert]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let mut m = serde_json::Map::new();
            if !a.annotations.is_empty() {
                m.insert("annotations".into(), label_set(&a.annotations));
            }
            m.insert("endsAt".into(), date_time(a.ends_at_ms).into());
            m.insert("startsAt".into(), date_time(a.starts_at_ms).into());
            if !a.generator_url.is_empty() {
                m.insert("generatorURL".into(), a.generator_url.clone().into());
            }
            m.insert("labels".into(), label_set(&a.labels));
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

fn label_set(l: &crate::store::Labels) -> serde_json::Value {
    serde_json::Value::Object(
        l.iter()
            .map(|l| (l.name.to_string(), serde_json::Value::from(&*l.value)))
            .collect(),
    )
}

/// go-openapi's `strfmt.DateTime` as JSON: RFC 3339 with milliseconds
/// (`2006-01-02T15:04:05.000Z07:00`), here always in UTC.
pub(crate) fn date_time(ms: i64) -> String {
    let c = crate::timefmt::civil_from_unix(ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        ms.rem_euclid(1000)
    )
}
