//! `dns_sd_configs`: targets from DNS records (SRV, A, AAAA, MX, NS), as Prometheus'
//! `discovery/dns` looks them up.
//!
//! Like Prometheus (which uses miekg/dns, not the system resolver), redline reads the resolver
//! configuration itself ([`ResolverConfig`]: `/etc/resolv.conf` and port 53 by default, or
//! `redline run --discovery.dns-resolv-conf FILE --discovery.dns-port N`; its `nameserver`,
//! `search`/`domain` and `options ndots:`), expands each name with the search list as
//! `ClientConfig.NameList` does, and asks the servers in order: UDP with EDNS0 first, TCP when
//! the answer is truncated. The first search name answered `NOERROR` wins; when every search
//! name is answered `NXDOMAIN` the name has no targets; otherwise the lookup fails and the
//! name keeps its previous targets (logged).
//!
//! Each name is one group (source = the name) with one target per answer record: SRV at
//! `target:port`, MX/NS at `host:<port>`, A/AAAA at `ip:<port>`, CNAMEs skipped; labels
//! `__meta_dns_name` and, per type, `__meta_dns_srv_record_target`/`_port`,
//! `__meta_dns_mx_record_target`, `__meta_dns_ns_record_target` (the record's name as written,
//! with its final dot; the address drops it). The DNS client is the small one in this file:
//! one question, the five record types, name compression.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use ExchangeError::Malformed;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::metrics::DnsLookup;
use super::{BoxFuture, Discoverer};
use crate::config::discovery::{DnsRecordType, DnsSdConfig, TargetGroup, ADDRESS_LABEL};
use crate::store::Labels;

/// Where the resolver configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverConfig {
    /// A resolv.conf-format file. Default `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// The port the nameservers listen on. Default 53 (resolv.conf cannot name one).
    pub port: u16,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            port: 53,
        }
    }
}

/// The parts of resolv.conf a lookup uses.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resolv {
    servers: Vec<String>,
    search: Vec<String>,
    ndots: usize,
}

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("reading {path}: {source}")]
    ResolvConf {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Exchange(String),
    #[error("could not resolve {0}: no servers returned a viable answer")]
    NoViableAnswer(String),
    #[error(
        "could not resolve {0:?}: all servers responded with errors to at least one search domain"
    )]
    SearchFailed(String),
}

fn parse_resolv_conf(text: &str) -> Resolv {
    let mut r = Resolv {
        servers: Vec::new(),
        search: Vec::new(),
        ndots: 1,
    };
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => r.servers.extend(f.next().map(str::to_string)),
            Some("domain") => r.search = f.next().map(|d| vec![d.to_string()]).unwrap_or_default(),
            Some("search") => r.search = f.map(str::to_string).collect(),
            Some("options") => {
                for o in f {
                    if let Some(n) = o.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                        r.ndots = std::cmp::min(n, 15);
                    }
                }
            }
            _ => {}
        }
    }
    r
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// miekg/dns `ClientConfig.NameList`: the names to try, in order.
fn name_list(r: &Resolv, name: &str) -> Vec<String> {
    if name.ends_with('.') {
        return vec![name.to_string()];
    }
    let labels = name.split('.').filter(|l| !l.is_empty()).count();
    let has_ndots = labels > r.ndots;
    let name = fqdn(name);
    let mut out = Vec::new();
    if has_ndots {
        out.push(name.clone());
    }
    for s in &r.search {
        out.push(fqdn(&format!("{name}{s}")));
    }
    if !has_ndots {
        out.push(name);
    }
    out
}

/// One answer record of a type discovery uses.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Record {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv { port: u16, target: String },
    Mx(String),
    Ns(String),
    Other,
}

/// A decoded response: its rcode, truncation bit and answers.
#[derive(Debug, Default)]
struct Answer {
    rcode: u8,
    truncated: bool,
    records: Vec<Record>,
}

const NOERROR: u8 = 0;
const NXDOMAIN: u8 = 3;

fn qtype(t: DnsRecordType) -> u16 {
    match t {
        DnsRecordType::A => 1,
        DnsRecordType::Ns => 2,
        DnsRecordType::Mx => 15,
        DnsRecordType::Aaaa => 28,
        DnsRecordType::Srv => 33,
    }
}

fn encode_query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00]); // RD
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        m.push(bytes.len() as u8);
        m.extend_from_slice(bytes);
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // IN
    if edns {
        // OPT: root name, type 41, UDP size 4096 (miekg's DefaultMsgSize), no flags, no data.
        m.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    }
    m
}

/// Why one exchange with one DNS server failed.
#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("i/o timeout")]
    Timeout,
    #[error("answer to another query (id mismatch)")]
    IdMismatch,
    /// The answer cannot be decoded; the text says where it breaks.
    #[error("{0}")]
    Malformed(&'static str),
    #[error("got truncated message on TCP (64kiB limit exceeded?)")]
    TruncatedOverTcp,
}

impl From<tokio::time::error::Elapsed> for ExchangeError {
    fn from(_: tokio::time::error::Elapsed) -> Self {
        ExchangeError::Timeout
    }
}

