//! Rooms on `/ws/chat?v=2`, black-box: who receives what (access control above all),
//! ordering and resuming across rooms, read markers, mentions and typing. Room changes go
//! through the hub's `room` operation, as the HTTP endpoints do.
//!
//! "Nothing else arrived" is always checked with a marker: a later `general` line that
//! every socket receives. Each socket gets its frames in order, so anything meant for it
//! before the marker would have come first.

mod common;

use serde_json::{json, Value};
use shared::{RoomKind, GENERAL};

use common::rooms::{next_event, RoomServer, RoomSocket};
use common::ws::WsClient;

/// Sends a `general` line from `from` and returns it as `from` received it.
async fn marker(from: &mut RoomSocket, text: &str) -> Value {
    from.send(json!({"type": "chat", "text": text})).await;
    loop {
        let frame = from.next().await;
        if frame["type"] == "chat" && frame["data"] == text {
            return frame;
        }
    }
}

/// The line with this `cid`, as `socket` received it (earlier frames are skipped).
async fn own(socket: &mut RoomSocket, cid: &str) -> Value {
    loop {
        let frame = socket.next().await;
        if frame["cid"] == cid {
            return frame;
        }
    }
}

fn id(frame: &Value) -> u64 {
    frame["id"].as_u64().expect("an id")
}

#[tokio::test]
async fn non_members_never_receive_a_private_room_or_a_dm_and_cannot_post_there() {
    let rs = RoomServer::start().await;
    let (ada, ada_cookie) = rs.account("Ada").await;
    let (bo, bo_cookie) = rs.guest("Bo").await;
    let (_cy, cy_cookie) = rs.guest("Cy").await;
    let room = rs.create(&ada, "Secret", RoomKind::Private).await;
    rs.invite(&ada, &room, &bo).await;
    let dm = rs.dm(&ada, &bo).await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada", None).await;
    let mut bo2 = RoomSocket::open(&rs.server, &bo_cookie, "bo", None).await;
    let mut cy2 = RoomSocket::open(&rs.server, &cy_cookie, "cy", None).await;
    let mut cy1 = WsClient::chat(&rs.server, &cy_cookie, "cy-v1").await;
    assert!(cy2.rooms.iter().all(|r| r.id != room.id && r.id != dm.id));

    ada2.chat(room.id, "in the secret room", "a1").await;
    ada2.chat(dm.id, "just for Bo", "a2").await;
    for text in ["in the secret room", "just for Bo"] {
        assert_eq!(bo2.next().await["data"], text);
        assert_eq!(ada2.next().await["data"], text);
    }
    bo2.send(json!({"type": "typing", "room": room.id})).await;
    assert_eq!(ada2.next().await["type"], "typing");
    // Cy tries to post into both, and into a room that does not exist.
    for (target, cid) in [(room.id, "c1"), (dm.id, "c2"), (9999, "c3")] {
        cy2.chat(target, "let me in", cid).await;
        let refused = cy2.next().await;
        assert_eq!(refused["type"], "error");
        assert_eq!(refused["code"], "no_such_room");
        assert_eq!(refused["cid"], cid);
    }
    // Nobody heard Cy; Cy heard nothing but the marker.
    ada2.send(json!({"type": "chat", "text": "end"})).await;
    let line = ada2.next().await;
    assert_eq!(line["data"], "end", "Ada got nothing from Cy");
    assert_eq!(cy2.next().await, line, "Cy's room socket saw only general");
    assert_eq!(
        bo2.next().await,
        line,
        "Bo got nothing from Cy, nor his own typing"
    );
    loop {
        let frame = next_event(&mut cy1).await;
        if frame["type"] == "history" {
            continue;
        }
        assert_eq!(frame, line, "Cy's v1 socket saw only general");
        break;
    }
}

