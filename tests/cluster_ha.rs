//! High availability with real processes: two or three `redline run` replicas, a fake
//! Kubernetes API server serving the Lease (tests/common/fake_lease.rs, with resourceVersion
//! and 409 semantics) and a webhook receiver that records every delivery, set up by
//! tests/common/ha.rs (Lease 2 s, renew deadline 1.5 s, retry period 0.5 s); replicas pull
//! each other's state every 500 ms (the default) unless a test says otherwise.

mod common;

use common::fake_http::{Answer, FakeReceiver, Recorded};
use common::fake_lease::FakeLeaseApi;
use common::ha::{has_row, sent_during_three_heartbeats, wait_for_state, wait_ready, Replicas};
use common::wait_for;
use std::time::Duration;

/// Two replicas on a fresh fake API server and receiver, once the first delivery to `path`
/// arrived: the server, the receiver, the replicas and that delivery.
async fn two_replicas(tag: &str, path: &str) -> (FakeLeaseApi, FakeReceiver, Replicas, Recorded) {
    let api = FakeLeaseApi::start(2).await;
    let sink = FakeReceiver::start().await;
    let replicas = Replicas::start(tag, &api, &sink, "1s");
    let first = sink
        .wait_for(path, 1, Duration::from_secs(60))
        .await
        .remove(0);
    (api, sink, replicas, first)
}

