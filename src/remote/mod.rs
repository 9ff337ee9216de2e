//! Outbound integrations with remote engines: Prometheus remote-write 1.0 to Mimir, Thanos
//! Receive, VictoriaMetrics or a Prometheus receiver.
//!
//! [`proto`] encodes `prometheus.WriteRequest` by hand (no protobuf dependency for a few
//! small messages; native histograms included) and compresses it with snappy; [`mod@write`] runs the queues: an observer on
//! the store's commit path feeds bounded per-shard buffers, and one tokio task per shard
//! batches, sends and retries. [`spawn`] starts them for a config's `remote_write:` entries.
//!
//! ```
//! use redline::remote::proto::{EncodedLabels, WriteRequest};
//! let labels = EncodedLabels::new([("__name__", "up"), ("job", "node")]);
//! let mut req = WriteRequest::new();
//! req.series(&labels, &[(1_000, 1.0), (16_000, 1.0)]);
//! assert_eq!(req.samples(), 2);
//! let body = redline::remote::proto::compress(&mut snap::raw::Encoder::new(), req.as_bytes());
//! assert!(!body.is_empty());
//! ```

pub mod proto;
pub mod write;

pub use write::{spawn, Queue, QueueObserver, RemoteWrite};
