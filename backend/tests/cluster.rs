//! Several servers act as one chat: three real server processes share one throwaway
//! PostgreSQL, and clients on different servers (v1 and v2 sockets) must see one order,
//! one history, and lose nothing acknowledged when a server dies, when the database
//! restarts, or when a server's notification connection drops.
//!
//! "Acknowledged" means the sender's own socket got the message back (its echo, with its
//! `cid`): that is all a client ever learns about a send.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::cluster::{
    assert_strictly_increasing, chats_by_cid, events, id_of, lefts_of, lock, Client, Cluster,
    PRESENCE_WAIT,
};
use common::WAIT;
use shared::ServerBody;

/// Messages each sender sends in the plain chat test.
const PER_SENDER: usize = 20;

/// The socket query of client `i`: v1 and v2 sockets take turns.
fn query(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        ""
    } else {
        "?v=2"
    }
}

/// Signs in `names` (user `i` on server `i % servers`) and opens each one's socket on
/// that server, waiting until every socket saw every user's `join`.
async fn enter(cluster: &Cluster, names: &[&str]) -> Vec<Client> {
    let live: Vec<usize> = (0..cluster.servers.len())
        .filter(|&i| cluster.servers[i].is_some())
        .collect();
    let mut clients = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let server = live[i % live.len()];
        let (user, cookie) = cluster.signin(server, name).await;
        let label = format!("{name}@{server}{}", query(i));
        clients.push(Client::open(cluster.server(server), query(i), &user, &cookie, &label).await);
    }
    let users: Vec<u64> = clients.iter().map(|c| c.user.id).collect();
    for client in &clients {
        client
            .wait_for("everyone's join", WAIT, |tape| {
                let seen: BTreeSet<u64> = events(&tape.frames)
                    .iter()
                    .filter(|m| m.body.kind() == "join")
                    .map(|m| m.user.id)
                    .chain(tape.frames.iter().flat_map(|m| match &m.body {
                        ServerBody::List(list) => list.iter().map(|u| u.id).collect(),
                        _ => Vec::new(),
                    }))
                    .collect();
                users.iter().all(|u| seen.contains(u))
            })
            .await;
    }
    clients
}

/// Waits until `client` has received every chat line in `cids`.
async fn wait_for_chats(client: &Client, cids: &BTreeSet<String>, within: Duration) {
    let what = format!("{} chat lines", cids.len());
    client
        .wait_for(&what, within, |tape| {
            let got = chats_by_cid(&events(&tape.frames));
            cids.iter().all(|cid| got.contains_key(cid))
        })
        .await;
}

/// Every chat in `cids` arrived exactly once, with the id every other socket saw.
fn assert_once_each(client: &Client, cids: &BTreeSet<String>, ids: &mut BTreeMap<String, u64>) {
    let got = client.chats_by_cid();
    for cid in cids {
        let arrivals = got.get(cid).cloned().unwrap_or_default();
        assert_eq!(
            arrivals.len(),
            1,
            "{}: chat {cid} arrives exactly once, got ids {arrivals:?}",
            client.label
        );
        let id = *ids.entry(cid.clone()).or_insert(arrivals[0]);
        assert_eq!(
            id, arrivals[0],
            "{}: chat {cid} has one id everywhere",
            client.label
        );
    }
}

/// The chat ids in a stored history, by `cid`.
fn stored_chats(history: &[String]) -> BTreeMap<String, Vec<u64>> {
    let parsed: Vec<shared::ServerMessage> = history
        .iter()
        .map(|e| serde_json::from_str(e).expect("a stored event parses"))
        .collect();
    chats_by_cid(&parsed)
}

