//! A remote-write 1.0 receiver on loopback for tests: it checks the protocol headers,
//! decompresses snappy, decodes `prometheus.WriteRequest` with an independent protobuf
//! reader, and answers with the statuses the test scripts.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A label set as received.
pub type LabelSet = BTreeMap<String, String>;

/// A decoded `TimeSeries`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: LabelSet,
    /// `(timestamp ms, value bits)`.
    pub samples: Vec<(i64, u64)>,
}

/// What the receiver saw.
#[derive(Debug, Default)]
pub struct Received {
    /// Every request, with the status it was answered.
    pub requests: Vec<u16>,
    /// Series of the accepted (2xx) requests, in arrival order.
    pub accepted: Vec<Series>,
    /// Protocol problems (bad header, bad snappy, bad protobuf).
    pub errors: Vec<String>,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Received>>,
}

impl Receiver {
    /// Starts a receiver whose `n`-th request (from 0) is answered `status(n)`.
    pub async fn start(status: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind remote-write receiver");
        let addr = listener.local_addr().expect("receiver address");
        let seen = Arc::new(Mutex::new(Received::default()));
        let shared = seen.clone();
        let status = Arc::new(status);
        let app = Router::new().route(
            "/api/v1/write",
            post(move |headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                let status = status.clone();
                async move {
                    let decoded = decode_request(&headers, &body);
                    let mut seen = shared.lock().expect("receiver state");
                    let code = status(seen.requests.len());
                    seen.requests.push(code);
                    match decoded {
                        Ok(series) if (200..300).contains(&code) => seen.accepted.extend(series),
                        Ok(_) => {}
                        Err(e) => seen.errors.push(e),
                    }
                    StatusCode::from_u16(code).expect("valid status")
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, seen }
    }

    /// The write URL.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Runs `f` over what was received so far.
    pub fn with<T>(&self, f: impl FnOnce(&Received) -> T) -> T {
        f(&self.seen.lock().expect("receiver state"))
    }
}

fn decode_request(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Series>, String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    for (name, want) in [
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
        ("x-prometheus-remote-write-version", "0.1.0"),
    ] {
        if header(name) != want {
            return Err(format!("{name}: {:?}, expected {want:?}", header(name)));
        }
    }
    if !header("user-agent").starts_with("redline/") {
        return Err(format!("user-agent: {:?}", header("user-agent")));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    decode_write_request(&raw)
}

/// A minimal protobuf reader.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn fixed64(&mut self) -> Result<u64, String> {
        let s = self
            .b
            .get(self.pos..self.pos + 8)
            .ok_or("truncated fixed64")?;
        self.pos += 8;
        Ok(u64::from_le_bytes(s.try_into().map_err(|_| "fixed64")?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()? as usize;
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or("truncated bytes")?;
        self.pos += n;
        Ok(s)
    }

    /// `(field, wire type)`.
    fn tag(&mut self) -> Result<(u64, u64), String> {
        let t = self.varint()?;
        Ok((t >> 3, t & 7))
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed64().map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => {
                self.pos += 4;
                Ok(())
            }
            w => Err(format!("unknown wire type {w}")),
        }
    }
}

/// Decodes a `prometheus.WriteRequest`.
pub fn decode_write_request(b: &[u8]) -> Result<Vec<Series>, String> {
    let mut r = Reader { b, pos: 0 };
    let mut out = Vec::new();
    while !r.done() {
        match r.tag()? {
            (1, 2) => out.push(decode_series(r.bytes()?)?),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(out)
}

fn decode_series(b: &[u8]) -> Result<Series, String> {
    let mut r = Reader { b, pos: 0 };
    let mut s = Series {
        labels: LabelSet::new(),
        samples: Vec::new(),
    };
    let mut last_name = String::new();
    while !r.done() {
        match r.tag()? {
            (1, 2) => {
                let mut l = Reader {
                    b: r.bytes()?,
                    pos: 0,
                };
                let (mut name, mut value) = (String::new(), String::new());
                while !l.done() {
                    match l.tag()? {
                        (1, 2) => name = utf8(l.bytes()?)?,
                        (2, 2) => value = utf8(l.bytes()?)?,
                        (_, w) => l.skip(w)?,
                    }
                }
                if name <= last_name && !last_name.is_empty() {
                    return Err(format!("labels not sorted: {last_name:?} before {name:?}"));
                }
                last_name = name.clone();
                s.labels.insert(name, value);
            }
            (2, 2) => {
                let mut m = Reader {
                    b: r.bytes()?,
                    pos: 0,
                };
                let (mut t, mut v) = (0i64, 0u64);
                while !m.done() {
                    match m.tag()? {
                        (1, 1) => v = m.fixed64()?,
                        (2, 0) => t = m.varint()? as i64,
                        (_, w) => m.skip(w)?,
                    }
                }
                s.samples.push((t, v));
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok(s)
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| format!("label is not UTF-8: {e}"))
}