#[tokio::test]
async fn a_v1_socket_sees_only_general_even_for_its_own_rooms() {
    let rs = RoomServer::start().await;
    let (ada, ada_cookie) = rs.account("Ada").await;
    let mut ada1 = WsClient::chat(&rs.server, &ada_cookie, "ada-v1").await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada-v2", None).await;
    let room = rs.create(&ada, "Mine", RoomKind::Public).await;
    assert_eq!(ada2.next().await["type"], "room");
    assert_eq!(ada2.next().await["type"], "room_join");
    ada2.chat(room.id, "elsewhere", "x1").await;
    assert_eq!(ada2.next().await["data"], "elsewhere");
    ada1.send_text(json!({"type": "chat", "text": "v1 line"}).to_string())
        .await;
    loop {
        let frame = next_event(&mut ada1).await;
        if frame["type"] == "history" {
            continue;
        }
        assert_eq!(
            frame["data"], "v1 line",
            "no room, no room_join, no other room's line"
        );
        assert_eq!(frame["room"], GENERAL, "it went to general");
        break;
    }
    let v1_history = rs
        .server
        .get_with_cookie("/api/history", &ada_cookie)
        .await
        .json::<Vec<Value>>()
        .await
        .expect("history");
    assert!(v1_history.iter().all(|m| m["data"] != "elsewhere"));
}

#[tokio::test]
async fn ids_strictly_increase_on_every_socket_while_two_rooms_are_busy() {
    let rs = RoomServer::start().await;
    let (ada, ada_cookie) = rs.account("Ada").await;
    let (bo, bo_cookie) = rs.guest("Bo").await;
    let room = rs.create(&ada, "Busy", RoomKind::Private).await;
    rs.invite(&ada, &room, &bo).await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada", None).await;
    let mut bo2 = RoomSocket::open(&rs.server, &bo_cookie, "bo", None).await;
    const N: usize = 30;
    for i in 0..N {
        ada2.chat(room.id, &format!("room {i}"), &format!("r{i}"))
            .await;
        bo2.chat(GENERAL, &format!("general {i}"), &format!("g{i}"))
            .await;
    }
    for socket in [&mut ada2, &mut bo2] {
        let mut last = 0;
        let mut seen = 0;
        while seen < 2 * N {
            let frame = socket.next().await;
            assert_eq!(frame["type"], "chat", "{frame}");
            assert!(id(&frame) > last, "{} after {last}", id(&frame));
            last = id(&frame);
            seen += 1;
        }
    }
}

#[tokio::test]
async fn resume_gives_every_missed_event_of_the_users_rooms_once_in_order_and_no_other_room() {
    let rs = RoomServer::start().await;
    let (ada, ada_cookie) = rs.account("Ada").await;
    let (bo, bo_cookie) = rs.guest("Bo").await;
    let (cy, cy_cookie) = rs.guest("Cy").await;
    let shared_room = rs.create(&ada, "Shared", RoomKind::Private).await;
    rs.invite(&ada, &shared_room, &bo).await;
    let other = rs.dm(&bo, &cy).await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada", None).await;
    let last_seen = id(&marker(&mut ada2, "before").await);
    ada2.ws.close().await;
    let mut bo2 = RoomSocket::open(&rs.server, &bo_cookie, "bo", None).await;
    let mut cy2 = RoomSocket::open(&rs.server, &cy_cookie, "cy", None).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        bo2.chat(shared_room.id, &format!("shared {i}"), &format!("s{i}"))
            .await;
        sent.push(id(&own(&mut bo2, &format!("s{i}")).await));
        bo2.chat(other.id, &format!("dm {i}"), &format!("d{i}"))
            .await;
        own(&mut bo2, &format!("d{i}")).await;
        cy2.chat(GENERAL, &format!("general {i}"), &format!("g{i}"))
            .await;
        sent.push(id(&own(&mut cy2, &format!("g{i}")).await));
    }
    let _ = (bo, cy);
    let back = RoomSocket::open(&rs.server, &ada_cookie, "ada again", Some(last_seen)).await;
    let history = &back.histories[0];
    assert!(history.get("room").is_none(), "one history across rooms");
    let events = history["data"].as_array().expect("events");
    let ids: Vec<u64> = events.iter().map(id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order: {ids:?}");
    assert!(ids.iter().all(|&i| i > last_seen));
    let chats: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "chat")
        .map(id)
        .collect();
    assert_eq!(chats, sent, "every missed line of Ada's rooms, once");
    assert!(
        events.iter().all(|e| e["room"] != other.id),
        "nothing of the DM"
    );
}