/// Every server serves the same stored history, byte for byte; returns it.
async fn same_history_everywhere(cluster: &Cluster, cookie: &str) -> Vec<String> {
    let mut first: Option<(usize, Vec<String>)> = None;
    for i in 0..cluster.servers.len() {
        if cluster.servers[i].is_none() {
            continue;
        }
        let history = cluster.full_history(i, cookie).await;
        let ids: Vec<u64> = history.iter().map(|e| id_of(e)).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "server {i}: stored ids strictly increase"
        );
        match &first {
            None => first = Some((i, history)),
            Some((j, other)) => assert!(
                *other == history,
                "servers {j} and {i} serve the same history ({} and {} events)",
                other.len(),
                history.len()
            ),
        }
    }
    first.map(|(_, h)| h).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_on_three_servers_see_every_message_once_in_one_order() {
    let cluster = Cluster::start(3).await;
    let names = ["ada", "bob", "cy", "dee", "eve", "fay"];
    let mut clients = enter(&cluster, &names).await;

    // Everyone sends at once, so the servers' writes interleave.
    let mut cids = BTreeSet::new();
    for n in 0..PER_SENDER {
        for (i, client) in clients.iter_mut().enumerate() {
            let cid = format!("{}-{n}", names[i]);
            client
                .send_chat(&format!("line {n} from {}", names[i]), &cid)
                .await;
            cids.insert(cid);
        }
    }
    let mut ids = BTreeMap::new();
    for client in &clients {
        wait_for_chats(client, &cids, WAIT).await;
        client.assert_in_order();
        assert_once_each(client, &cids, &mut ids);
    }

    let history = same_history_everywhere(&cluster, &clients[0].cookie).await;
    let stored = stored_chats(&history);
    for (cid, id) in &ids {
        assert_eq!(
            stored.get(cid),
            Some(&vec![*id]),
            "chat {cid} is stored once, with the id it was delivered with"
        );
    }
}

/// A sender's lines: `(cid, acknowledged)` in sending order.
type Sent = Vec<(String, bool)>;

/// Sends `count` lines from `client`, one at a time, each waiting (bounded) for its echo;
/// stops at the first that is not echoed (its server died).
async fn send_acknowledged(client: &mut Client, prefix: &str, count: usize) -> Sent {
    let mut sent = Vec::new();
    for n in 0..count {
        let cid = format!("{prefix}-{n}");
        if !client
            .try_send_chat(&format!("{prefix} line {n}"), &cid)
            .await
        {
            sent.push((cid, false));
            break;
        }
        let echoed = common::cluster::wait_until(
            Duration::from_secs(3),
            || async { client.chats_by_cid().contains_key(&cid) || client_ended(client) },
            |done: &bool| *done,
        )
        .await
            && client.chats_by_cid().contains_key(&cid);
        sent.push((cid, echoed));
        if !echoed {
            break;
        }
    }
    sent
}

