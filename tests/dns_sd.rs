//! `dns_sd_configs` end to end: redline discovers targets from a DNS server on loopback
//! started by the test, a small UDP and TCP responder written here (its own encoder,
//! independent of redline's decoder), and the test reads `/api/v1/targets` as a user would.
//! redline is pointed at it through `DiscoveryOptions::dns_resolver` in process, and through
//! `--discovery.dns-resolv-conf`/`--discovery.dns-port` for the binary. Expected labels are
//! Prometheus' (`discovery/dns`), written out by hand.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::discovery::{
    addresses, counter, discovered, job, labels, start, tempdir, wait_targets,
};
use redline::scrape::discovery::dns::ResolverConfig;
use redline::scrape::discovery::DiscoveryOptions;

// ---------------------------------------------------------------------------------------------
// dns_sd

/// The DNS server's zone: answers by (lowercase name with final dot, qtype), rcode for names
/// it does not know (NXDOMAIN) or that are set to fail (SERVFAIL).
#[derive(Default)]
struct Zone {
    answers: HashMap<(String, u16), Vec<Rdata>>,
    servfail: Vec<String>,
    /// Names whose UDP answer is truncated (TC set, no records); TCP answers in full.
    truncate_udp: Vec<String>,
    /// (name, qtype, over TCP) of every query.
    queries: Vec<(String, u16, bool)>,
}

/// An answer record's type and data.
type Rdata = (u16, Vec<u8>);

const A: u16 = 1;
const NS: u16 = 2;
const MX: u16 = 15;
const AAAA: u16 = 28;
const SRV: u16 = 33;
const CNAME: u16 = 5;

fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.trim_end_matches('.').split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

fn srv(prio: u16, weight: u16, port: u16, target: &str) -> Rdata {
    let mut d = Vec::new();
    for v in [prio, weight, port] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend(wire_name(target));
    (SRV, d)
}

fn a(ip: [u8; 4]) -> Rdata {
    (A, ip.to_vec())
}

/// Answers one query from `zone` (RFC 1035 layout: header, the question echoed, answers with
/// a pointer to the question's name).
fn respond(zone: &Mutex<Zone>, q: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let mut pos = 12;
    let mut name = String::new();
    loop {
        let l = *q.get(pos)? as usize;
        if l == 0 {
            break;
        }
        name.push_str(&String::from_utf8_lossy(q.get(pos + 1..pos + 1 + l)?).to_lowercase());
        name.push('.');
        pos += 1 + l;
    }
    let qtype = u16::from_be_bytes([*q.get(pos + 1)?, *q.get(pos + 2)?]);
    let question = q.get(12..pos + 5)?;
    let mut z = zone.lock().expect("lock");
    z.queries.push((name.clone(), qtype, tcp));
    let truncated = !tcp && z.truncate_udp.contains(&name);
    let (rcode, answers) = if z.servfail.contains(&name) {
        (2u8, Vec::new())
    } else if let Some(a) = z.answers.get(&(name.clone(), qtype)).filter(|_| !truncated) {
        (0, a.clone())
    } else if truncated || z.answers.keys().any(|(n, _)| *n == name) {
        (0, Vec::new())
    } else {
        (3, Vec::new())
    };
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]);
    r.extend_from_slice(&[if truncated { 0x83 } else { 0x81 }, 0x80 | rcode]);
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(question);
    for (t, data) in answers {
        r.extend_from_slice(&[0xC0, 0x0C]);
        r.extend_from_slice(&t.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&30u32.to_be_bytes());
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    Some(r)
}

/// A UDP and a TCP listener on one loopback port, answering from `zone`.
async fn dns_server(zone: Arc<Mutex<Zone>>) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind udp");
    let addr = sock.local_addr().expect("addr");
    let tcp = tokio::net::TcpListener::bind(addr).await.expect("bind tcp");
    let tcp_zone = zone.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = tcp.accept().await {
            let zone = tcp_zone.clone();
            tokio::spawn(async move {
                let Ok(len) = conn.read_u16().await else {
                    return;
                };
                let mut q = vec![0u8; len as usize];
                if conn.read_exact(&mut q).await.is_err() {
                    return;
                }
                if let Some(r) = respond(&zone, &q, true) {
                    let mut framed = (r.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&r);
                    let _ = conn.write_all(&framed).await;
                }
            });
        }
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if let Some(r) = respond(&zone, &buf[..n], false) {
                let _ = sock.send_to(&r, from).await;
            }
        }
    });
    addr
}