#[tokio::test]
async fn read_markers_never_go_back_are_synced_to_other_tabs_and_count_unread() {
    let rs = RoomServer::start().await;
    let (_ada, ada_cookie) = rs.account("Ada").await;
    let (_bo, bo_cookie) = rs.guest("Bo").await;
    let mut tab1 = RoomSocket::open(&rs.server, &ada_cookie, "tab1", None).await;
    let mut tab2 = RoomSocket::open(&rs.server, &ada_cookie, "tab2", None).await;
    let mut bo2 = RoomSocket::open(&rs.server, &bo_cookie, "bo", None).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        bo2.chat(GENERAL, &format!("line {i}"), &format!("l{i}"))
            .await;
        let line = bo2.next().await;
        assert_eq!(tab1.next().await, line);
        assert_eq!(tab2.next().await, line);
        ids.push(id(&line));
    }
    tab1.send(json!({"type": "read", "room": GENERAL, "id": ids[2]}))
        .await;
    let signal = tab2.next().await;
    assert_eq!(
        signal,
        json!({"type": "read", "room": GENERAL, "last": ids[2]})
    );
    // Backwards: stored nowhere, told to nobody.
    tab1.send(json!({"type": "read", "room": GENERAL, "id": ids[0]}))
        .await;
    let line = marker(&mut bo2, "after the reads").await;
    assert_eq!(
        tab2.next().await,
        line,
        "no signal for a marker that did not move"
    );
    assert_eq!(tab1.next().await, line, "the tab that read gets no signal");
    let again = RoomSocket::open(&rs.server, &ada_cookie, "tab3", None).await;
    let general = again.room(GENERAL);
    assert_eq!(general.read, ids[2]);
    assert_eq!(general.unread, 1, "only Bo's line after the marker");
}

#[tokio::test]
async fn mentions_name_the_longest_member_and_count_for_the_mentioned_user() {
    let rs = RoomServer::start().await;
    let (ada, ada_cookie) = rs.account("Ada").await;
    let (bo, bo_cookie) = rs.guest("Bo Lee").await;
    let (_b, _) = rs.guest("Bo").await;
    let room = rs.create(&ada, "Team", RoomKind::Private).await;
    rs.invite(&ada, &room, &bo).await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada", None).await;
    ada2.chat(room.id, "hi @Bo Lee, and @Ada", "m1").await;
    let line = ada2.next().await;
    assert_eq!(line["mentions"], json!([bo.id]), "not Bo, not the sender");
    ada2.chat(room.id, "@nobody here", "m2").await;
    assert!(ada2.next().await.get("mentions").is_none());
    let back = RoomSocket::open(&rs.server, &bo_cookie, "bo", None).await;
    let seen = back.room(room.id);
    assert_eq!(seen.mentions, 1);
    assert_eq!(seen.unread, 2);
    assert_eq!(back.room(GENERAL).mentions, 0);
}