fn client_ended(client: &Client) -> bool {
    lock(&client.tape).ended.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_server_loses_nothing_acknowledged_and_its_users_move_on() {
    let mut cluster = Cluster::start(3).await;
    // Two users on each of servers 0 and 1, three on server 2 (which dies): c1 and c2
    // come back on other servers, c3 does not.
    let mut a1 = enter_on(&cluster, 0, "a1", "").await;
    let a2 = enter_on(&cluster, 0, "a2", "?v=2").await;
    let mut b1 = enter_on(&cluster, 1, "b1", "?v=2").await;
    let b2 = enter_on(&cluster, 1, "b2", "").await;
    let mut c1 = enter_on(&cluster, 2, "c1", "").await;
    let mut c2 = enter_on(&cluster, 2, "c2", "?v=2").await;
    let c3 = enter_on(&cluster, 2, "c3", "").await;
    let mut a3 = enter_on(&cluster, 0, "a3", "?v=2").await;

    // Traffic from all three servers; server 2 dies while its clients are sending.
    let mut acked = BTreeSet::new();
    for round in 0..5 {
        for (client, prefix) in [
            (&mut a1, "a1"),
            (&mut b1, "b1"),
            (&mut c1, "c1"),
            (&mut c2, "c2"),
        ] {
            for (cid, ok) in send_acknowledged(client, &format!("{prefix}-r{round}"), 2).await {
                assert!(ok, "{cid} is echoed while every server runs");
                acked.insert(cid);
            }
        }
    }
    // a3 talks on through the kill, from a surviving server.
    let talker = tokio::spawn(async move {
        let sent = send_acknowledged(&mut a3, "a3-through", 40).await;
        (a3, sent)
    });
    let c1_sending = {
        // c1 keeps sending while its server is killed: whatever it got echoed counts.
        let mut sent = Vec::new();
        for n in 0..3 {
            let cid = format!("c1-kill-{n}");
            if c1.try_send_chat("during the kill", &cid).await {
                sent.push(cid);
            }
        }
        sent
    };
    cluster.kill(2);
    c1.wait_ended(WAIT).await;
    c2.wait_ended(WAIT).await;
    c3.wait_ended(WAIT).await;
    let c1_echoed = c1.chats_by_cid();
    for cid in &c1_sending {
        if c1_echoed.contains_key(cid) {
            acked.insert(cid.clone());
        }
    }

    let (a3, through) = talker.await.expect("a3's sending task");
    for (cid, ok) in through {
        assert!(
            ok,
            "{cid} from a surviving server is echoed through the kill"
        );
        acked.insert(cid);
    }

    // The survivors keep talking.
    for round in 0..3 {
        for (client, prefix) in [(&mut a1, "a1"), (&mut b1, "b1")] {
            for (cid, ok) in send_acknowledged(client, &format!("{prefix}-after{round}"), 2).await {
                assert!(ok, "{cid} is echoed after the kill");
                acked.insert(cid);
            }
        }
    }

    // c1 and c2 resume on the surviving servers from the last id they saw.
    let c1_again = Client::open(
        cluster.server(0),
        &format!("?since={}", c1.last_id()),
        &c1.user,
        &c1.cookie,
        "c1-again@0",
    )
    .await;
    let c2_again = Client::open(
        cluster.server(1),
        &format!("?v=2&since={}", c2.last_id()),
        &c2.user,
        &c2.cookie,
        "c2-again@1",
    )
    .await;
    for (cid, ok) in send_acknowledged(&mut a1, "a1-resumed", 2).await {
        assert!(ok, "{cid} is echoed after the resumes");
        acked.insert(cid);
    }

    // c3 never comes back: every surviving socket hears of it once.
    let survivors = [&a1, &a2, &a3, &b1, &b2, &c1_again, &c2_again];
    for client in survivors {
        client
            .wait_for("c3's left", PRESENCE_WAIT, |tape| {
                lefts_of(&events(&tape.frames), &c3.user) > 0
            })
            .await;
    }
    // A last line, sent after the left: once it is everywhere, so is everything before it.
    for (cid, ok) in send_acknowledged(&mut b1, "b1-last", 1).await {
        assert!(ok, "{cid} is echoed");
        acked.insert(cid);
    }
    let last: BTreeSet<String> = acked
        .iter()
        .filter(|c| c.starts_with("b1-last"))
        .cloned()
        .collect();
    for client in [&a1, &a2, &a3, &b1, &b2, &c1_again, &c2_again] {
        wait_for_chats(client, &last, WAIT).await;
    }

    let history = same_history_everywhere(&cluster, &a1.cookie).await;
    let stored = stored_chats(&history);
    for cid in &acked {
        assert_eq!(
            stored.get(cid).map(Vec::len),
            Some(1),
            "acknowledged chat {cid} is stored exactly once"
        );
    }
    let stored_events: Vec<shared::ServerMessage> = history
        .iter()
        .map(|e| serde_json::from_str(e).expect("a stored event parses"))
        .collect();
    assert_eq!(
        lefts_of(&stored_events, &c3.user),
        1,
        "c3's left is stored once, not once per surviving server"
    );

    // Every survivor that was there all along got everything stored since it came, once.
    for client in [&a1, &a2, &a3, &b1, &b2] {
        client.assert_in_order();
        let seen = client.events();
        assert_eq!(
            lefts_of(&seen, &c3.user),
            1,
            "{}: c3 left once",
            client.label
        );
        let first = seen
            .iter()
            .find(|m| m.body.kind() != "history")
            .map_or(0, |m| m.id);
        let expected: Vec<u64> = stored_events
            .iter()
            .filter(|m| m.id >= first)
            .map(|m| m.id)
            .collect();
        let got: Vec<u64> = seen
            .iter()
            .filter(|m| m.id >= first)
            .map(|m| m.id)
            .collect();
        assert_eq!(
            got, expected,
            "{}: every stored event since it came, once, in order",
            client.label
        );
    }

    // The movers: what they saw before the kill, then the resumed history and live events,
    // is the stored log with no gap and no duplicate.
    for (before, after) in [(&c1, &c1_again), (&c2, &c2_again)] {
        let mut joined = before.events();
        joined.extend(after.events());
        assert_strictly_increasing(&after.label, &joined);
        let first = joined.first().map_or(0, |m| m.id);
        let expected: Vec<u64> = stored_events
            .iter()
            .filter(|m| m.id >= first)
            .map(|m| m.id)
            .collect();
        let got: Vec<u64> = joined.iter().map(|m| m.id).collect();
        assert_eq!(
            got, expected,
            "{}: no gap and no duplicate across the move",
            after.label
        );
    }

    // A fresh socket's list: everyone but c3.
    let (fresh_user, fresh_cookie) = cluster.signin(1, "fresh").await;
    let fresh = Client::open(cluster.server(1), "", &fresh_user, &fresh_cookie, "fresh@1").await;
    let list: BTreeSet<String> = fresh
        .lists()
        .last()
        .expect("a list greeting")
        .iter()
        .map(|u| u.name.clone())
        .collect();
    let expected: BTreeSet<String> = ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "fresh"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(list, expected, "the online list after the server died");
}

/// Signs `name` in on server `i` and opens one socket there.
async fn enter_on(cluster: &Cluster, i: usize, name: &str, query: &str) -> Client {
    let (user, cookie) = cluster.signin(i, name).await;
    Client::open(
        cluster.server(i),
        query,
        &user,
        &cookie,
        &format!("{name}@{i}"),
    )
    .await
}

/// Refusals of `cid` on `client` so far.
fn refusals_of(client: &Client, cid: &str) -> Vec<shared::Refusal> {
    client
        .errors()
        .into_iter()
        .filter_map(|m| match m.body {
            ServerBody::Error(r) if r.cid.as_deref() == Some(cid) => Some(r),
            _ => None,
        })
        .collect()
}

/// Sends `cid` again and again (as a client's outbox does) until it is echoed; fails
/// after `within`. Each attempt waits for its echo or its refusal.
async fn send_until_echoed(client: &mut Client, text: &str, cid: &str, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let refused_before = refusals_of(client, cid).len();
        client.send_chat(text, cid).await;
        client
            .wait_for(&format!("the echo or a refusal of {cid}"), WAIT, |tape| {
                let frames = &tape.frames;
                chats_by_cid(&events(frames)).contains_key(cid)
                    || frames
                        .iter()
                        .filter(|m| {
                            matches!(&m.body, ServerBody::Error(r) if r.cid.as_deref() == Some(cid))
                        })
                        .count()
                        > refused_before
            })
            .await;
        if client.chats_by_cid().contains_key(cid) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}: {cid} is still refused after {within:?}: {:?}",
            client.label,
            refusals_of(client, cid).last()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_refuses_sends_clearly_and_every_server_recovers() {
    let mut cluster = Cluster::start(3).await;
    let names = ["ada", "bob", "cy"];
    let mut clients = enter(&cluster, &names).await;
    let mut acked = BTreeSet::new();
    for (i, client) in clients.iter_mut().enumerate() {
        for (cid, ok) in send_acknowledged(client, &format!("{}-before", names[i]), 3).await {
            assert!(ok, "{cid} is echoed while the database runs");
            acked.insert(cid);
        }
    }
    let ready_before = cluster.readiness().await;

    let pids: Vec<u32> = cluster
        .servers
        .iter()
        .flatten()
        .map(|s| s.child.id())
        .collect();
    let pg = cluster.pg.clone();
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("stop PostgreSQL");

    // Sends while the database is down: each sender gets an error frame with a code and
    // its cid, and its socket stays open.
    for (i, client) in clients.iter_mut().enumerate() {
        let cid = format!("{}-down", names[i]);
        client.send_chat("while the database is down", &cid).await;
        client
            .wait_for("the refusal of its send", Duration::from_secs(20), |tape| {
                tape.frames.iter().any(|m| {
                    matches!(&m.body, ServerBody::Error(r) if r.cid.as_deref() == Some(cid.as_str()))
                })
            })
            .await;
        let refusal = refusals_of(client, &cid).remove(0);
        assert_eq!(
            refusal.code.as_str(),
            "not_saved",
            "{}: a send the database could not take is refused as not_saved: {refusal:?}",
            client.label
        );
        assert!(
            !client_ended(client),
            "{}: the socket stays open",
            client.label
        );
        assert!(
            !client.chats_by_cid().contains_key(&cid),
            "{}: nothing refused is delivered",
            client.label
        );
    }
    let ready_down = cluster.readiness().await;

    let pg = cluster.pg.clone();
    tokio::task::spawn_blocking(move || pg.start_again())
        .await
        .expect("start PostgreSQL again");

    // The refused lines go out again with the same cid, as a client's outbox sends them,
    // until each server has its database back; then new ones flow everywhere.
    for (i, client) in clients.iter_mut().enumerate() {
        let cid = format!("{}-down", names[i]);
        send_until_echoed(
            client,
            "while the database is down",
            &cid,
            Duration::from_secs(30),
        )
        .await;
        acked.insert(cid);
        for (cid, ok) in send_acknowledged(client, &format!("{}-after", names[i]), 2).await {
            assert!(ok, "{cid} is echoed once the database is back");
            acked.insert(cid);
        }
    }
    let mut ids = BTreeMap::new();
    for client in &clients {
        wait_for_chats(client, &acked, Duration::from_secs(20)).await;
        client.assert_in_order();
        assert_once_each(client, &acked, &mut ids);
    }
    let history = same_history_everywhere(&cluster, &clients[0].cookie).await;
    let stored = stored_chats(&history);
    for cid in &acked {
        assert_eq!(
            stored.get(cid).map(Vec::len),
            Some(1),
            "acknowledged chat {cid} is stored exactly once"
        );
    }
    for (i, server) in cluster.servers.iter_mut().flatten().enumerate() {
        let running = matches!(server.child.try_wait(), Ok(None));
        assert_eq!(
            (
                server.child.id(),
                running,
                server.log().contains("panicked")
            ),
            (pids[i], true, false),
            "server {i} recovered as the same process, without a panic"
        );
    }

    // Readiness last: load balancers take a server out while its database is away.
    assert_eq!(ready_before, vec![200; 3], "/readyz before the outage");
    assert_eq!(ready_down, vec![503; 3], "/readyz while PostgreSQL is down");
    cluster.wait_ready(200, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_arrive_through_the_poll_when_the_listeners_keep_dropping() {
    let cluster = Cluster::start(3).await;
    let names = ["ada", "bob", "cy"];
    let mut clients = enter(&cluster, &names).await;

    let listeners = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chat-listen'";
    let found = common::cluster::wait_until(
        WAIT,
        || cluster.sql(listeners),
        |count: &String| count.parse::<usize>().is_ok_and(|n| n >= 3),
    )
    .await;
    assert!(
        found,
        "each of the 3 servers keeps a `chat-listen` connection"
    );

    // Drop every listener connection again and again while the clients talk: the
    // notifications that would have woken the servers are lost.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (pg, stop) = (cluster.pg.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut killed = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                killed += pg.terminate_where("application_name = 'chat-listen'");
                std::thread::sleep(Duration::from_millis(5));
            }
            killed
        })
    };

    let mut cids = BTreeSet::new();
    for n in 0..10 {
        for (i, client) in clients.iter_mut().enumerate() {
            let cid = format!("{}-{n}", names[i]);
            client.send_chat("while nobody listens", &cid).await;
            cids.insert(cid);
        }
    }
    let mut ids = BTreeMap::new();
    for client in &clients {
        wait_for_chats(client, &cids, WAIT).await;
        client.assert_in_order();
        assert_once_each(client, &cids, &mut ids);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = tokio::task::block_in_place(|| killer.join()).expect("the killer thread");
    assert!(killed >= 3, "listener connections were dropped ({killed})");
    same_history_everywhere(&cluster, &clients[0].cookie).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_on_postgres_stops_cleanly_on_sigterm() {
    let mut cluster = Cluster::start(2).await;
    let names = ["ada", "bob"];
    let mut clients = enter(&cluster, &names).await;
    for (cid, ok) in send_acknowledged(&mut clients[0], "ada-bye", 1).await {
        assert!(ok, "{cid} is echoed");
    }
    let mut server = cluster.servers[0].take().expect("server 0 runs");
    // SAFETY: kill(2) with a pid this test started and still owns.
    let sent = unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "SIGTERM delivered");
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait();
        (status, server)
    })
    .await
    .expect("the wait task");
    let (status, server) = status;
    let status = status.expect("wait for the server");
    clients[0].wait_ended(WAIT).await;
    let log = server.log();
    assert!(
        status.success() && !log.contains("panicked"),
        "a server on PostgreSQL exits 0 without a panic on SIGTERM: {status:?}\n{log}"
    );
    // The other server carries on, and hears that ada is gone.
    clients[1]
        .wait_for("ada's left", PRESENCE_WAIT, |tape| {
            lefts_of(&events(&tape.frames), &clients[0].user) == 1
        })
        .await;
}