/// SRV, A (through the search list), AAAA, MX and NS names become targets with Prometheus'
/// `__meta_dns_*` labels; a changed record set changes the targets; a name whose server
/// fails keeps its targets while a name that no longer exists (NXDOMAIN) loses them; a
/// truncated UDP answer is retried over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_sd_follows_the_records_of_a_loopback_server() {
    redline::install_crypto_provider();
    let zone = Arc::new(Mutex::new(Zone::default()));
    {
        let mut z = zone.lock().expect("lock");
        z.answers.insert(
            ("_metrics._tcp.svc.example.".into(), SRV),
            vec![
                srv(10, 5, 9100, "node-1.svc.example"),
                srv(10, 5, 9101, "node-2.svc.example"),
            ],
        );
        // "web" has one dot fewer than ndots: the search domain is tried first.
        z.answers.insert(
            ("web.corp.example.".into(), A),
            vec![(CNAME, wire_name("web-lb.corp.example")), a([127, 0, 0, 7])],
        );
        let mut v6 = vec![0u8; 16];
        v6[0] = 0xfd;
        v6[15] = 0x42;
        z.answers
            .insert(("web6.example.".into(), AAAA), vec![(AAAA, v6)]);
        let mut mx = 10u16.to_be_bytes().to_vec();
        mx.extend(wire_name("mail.example"));
        z.answers.insert(("example.".into(), MX), vec![(MX, mx)]);
        z.answers.insert(
            ("example.".into(), NS),
            vec![(NS, wire_name("ns1.example"))],
        );
        // Too large for UDP: only TCP has the records.
        z.answers.insert(
            ("_big._tcp.svc.example.".into(), SRV),
            (1..=40)
                .map(|i| srv(0, 0, 9000 + i, &format!("replica-{i}.svc.example")))
                .collect(),
        );
        z.truncate_udp = vec!["_big._tcp.svc.example.".into()];
    }
    let server = dns_server(zone.clone()).await;
    let dir = tempdir("dns");
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "# the test's DNS server\nnameserver 127.0.0.1\nsearch corp.example\noptions ndots:1\n",
    )
    .expect("resolv.conf");
    let opts = DiscoveryOptions {
        dns_resolver: ResolverConfig {
            resolv_conf: resolv,
            port: server.port(),
        },
        ..DiscoveryOptions::default()
    };
    let sink: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .expect("addr");
    let sd = |entry: &str| format!("dns_sd_configs:\n      - {entry}");
    let yaml = format!(
        "scrape_configs:\n{}{}{}{}{}{}",
        job(
            "srv",
            &sd("{names: ['_metrics._tcp.svc.example'], refresh_interval: 200ms}"),
            sink
        ),
        job(
            "a",
            &sd("{names: [web, gone.example], type: A, port: 9100, refresh_interval: 200ms}"),
            sink
        ),
        job(
            "aaaa",
            &sd("{names: [web6.example], type: AAAA, port: 9100}"),
            sink
        ),
        job("mx", &sd("{names: [example], type: mx, port: 25}"), sink),
        job("ns", &sd("{names: [example], type: NS, port: 53}"), sink),
        job("big", &sd("{names: ['_big._tcp.svc.example']}"), sink),
    );
    let svc = start(&yaml, "dns-state", opts).await;

    let name = ("__meta_dns_name", "_metrics._tcp.svc.example");
    let t = wait_targets(&svc, "srv", "two SRV targets", |t| t.len() == 2).await;
    assert_eq!(
        t,
        vec![
            labels(
                &[
                    ("__address__", "node-1.svc.example:9100"),
                    name,
                    ("__meta_dns_srv_record_target", "node-1.svc.example."),
                    ("__meta_dns_srv_record_port", "9100"),
                ],
                "srv"
            ),
            labels(
                &[
                    ("__address__", "node-2.svc.example:9101"),
                    name,
                    ("__meta_dns_srv_record_target", "node-2.svc.example."),
                    ("__meta_dns_srv_record_port", "9101"),
                ],
                "srv"
            ),
        ]
    );
    let t = wait_targets(&svc, "a", "the A record", |t| t.len() == 1).await;
    assert_eq!(
        t,
        vec![labels(
            &[
                ("__address__", "127.0.0.7:9100"),
                ("__meta_dns_name", "web")
            ],
            "a"
        )]
    );
    let t = wait_targets(&svc, "aaaa", "the AAAA record", |t| t.len() == 1).await;
    assert_eq!(
        t,
        vec![labels(
            &[
                ("__address__", "[fd00::42]:9100"),
                ("__meta_dns_name", "web6.example")
            ],
            "aaaa"
        )]
    );
    let t = wait_targets(&svc, "mx", "the MX record", |t| t.len() == 1).await;
    assert_eq!(
        t,
        vec![labels(
            &[
                ("__address__", "mail.example:25"),
                ("__meta_dns_name", "example"),
                ("__meta_dns_mx_record_target", "mail.example."),
            ],
            "mx"
        )]
    );
    let t = wait_targets(&svc, "ns", "the NS record", |t| t.len() == 1).await;
    assert_eq!(
        t,
        vec![labels(
            &[
                ("__address__", "ns1.example:53"),
                ("__meta_dns_name", "example"),
                ("__meta_dns_ns_record_target", "ns1.example."),
            ],
            "ns"
        )]
    );
    // A truncated UDP answer is asked again over TCP.
    let t = wait_targets(&svc, "big", "40 SRV targets over TCP", |t| t.len() == 40).await;
    assert!(t
        .iter()
        .any(|t| t["__address__"] == "replica-40.svc.example:9040"));
    {
        let z = zone.lock().expect("lock");
        let big: Vec<bool> = z
            .queries
            .iter()
            .filter(|(n, _, _)| n == "_big._tcp.svc.example.")
            .map(|(_, _, tcp)| *tcp)
            .collect();
        assert_eq!(
            big.get(..2),
            Some(&[false, true][..]),
            "UDP first, then TCP"
        );
        let web: Vec<&String> = z
            .queries
            .iter()
            .filter(|(n, t, _)| n.starts_with("web.") && *t == A)
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(web.first().map(|s| s.as_str()), Some("web.corp.example."));
    }

    // The SRV set changes: one target goes, another comes.
    zone.lock().expect("lock").answers.insert(
        ("_metrics._tcp.svc.example.".into(), SRV),
        vec![srv(10, 5, 9102, "node-3.svc.example")],
    );
    wait_targets(&svc, "srv", "the new SRV set", |t| {
        t.len() == 1 && t[0]["__address__"] == "node-3.svc.example:9102"
    })
    .await;

    // SERVFAIL for web's names keeps its target; the control is gone.example (NXDOMAIN from
    // the start) never having one, and a new A record for it appearing.
    let since = {
        let mut z = zone.lock().expect("lock");
        z.servfail = vec!["web.corp.example.".into(), "web.".into()];
        z.queries.len()
    };
    common::wait_for("web queried twice more", Duration::from_secs(20), || {
        let z = zone.lock().expect("lock");
        (z.queries[since..]
            .iter()
            .filter(|(n, _, _)| n == "web.corp.example.")
            .count()
            >= 2)
            .then_some(())
    })
    .await;
    let t = discovered(&svc, "a").await;
    assert_eq!(addresses(&t), ["127.0.0.7:9100"]);
    assert!(counter(&svc, "redline_sd_dns_lookup_failures_total").await >= 2);
    assert!(counter(&svc, "redline_sd_dns_lookups_total").await >= 10);
    zone.lock()
        .expect("lock")
        .answers
        .insert(("gone.example.".into(), A), vec![a([127, 0, 0, 8])]);
    let t = wait_targets(&svc, "a", "gone.example resolving", |t| t.len() == 2).await;
    assert_eq!(addresses(&t), ["127.0.0.7:9100", "127.0.0.8:9100"]);
    // web now answers NXDOMAIN everywhere: its target goes.
    {
        let mut z = zone.lock().expect("lock");
        z.servfail.clear();
        z.answers.remove(&("web.corp.example.".to_string(), A));
    }
    let t = wait_targets(&svc, "a", "web gone", |t| t.len() == 1).await;
    assert_eq!(addresses(&t), ["127.0.0.8:9100"]);
    svc.shutdown().await;
}