/// Reads a (possibly compressed) name at `pos`, returning it with its final dot and the
/// position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), ExchangeError> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg
            .get(pos)
            .ok_or(Malformed("name runs past the message"))? as usize;
        match len {
            0 => {
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                let lo = *msg
                    .get(pos + 1)
                    .ok_or(Malformed("pointer runs past the message"))?
                    as usize;
                end.get_or_insert(pos + 2);
                pos = ((l & 0x3F) << 8) | lo;
            }
            l => {
                let label = msg
                    .get(pos + 1..pos + 1 + l)
                    .ok_or(Malformed("label runs past the message"))?;
                name.push_str(&String::from_utf8_lossy(label));
                name.push('.');
                pos += 1 + l;
            }
        }
    }
    Err(Malformed("too many labels or a compression loop"))
}

fn u16_at(msg: &[u8], pos: usize) -> Result<u16, ExchangeError> {
    msg.get(pos..pos + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(Malformed("message too short"))
}

fn decode_answer(msg: &[u8], id: u16) -> Result<Answer, ExchangeError> {
    if msg.len() < 12 {
        return Err(Malformed("message shorter than a header"));
    }
    if u16_at(msg, 0)? != id {
        return Err(ExchangeError::IdMismatch);
    }
    let mut a = Answer {
        rcode: msg[3] & 0x0F,
        truncated: msg[2] & 0x02 != 0,
        records: Vec::new(),
    };
    let (qd, an) = (u16_at(msg, 4)?, u16_at(msg, 6)?);
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos)?.1 + 4;
    }
    if a.truncated {
        return Ok(a);
    }
    for _ in 0..an {
        let (_, p) = read_name(msg, pos)?;
        let rtype = u16_at(msg, p)?;
        let rdlen = u16_at(msg, p + 8)? as usize;
        let rd = p + 10;
        let data = msg
            .get(rd..rd + rdlen)
            .ok_or(Malformed("record data runs past the message"))?;
        let rec = match (rtype, rdlen) {
            (1, 4) => Record::A(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
            (28, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                Record::Aaaa(Ipv6Addr::from(b))
            }
            (33, _) if rdlen >= 7 => Record::Srv {
                port: u16_at(msg, rd + 4)?,
                target: read_name(msg, rd + 6)?.0,
            },
            (15, _) if rdlen >= 3 => Record::Mx(read_name(msg, rd + 2)?.0),
            (2, _) => Record::Ns(read_name(msg, rd)?.0),
            _ => Record::Other,
        };
        a.records.push(rec);
        pos = rd + rdlen;
    }
    Ok(a)
}

/// How long one exchange with one server may take (miekg's default dial/read timeout).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);

async fn exchange_udp(server: SocketAddr, query: &[u8], id: u16) -> Result<Answer, ExchangeError> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await?;
        // A datagram for an older query on this socket cannot happen (fresh socket), but an
        // answer with the wrong id is not ours: keep waiting for the right one.
        match decode_answer(&buf[..n], id) {
            Err(ExchangeError::IdMismatch) => continue,
            other => return other,
        }
    }
}

async fn exchange_tcp(server: SocketAddr, query: &[u8], id: u16) -> Result<Answer, ExchangeError> {
    let mut s = tokio::net::TcpStream::connect(server).await?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    s.write_all(&framed).await?;
    let len = s.read_u16().await? as usize;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await?;
    decode_answer(&buf, id)
}

/// A query id that differs from query to query (clock nanoseconds mixed with a counter); the
/// answer must echo it.
fn query_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos as u16) ^ NEXT.fetch_add(0x9E37, Ordering::Relaxed)
}

/// `askServerForName`: UDP with EDNS0, then TCP without when the answer is truncated.
async fn ask(server: SocketAddr, name: &str, qt: u16) -> Result<Answer, ExchangeError> {
    let id = query_id();
    let udp = tokio::time::timeout(
        EXCHANGE_TIMEOUT,
        exchange_udp(server, &encode_query(id, name, qt, true), id),
    )
    .await??;
    if !udp.truncated {
        return Ok(udp);
    }
    let tcp = tokio::time::timeout(
        EXCHANGE_TIMEOUT,
        exchange_tcp(server, &encode_query(id, name, qt, false), id),
    )
    .await??;
    if tcp.truncated {
        return Err(ExchangeError::TruncatedOverTcp);
    }
    Ok(tcp)
}

/// `lookupFromAnyServer`: the first server that answers NOERROR or NXDOMAIN.
async fn ask_any(r: &Resolv, port: u16, name: &str, qt: u16) -> Result<Answer, DnsError> {
    for server in &r.servers {
        let host = server.split('%').next().unwrap_or(server);
        let addr = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => continue,
        };
        match ask(addr, name, qt).await {
            Ok(a) if a.rcode == NOERROR || a.rcode == NXDOMAIN => return Ok(a),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(server = %addr, name, error = %e, "dns_sd: DNS resolution failed");
            }
        }
    }
    Err(DnsError::NoViableAnswer(name.to_string()))
}