fn firing(reqs: &[Recorded]) -> Vec<&Recorded> {
    reqs.iter()
        .filter(|r| r.json()["status"] == "firing")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_page_once_with_one_idempotency_key() {
    let (api, sink, replicas, first) = two_replicas("once", "/team").await;
    let sender = replicas.sender(&first);
    // The sender is the replica the Lease names.
    let lease = api
        .lease("monitoring", "redline-notifications")
        .expect("the Lease was created");
    assert_eq!(lease["spec"]["holderIdentity"], format!("r{sender}"));
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 2);

    // The idempotency key: the header and the payload field agree, 64 hex digits.
    let key = first
        .header("Idempotency-Key")
        .expect("an Idempotency-Key header")
        .to_string();
    assert_eq!(first.json()["idempotencyKey"], key.as_str());
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));

    // Control: the Control alert, flushed on the same group_interval with a 1 s
    // repeat_interval, is sent three more times; every flush that could have sent AlwaysOn
    // again (from either replica) happened meanwhile.
    let before = sink.requests_to("/control").len();
    sink.wait_for("/control", before + 3, Duration::from_secs(60))
        .await;
    let team = sink.requests_to("/team");
    assert_eq!(
        team.len(),
        1,
        "AlwaysOn paged exactly once by two replicas, got {:#?}",
        team
    );
    // The other replica holds the same group, ready to take over, and says it does not send.
    let other = 1 - sender;
    let groups = common::get_json(&format!(
        "{}/api/v2/alerts/groups",
        replicas.external_url(other)
    ))
    .await;
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["alerts"].as_array().unwrap())
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect();
    assert!(names.contains(&"AlwaysOn"), "standby groups: {groups}");
    let status = replicas.status(other).await;
    assert_eq!(status["cluster"]["name"], format!("r{other}"));
    assert_eq!(
        status["cluster"]["redline_lease"]["holder"],
        format!("r{sender}")
    );
    assert_eq!(status["cluster"]["redline_lease"]["is_holder"], false);
    let status = replicas.status(sender).await;
    assert_eq!(status["cluster"]["redline_lease"]["is_holder"], true);
    assert_eq!(status["cluster"]["status"], "ready");
    assert_eq!(
        status["cluster"]["peers"][0]["address"],
        replicas.external_url(other)
    );
    assert_eq!(
        replicas
            .metric(sender, "redline_cluster_lease_holder")
            .await,
        Some(1.0)
    );
    assert_eq!(
        replicas.metric(other, "redline_cluster_lease_holder").await,
        Some(0.0)
    );
    assert_eq!(
        replicas
            .metric(other, "redline_cluster_lease_transitions")
            .await,
        Some(0.0)
    );
    let pulled = replicas
        .metric(
            other,
            &format!(
                "redline_cluster_peer_last_pull_timestamp_seconds{{peer=\"{}\"}}",
                replicas.external_url(sender)
            ),
        )
        .await
        .expect("the standby pulled from the holder");
    let now = redline::timefmt::now_ms() as f64 / 1000.0;
    assert!((now - pulled).abs() < 5.0, "last pull {pulled}, now {now}");
    // The dashboard says who sends, on both replicas.
    let page = |i: usize| {
        let url = format!("{}/alerts", replicas.external_url(i));
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    assert!(page(sender).await.contains(&format!(
        "This replica (r{sender}) holds the Lease and sends the notifications."
    )));
    assert!(page(other).await.contains(&format!(
        "Replica r{sender} holds the Lease and sends the notifications; this replica (r{other}) stands by."
    )));
    // Every delivery, control included, came from the holder.
    assert!(sink.requests().iter().all(|r| replicas.sender(r) == sender));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_cut_off_from_the_api_server_stops_before_the_other_sends() {
    let (api, sink, replicas, first) = two_replicas("fence", "/control").await;
    let old = replicas.sender(&first);
    let new = 1 - old;
    api.set_reachable(old, false);
    // The other replica takes the Lease once it expired and sends (the Control alert repeats
    // every second, so it is due at once).
    let took_over = wait_for(
        "a delivery from the other replica",
        Duration::from_secs(60),
        || {
            let reqs = sink.requests();
            reqs.iter()
                .position(|r| replicas.sender(r) == new)
                .map(|i| (i, reqs))
        },
    )
    .await;
    let (first_new, reqs) = took_over;
    // Never two senders: nothing from the old holder after the new one's first delivery.
    let late: Vec<&Recorded> = reqs[first_new..]
        .iter()
        .filter(|r| replicas.sender(r) == old)
        .collect();
    assert!(late.is_empty(), "the cut-off holder still sent: {late:#?}");
    // Control: the old holder was sending before the cut.
    assert!(!firing(&reqs[..first_new]).is_empty());
    // Some more deliveries later, still only the new holder sends.
    let n = sink.requests().len();
    wait_for("two more deliveries", Duration::from_secs(60), || {
        (sink.requests().len() >= n + 2).then_some(())
    })
    .await;
    let reqs = sink.requests();
    assert!(reqs[first_new..].iter().all(|r| replicas.sender(r) == new));
    // The Lease passed once, to the new holder.
    let lease = api.lease("monitoring", "redline-notifications").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], format!("r{new}"));
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    let status = replicas.status(old).await;
    assert_eq!(status["cluster"]["redline_lease"]["is_holder"], false);
    assert!(
        status["cluster"]["redline_lease"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("redline-notifications")),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_set_on_the_standby_mutes_the_holder() {
    let (_api, sink, replicas, first) = two_replicas("silence", "/control").await;
    let holder = replicas.sender(&first);
    let standby = 1 - holder;
    let id = create_silence(
        &replicas.external_url(standby),
        "Control",
        "set on the standby",
    )
    .await;
    // Visible on the holder within a second or two (by the same id), and in force there.
    let holder_url = replicas.external_url(holder);
    let visible = std::time::Instant::now();
    let mut seen = false;
    while visible.elapsed() < Duration::from_secs(30) {
        let silences = common::get_json(&format!("{holder_url}/api/v2/silences")).await;
        if silences
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the silence never reached the holder");
    let lag = visible.elapsed();
    assert!(lag < Duration::from_secs(2), "replicated in {lag:?}");
    let alerts = common::get_json(&format!(
        "{holder_url}/api/v2/alerts?filter=alertname%3D%22Control%22"
    ))
    .await;
    assert_eq!(alerts[0]["status"]["state"], "suppressed", "{alerts}");
    assert_eq!(alerts[0]["status"]["silencedBy"][0], id.as_str());
    // Once a heartbeat (repeated every second on the same group_interval) was sent after the
    // silence arrived, no Control notification follows, while three more heartbeats do.
    assert_eq!(
        sent_during_three_heartbeats(&sink, "/control").await,
        0,
        "the holder kept sending a silenced alert"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_the_holder_and_the_other_takes_over_without_repeating() {
    let (api, sink, mut replicas, first) = two_replicas("kill9", "/team").await;
    let old = replicas.sender(&first);
    let new = 1 - old;
    // The standby has the holder's log entry for AlwaysOn (what it serves its own peers).
    wait_for_state(&replicas, new, "the holder's log entry", |s| {
        has_row(s, "nflog", "team")
    })
    .await;
    let mut holder = replicas.procs[old].take().unwrap();
    holder.0.kill().expect("SIGKILL");
    let _ = holder.0.wait();
    // The other replica takes over: its heartbeats arrive.
    wait_for(
        "a heartbeat from the new holder",
        Duration::from_secs(60),
        || {
            sink.requests_to("/heartbeat")
                .iter()
                .any(|r| replicas.sender(r) == new)
                .then_some(())
        },
    )
    .await;
    // Three more heartbeats from the new holder: its flushes ran, and AlwaysOn, delivered
    // once by the old holder with a 1h repeat_interval, was not sent again.
    let hb = sink.requests_to("/heartbeat").len();
    sink.wait_for("/heartbeat", hb + 3, Duration::from_secs(60))
        .await;
    let team = sink.requests_to("/team");
    assert_eq!(
        team.len(),
        1,
        "AlwaysOn repeated after the failover: {team:#?}"
    );
    // The dead peer's calls fail, and /metrics counts them.
    let failed = replicas
        .metric(
            new,
            &format!(
                "redline_cluster_peer_calls_failed_total{{peer=\"{}\"}}",
                replicas.external_url(old)
            ),
        )
        .await;
    assert!(
        failed.is_some_and(|f| f >= 1.0),
        "failed peer calls: {failed:?}"
    );
    let lease = api.lease("monitoring", "redline-notifications").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], format!("r{new}"));
}

/// The window the idempotency key is for: the holder's delivery is acknowledged but the other
/// replica has not pulled the log entry when the holder dies. Provoked by giving r1 a 1h
/// replication interval (it pulls only while catching up at start) and by failing r0's first
/// attempts until r1 has caught up. The notification then arrives twice, with one key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_but_not_replicated_repeats_once_with_the_same_key() {
    let api = FakeLeaseApi::start(2).await;
    let sink = FakeReceiver::start().await;
    sink.answer("/team", Answer::new(503, "text/plain", "not yet"));
    let mut replicas = Replicas::prepare("window", &api, &sink, &["500ms", "1h"], "1s");
    replicas.start_one(0);
    // r0 holds the Lease and tries to page (refused, so nothing is logged yet).
    sink.wait_for("/team", 1, Duration::from_secs(60)).await;
    replicas.start_one(1);
    wait_ready(&replicas, 1).await;
    let refused = sink.requests_to("/team").len();
    sink.answer("/team", Answer::new(200, "text/plain", "ok"));
    let acked = sink
        .wait_for("/team", refused + 1, Duration::from_secs(60))
        .await
        .remove(refused);
    assert_eq!(replicas.sender(&acked), 0);
    let mut holder = replicas.procs[0].take().unwrap();
    holder.0.kill().expect("SIGKILL");
    let _ = holder.0.wait();
    // r1 takes over and, without r0's log entry, pages again.
    let again = wait_for("the new holder's page", Duration::from_secs(60), || {
        sink.requests_to("/team")
            .into_iter()
            .find(|r| replicas.sender(r) == 1)
    })
    .await;
    let key = acked.header("Idempotency-Key").expect("a key").to_string();
    assert_eq!(again.header("Idempotency-Key"), Some(key.as_str()));
    assert_eq!(again.json()["idempotencyKey"], key.as_str());
    assert_eq!(again.json()["groupKey"], acked.json()["groupKey"]);
    // The refused attempts carried the same key too: one notification, one key.
    for r in &sink.requests_to("/team")[..refused] {
        assert_eq!(r.header("Idempotency-Key"), Some(key.as_str()));
    }
}

/// A clean shutdown (SIGTERM) hands the Lease back at once (client-go's ReleaseOnCancel:
/// empty holder, 1 s), so the other replica takes it without waiting for it to expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_lease_to_the_other_replica() {
    let (api, sink, mut replicas, first) = two_replicas("release", "/control").await;
    let old = replicas.sender(&first);
    let new = 1 - old;
    let mut holder = replicas.procs[old].take().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &holder.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exited = holder.0.wait().expect("the holder exits");
    assert!(exited.success(), "{exited:?}");
    let writes = api.writes();
    let release = writes
        .iter()
        .rposition(|w| w.listener == old)
        .map(|i| writes[i].clone())
        .expect("the old holder wrote the Lease");
    assert_eq!(
        release.holder, "",
        "the last write of the old holder releases the Lease"
    );
    let lease = api.lease("monitoring", "redline-notifications").unwrap();
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 1);
    // The other replica takes it: one more transition, and it sends.
    let taken = wait_for(
        "the other replica takes the Lease",
        Duration::from_secs(60),
        || {
            api.writes()
                .into_iter()
                .find(|w| w.listener == new && w.holder == format!("r{new}"))
        },
    )
    .await;
    assert_eq!(taken.transitions, release.transitions + 1);
    wait_for(
        "a delivery from the new holder",
        Duration::from_secs(60),
        || {
            sink.requests()
                .iter()
                .any(|r| replicas.sender(r) == new)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_takes_over_once_after_kill_9() {
    let api = FakeLeaseApi::start(3).await;
    let sink = FakeReceiver::start().await;
    let mut replicas = Replicas::start("three", &api, &sink, "1s");
    let first = sink
        .wait_for("/team", 1, Duration::from_secs(60))
        .await
        .remove(0);
    let old = replicas.sender(&first);
    let others: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    for &i in &others {
        wait_for_state(&replicas, i, "the holder's log entry", |s| {
            has_row(s, "nflog", "team")
        })
        .await;
    }
    let mut holder = replicas.procs[old].take().unwrap();
    holder.0.kill().expect("SIGKILL");
    let _ = holder.0.wait();
    let heartbeats_before = sink.requests_to("/heartbeat").len();
    let new = wait_for(
        "a heartbeat from a new holder",
        Duration::from_secs(60),
        || {
            sink.requests_to("/heartbeat")[heartbeats_before..]
                .iter()
                .map(|r| replicas.sender(r))
                .find(|s| *s != old)
        },
    )
    .await;
    // Three more heartbeats: all of them, since the kill, from that one replica, and
    // AlwaysOn (1h repeat_interval) was not paged again.
    let hb = sink.requests_to("/heartbeat").len();
    sink.wait_for("/heartbeat", hb + 3, Duration::from_secs(60))
        .await;
    let senders: std::collections::BTreeSet<usize> = sink.requests_to("/heartbeat")
        [heartbeats_before..]
        .iter()
        .map(|r| replicas.sender(r))
        .filter(|s| *s != old)
        .collect();
    assert_eq!(senders, [new].into(), "more than one replica took over");
    let team = sink.requests_to("/team");
    assert_eq!(
        team.len(),
        1,
        "AlwaysOn repeated after the failover: {team:#?}"
    );
    // The Lease's holder changed once: from the killed replica to the new one.
    let lease = api.lease("monitoring", "redline-notifications").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], format!("r{new}"));
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    let mut holders: Vec<String> = api.writes().into_iter().map(|w| w.holder).collect();
    holders.dedup();
    assert_eq!(holders, [format!("r{old}"), format!("r{new}")]);
}