#[tokio::test]
async fn typing_reaches_the_other_members_only_has_no_id_is_limited_and_never_replayed() {
    let rs = RoomServer::start().await;
    let (ada, ada_cookie) = rs.account("Ada").await;
    let (bo, bo_cookie) = rs.guest("Bo").await;
    let (_cy, cy_cookie) = rs.guest("Cy").await;
    let room = rs.create(&ada, "Team", RoomKind::Private).await;
    rs.invite(&ada, &room, &bo).await;
    let mut ada_tab = RoomSocket::open(&rs.server, &ada_cookie, "ada tab", None).await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada", None).await;
    let mut bo2 = RoomSocket::open(&rs.server, &bo_cookie, "bo", None).await;
    let mut cy2 = RoomSocket::open(&rs.server, &cy_cookie, "cy", None).await;
    let first = marker(&mut cy2, "before typing").await;
    for socket in [&mut ada_tab, &mut ada2, &mut bo2] {
        assert_eq!(socket.next().await, first);
    }
    let before = id(&first);
    for _ in 0..3 {
        ada2.send(json!({"type": "typing", "room": room.id})).await;
    }
    let typing = bo2.next().await;
    assert_eq!(typing["type"], "typing");
    assert_eq!(typing["room"], room.id);
    assert_eq!(typing["user"]["id"], ada.id);
    assert!(typing.get("id").is_none(), "signals have no id");
    let line = marker(&mut cy2, "after typing").await;
    assert_eq!(bo2.next().await, line, "the extra signals were dropped");
    assert_eq!(
        ada_tab.next().await,
        line,
        "not to the typist's own sockets"
    );
    assert_eq!(ada2.next().await, line);
    assert_eq!(cy2.histories.len(), 1);
    let back = RoomSocket::open(&rs.server, &bo_cookie, "bo again", Some(before)).await;
    let replayed = back.histories[0]["data"].as_array().expect("events");
    assert!(replayed.iter().all(|e| e["type"] != "typing"));
    assert!(replayed.iter().any(|e| e["data"] == "after typing"));
}

#[tokio::test]
async fn refusals_carry_a_code_and_the_refused_cid() {
    let rs = RoomServer::start().await;
    let (_ada, ada_cookie) = rs.guest("Ada").await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada", None).await;
    let long = "x".repeat(shared::MAX_TEXT_CHARS + 1);
    let cases = [
        (
            json!({"type": "chat", "text": long, "cid": "k1"}),
            "too_long",
            Some("k1"),
        ),
        (
            json!({"type": "chat", "text": "a\u{7}", "cid": "k2"}),
            "control_character",
            Some("k2"),
        ),
        (
            json!({"type": "chat", "text": "hi", "cid": ""}),
            "bad_cid",
            None,
        ),
        (
            json!({"type": "shout", "text": "hi", "cid": "k3"}),
            "bad_request",
            Some("k3"),
        ),
        (
            json!({"type": "read", "room": "general"}),
            "bad_request",
            None,
        ),
    ];
    for (frame, code, cid) in cases {
        ada2.send(frame.clone()).await;
        let refused = ada2.next().await;
        assert_eq!(refused["type"], "error", "{frame}");
        assert_eq!(refused["code"], code, "{frame}");
        assert_eq!(refused["cid"].as_str(), cid, "{frame}");
        assert!(refused["id"].as_u64().is_some());
    }
    ada2.ws
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1].into(),
        ))
        .await;
    assert_eq!(ada2.next().await["code"], "bad_request");
    let line = marker(&mut ada2, "still open").await;
    assert_eq!(line["room"], GENERAL);
}

#[tokio::test]
async fn a_v1_socket_resuming_gets_general_only() {
    let rs = RoomServer::start().await;
    let (ada, ada_cookie) = rs.account("Ada").await;
    let mut ada2 = RoomSocket::open(&rs.server, &ada_cookie, "ada", None).await;
    let start = id(&marker(&mut ada2, "start").await);
    let room = rs.create(&ada, "Mine", RoomKind::Public).await;
    ada2.chat(room.id, "elsewhere", "e1").await;
    own(&mut ada2, "e1").await;
    let end = marker(&mut ada2, "end").await;
    let path = format!("/ws/chat?since={start}");
    let mut v1 = WsClient::open(&rs.server, &path, Some(&ada_cookie), None, "ada-v1").await;
    let history = loop {
        let frame = v1.next_json().await;
        if frame["type"] == "history" {
            break frame;
        }
    };
    let events = history["data"].as_array().expect("events");
    assert_eq!(events.last(), Some(&end));
    assert!(
        events
            .iter()
            .all(|e| e["room"].as_u64().unwrap_or(GENERAL) == GENERAL),
        "{events:?}"
    );
}
