//! A protobuf message writer, enough to build `metrics.proto` messages field by field:
//! the bodies of the decoder's tests, of scrape tests' loopback targets and of the parse
//! benchmark. Fields are written in the order they are added; nested messages are written
//! whole ([`Message::message`]).

/// A message under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message(Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

impl Message {
    pub fn new() -> Self {
        Message(Vec::new())
    }

    /// A message from raw bytes (to write a malformed one on purpose).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Message(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn key(&mut self, field: u64, wire: u64) {
        put_varint(&mut self.0, (field << 3) | wire);
    }

    /// A varint field (`uint64`, `int64`, `uint32`, enums).
    pub fn varint(mut self, field: u64, v: u64) -> Self {
        self.key(field, 0);
        put_varint(&mut self.0, v);
        self
    }

    /// A zig-zag field (`sint32`, `sint64`).
    pub fn sint(self, field: u64, v: i64) -> Self {
        self.varint(field, zigzag(v))
    }

    pub fn double(mut self, field: u64, v: f64) -> Self {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(mut self, field: u64, b: &[u8]) -> Self {
        self.key(field, 2);
        put_varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    pub fn str(self, field: u64, s: &str) -> Self {
        self.bytes(field, s.as_bytes())
    }

    pub fn message(self, field: u64, m: Message) -> Self {
        self.bytes(field, &m.0)
    }

    pub fn packed_sint(self, field: u64, vs: &[i64]) -> Self {
        let mut p = Vec::new();
        for &v in vs {
            put_varint(&mut p, zigzag(v));
        }
        self.bytes(field, &p)
    }

    pub fn packed_double(self, field: u64, vs: &[f64]) -> Self {
        let p: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(field, &p)
    }
}

/// The delimited body: each message's length as a varint, then the message.
pub fn delimited(messages: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        put_varint(&mut out, m.0.len() as u64);
        out.extend_from_slice(&m.0);
    }
    out
}