/// The binary takes its resolver from `--discovery.dns-resolv-conf` and
/// `--discovery.dns-port`, so a user (or this test) can name the DNS server dns_sd asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_asks_the_resolver_named_on_the_command_line() {
    redline::install_crypto_provider();
    let zone = Arc::new(Mutex::new(Zone::default()));
    zone.lock()
        .expect("lock")
        .answers
        .insert(("db.example.".into(), A), vec![a([127, 0, 0, 9])]);
    let server = dns_server(zone.clone()).await;
    let dir = tempdir("dns-cli");
    let resolv = dir.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").expect("resolv.conf");
    let sink: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .expect("addr");
    let config = dir.join("redline.yml");
    std::fs::write(
        &config,
        format!(
            "scrape_configs:\n{}",
            job(
                "db",
                "dns_sd_configs:\n      - {names: [db.example], type: A, port: 5432}",
                sink
            )
        ),
    )
    .expect("config");
    let port = common::free_port();
    let child = common::redline_run(&config, port, &dir.join("state"))
        .arg("--discovery.dns-resolv-conf")
        .arg(&resolv)
        .args(["--discovery.dns-port", &server.port().to_string()])
        .spawn()
        .expect("start redline run");
    let _guard = common::ProcessGuard(child);
    let url = format!("http://127.0.0.1:{port}/api/v1/targets");
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = match reqwest::get(&url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if body.contains("\"__address__\":\"127.0.0.9:5432\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "no target from the named resolver; last answer: {body}; queries: {:?}",
            zone.lock().expect("lock").queries
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