/// `lookupWithSearchPath`: the answer for `name`, an empty answer when every search name is
/// NXDOMAIN, an error when a search name could not be resolved at all.
async fn lookup(
    cfg: &ResolverConfig,
    name: &str,
    rt: DnsRecordType,
) -> Result<Vec<Record>, DnsError> {
    let text =
        std::fs::read_to_string(&cfg.resolv_conf).map_err(|source| DnsError::ResolvConf {
            path: cfg.resolv_conf.display().to_string(),
            source,
        })?;
    let r = parse_resolv_conf(&text);
    let mut all_valid = true;
    for lname in name_list(&r, name) {
        match ask_any(&r, cfg.port, &lname, qtype(rt)).await {
            Ok(a) if a.rcode == NOERROR => return Ok(a.records),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(name = %lname, error = %e, "dns_sd: lookup failed");
                all_valid = false;
            }
        }
    }
    if all_valid {
        Ok(Vec::new())
    } else {
        Err(DnsError::SearchFailed(name.to_string()))
    }
}

/// `net.JoinHostPort`.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The group of one name from its answer records (`refreshOne`).
fn group_of(name: &str, port: u16, records: &[Record]) -> TargetGroup {
    let mut targets = Vec::new();
    for rec in records {
        let mut t: Vec<(&str, String)> = vec![("__meta_dns_name", name.to_string())];
        let addr = match rec {
            Record::Srv { port, target } => {
                t.push(("__meta_dns_srv_record_target", target.clone()));
                t.push(("__meta_dns_srv_record_port", port.to_string()));
                host_port(target.trim_end_matches('.'), *port)
            }
            Record::Mx(host) => {
                t.push(("__meta_dns_mx_record_target", host.clone()));
                host_port(host.trim_end_matches('.'), port)
            }
            Record::Ns(host) => {
                t.push(("__meta_dns_ns_record_target", host.clone()));
                host_port(host.trim_end_matches('.'), port)
            }
            Record::A(ip) => host_port(&ip.to_string(), port),
            Record::Aaaa(ip) => host_port(&ip.to_string(), port),
            Record::Other => continue,
        };
        t.push((ADDRESS_LABEL, addr));
        targets.push(Labels::from_pairs(t));
    }
    TargetGroup {
        source: name.to_string(),
        targets,
        labels: Labels::empty(),
    }
}

/// Runs one entry, publishing its groups on `tx` until `tx` has no receiver. A name whose
/// lookup fails keeps the group it had.
pub async fn run_dns_sd(
    cfg: DnsSdConfig,
    resolver: ResolverConfig,
    tx: watch::Sender<Vec<TargetGroup>>,
) {
    let mut groups: Vec<Option<TargetGroup>> = vec![None; cfg.names.len()];
    let mut first = true;
    loop {
        let lookups = cfg
            .names
            .iter()
            .map(|n| lookup(&resolver, n, cfg.record_type));
        let results = futures_util::future::join_all(lookups).await;
        for (i, r) in results.into_iter().enumerate() {
            let name = &cfg.names[i];
            match r {
                Ok(records) => {
                    DnsLookup { name, error: None }.emit();
                    groups[i] = Some(group_of(name, cfg.port, &records));
                }
                Err(e) => DnsLookup {
                    name,
                    error: Some(&e),
                }
                .emit(),
            }
        }
        let now: Vec<TargetGroup> = groups.iter().flatten().cloned().collect();
        if first || *tx.borrow() != now {
            tx.send_replace(now);
        }
        first = false;
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(cfg.refresh_interval) => {}
        }
    }
}

/// [`run_dns_sd`] as a [`Discoverer`].
pub struct DnsDiscoverer {
    cfg: DnsSdConfig,
    resolver: ResolverConfig,
}

impl DnsDiscoverer {
    pub fn new(cfg: DnsSdConfig, resolver: ResolverConfig) -> DnsDiscoverer {
        DnsDiscoverer { cfg, resolver }
    }
}

impl Discoverer for DnsDiscoverer {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn run(self: Box<Self>, updates: watch::Sender<Vec<TargetGroup>>) -> BoxFuture {
        Box::pin(run_dns_sd(self.cfg, self.resolver, updates))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_expand_with_the_search_list_like_miekg() {
        let r = parse_resolv_conf(
            "# comment\nnameserver 10.96.0.10\nsearch monitoring.svc.cluster.local svc.cluster.local\noptions ndots:5\n",
        );
        assert_eq!(r.servers, vec!["10.96.0.10"]);
        assert_eq!(r.ndots, 5);
        assert_eq!(
            name_list(&r, "web"),
            vec![
                "web.monitoring.svc.cluster.local.",
                "web.svc.cluster.local.",
                "web."
            ]
        );
        assert_eq!(name_list(&r, "a.example.com."), vec!["a.example.com."]);
        let r = parse_resolv_conf("nameserver 127.0.0.1\nsearch corp\n");
        assert_eq!(
            name_list(&r, "_prom._tcp.example.com"),
            vec!["_prom._tcp.example.com.", "_prom._tcp.example.com.corp."]
        );
    }
}