/// The holder is killed while its page is in flight (the receiver holds the request open).
/// The page was pending on the holder, the standby saw it pending, and after the takeover
/// the new holder sends it at once — within the Lease's duration plus one retry period of
/// the kill, long before AlwaysOn's next group flush 30 s on — with the same idempotency key,
/// and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_a_page_in_flight_the_new_holder_sends_it_at_once() {
    let api = FakeLeaseApi::start(2).await;
    let sink = FakeReceiver::start().await;
    let _held = sink.hold_next("/team");
    let mut replicas = Replicas::start("inflight", &api, &sink, "30s");
    let in_flight = sink
        .wait_for("/team", 1, Duration::from_secs(60))
        .await
        .remove(0);
    let old = replicas.sender(&in_flight);
    let new = 1 - old;
    // The page is pending on the holder, and the standby has it from there.
    wait_for_state(&replicas, old, "the page pending", |s| {
        has_row(s, "pending", "team")
    })
    .await;
    let nflog_empty = |s: &serde_json::Value| !has_row(s, "nflog", "team");
    let standby_url = format!("{}/api/cluster/v1/state", replicas.external_url(new));
    // Wait until the standby pulled the holder's state after the holder showed it pending.
    let shown = redline::timefmt::now_ms() as f64 / 1000.0;
    let series = format!(
        "redline_cluster_peer_last_pull_timestamp_seconds{{peer=\"{}\"}}",
        replicas.external_url(old)
    );
    // A pull that ended after `shown` may have been answered before it; the one after it
    // was asked after it.
    let first = wait_for_pull(&replicas, new, &series, shown).await;
    wait_for_pull(&replicas, new, &series, first).await;
    assert!(nflog_empty(&common::get_json(&standby_url).await));
    assert_eq!(sink.requests_to("/team").len(), 1);
    let mut holder = replicas.procs[old].take().unwrap();
    holder.0.kill().expect("SIGKILL");
    let _ = holder.0.wait();
    let killed = std::time::Instant::now();
    let again = wait_for("the new holder's page", Duration::from_secs(60), || {
        sink.requests_to("/team")
            .into_iter()
            .find(|r| replicas.sender(r) == new)
    })
    .await;
    let after = killed.elapsed();
    // Lease duration 2 s + retry period 500 ms, plus 1.5 s for the machine.
    assert!(
        after < Duration::from_secs(4),
        "the new holder sent the pending page {after:?} after the kill (its own group \
         flushes only every 30 s)"
    );
    let key = in_flight.header("Idempotency-Key").expect("a key");
    assert_eq!(again.header("Idempotency-Key"), Some(key));
    assert_eq!(again.json()["idempotencyKey"], key);
    assert_eq!(again.json()["groupKey"], in_flight.json()["groupKey"]);
    // Nothing repeats: three more heartbeats from the new holder, still two pages.
    let hb = sink.requests_to("/heartbeat").len();
    sink.wait_for("/heartbeat", hb + 3, Duration::from_secs(60))
        .await;
    let team = sink.requests_to("/team");
    assert_eq!(team.len(), 2, "the page repeated: {team:#?}");
    wait_for_state(
        &replicas,
        new,
        "the page logged and no longer pending",
        |s| has_row(s, "nflog", "team") && !has_row(s, "pending", "team"),
    )
    .await;
}

/// Waits until replica `i`'s `/metrics` sample `series` is later than `after`; returns it.
async fn wait_for_pull(replicas: &Replicas, i: usize, series: &str, after: f64) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(t) = replicas.metric(i, series).await.filter(|t| *t > after) {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica r{i} never pulled again ({series})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a silence of `alertname` through replica `url`'s Alertmanager API; its id.
async fn create_silence(url: &str, alertname: &str, comment: &str) -> String {
    redline::install_crypto_provider();
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/v2/silences"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&serde_json::json!({
            "matchers": [{"name": "alertname", "value": alertname, "isRegex": false, "isEqual": true}],
            "startsAt": common::am_differential::now_rfc3339(),
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "test",
            "comment": comment,
        }))
        .unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    body["silenceID"].as_str().unwrap().to_string()
}

/// A replica that was down while a silence was set and a page was delivered catches up from
/// its peer when it starts again: once it reports itself ready it lists the silence and
/// holds the log entry, and the page is not sent again. (That it pulls before joining the
/// election is not told apart here from its first regular pull, which follows at once.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_catches_up_on_what_it_missed() {
    let (_api, sink, mut replicas, first) = two_replicas("restart", "/team").await;
    let holder = replicas.sender(&first);
    let standby = 1 - holder;
    let mut down = replicas.procs[standby].take().unwrap();
    down.0.kill().expect("SIGKILL");
    let _ = down.0.wait();
    let id = create_silence(
        &replicas.external_url(holder),
        "Control",
        "set while the other replica was down",
    )
    .await;
    replicas.start_one(standby);
    wait_ready(&replicas, standby).await;
    let silences = common::get_json(&format!(
        "{}/api/v2/silences",
        replicas.external_url(standby)
    ))
    .await;
    assert!(
        silences
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str()),
        "the restarted replica lacks the silence set while it was down: {silences}"
    );
    wait_for_state(&replicas, standby, "the holder's log entry", |s| {
        has_row(s, "nflog", "team")
    })
    .await;
    assert_eq!(sink.requests_to("/team").len(), 1, "AlwaysOn paged again");
}
