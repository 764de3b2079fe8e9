//! The room endpoints over real HTTP: who may see, read, join, invite into and mute which
//! room; direct messages; room name rules; and the error codes of every refusal.
//!
//! The rule above all: a private room or DM answers a non-member byte for byte like a
//! room that does not exist.

mod common;

use common::{expect_error_code, TestServer};
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::User;

/// A signed-in user of the test server.
struct Person {
    user: User,
    cookie: String,
}

/// Registers an account.
async fn account(server: &TestServer, name: &str) -> Person {
    let res = server
        .post_json(
            "/api/register",
            &json!({"name": name, "password": "correct horse"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "register {name}");
    let cookie = common::session_cookie(&res);
    let user = res.json().await.expect("a user");
    Person { user, cookie }
}

/// Signs in a guest.
async fn guest(server: &TestServer, name: &str) -> Person {
    let (user, cookie) = server.signin(name).await;
    Person { user, cookie }
}

async fn get(server: &TestServer, who: &Person, path: &str) -> reqwest::Response {
    server.get_with_cookie(path, &who.cookie).await
}

async fn post(server: &TestServer, who: &Person, path: &str, body: Value) -> reqwest::Response {
    let req = server
        .http
        .post(server.url(path))
        .header(COOKIE, format!("session={}", who.cookie))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    common::bounded(&format!("POST {path}"), req.send())
        .await
        .unwrap_or_else(|err| panic!("POST {path}: {err}"))
}

/// Status and body, to compare two answers exactly.
async fn answer(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    (status, res.text().await.expect("a body"))
}

async fn ok_json(res: reqwest::Response, status: StatusCode) -> Value {
    let url = res.url().clone();
    assert_eq!(res.status(), status, "status of {url}");
    res.json().await.expect("a JSON body")
}

/// Creates a room, which must work; returns it.
async fn create(server: &TestServer, who: &Person, name: &str, kind: &str) -> Value {
    let res = post(
        server,
        who,
        "/api/rooms",
        json!({"name": name, "topic": "", "kind": kind}),
    )
    .await;
    ok_json(res, StatusCode::CREATED).await
}

async fn dm(server: &TestServer, who: &Person, with: &User) -> Value {
    let res = post(server, who, "/api/dm", json!({"user": with.id})).await;
    ok_json(res, StatusCode::OK).await
}

/// Every room endpoint a non-member might try on room `id`, as `who`.
async fn probe_all(
    server: &TestServer,
    who: &Person,
    id: &str,
    other: &User,
) -> Vec<(String, (StatusCode, String))> {
    let mut answers = Vec::new();
    for path in [
        format!("/api/rooms/{id}"),
        format!("/api/rooms/{id}/members"),
        format!("/api/rooms/{id}/history"),
        format!("/api/rooms/{id}/history?limit=5"),
    ] {
        answers.push((
            format!("GET {path}"),
            answer(get(server, who, &path).await).await,
        ));
    }
    for (path, body) in [
        (format!("/api/rooms/{id}/join"), json!({})),
        (format!("/api/rooms/{id}/invite"), json!({"user": other.id})),
        (format!("/api/rooms/{id}/mute"), json!({"muted": true})),
    ] {
        answers.push((
            format!("POST {path}"),
            answer(post(server, who, &path, body).await).await,
        ));
    }
    answers
}

/// Asserts that every endpoint answers room `hidden` exactly as it answers a room that
/// does not exist and an id that does not parse: 404 `no_such_room`.
async fn assert_hidden(server: &TestServer, who: &Person, hidden: u64, other: &User) {
    let seen = probe_all(server, who, &hidden.to_string(), other).await;
    let unknown = probe_all(server, who, "987654321", other).await;
    let garbage = probe_all(server, who, "not-a-room", other).await;
    for ((what, seen), ((_, unknown), (_, garbage))) in
        seen.iter().zip(unknown.iter().zip(&garbage))
    {
        assert_eq!(seen.0, StatusCode::NOT_FOUND, "{what}: {}", seen.1);
        assert_eq!(
            seen, unknown,
            "{what} tells a hidden room from an unknown one"
        );
        assert_eq!(
            seen, garbage,
            "{what} tells a hidden room from a malformed id"
        );
        let body: Value = serde_json::from_str(&seen.1).expect("JSON");
        assert_eq!(body["code"], "no_such_room", "{what}");
    }
}

fn ids(rooms: &Value) -> Vec<u64> {
    rooms
        .as_array()
        .expect("an array of rooms")
        .iter()
        .map(|r| r["id"].as_u64().expect("an id"))
        .collect()
}

// ---- access control --------------------------------------------------------------------

#[tokio::test]
async fn private_room_answers_a_non_member_exactly_like_a_room_that_does_not_exist() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = account(&server, "Bob").await;
    let secret = create(&server, &ada, "Secret", "private").await;
    let id = secret["id"].as_u64().expect("an id");
    assert_hidden(&server, &bob, id, &ada.user).await;
    let listed = ok_json(get(&server, &bob, "/api/rooms").await, StatusCode::OK).await;
    assert!(!ids(&listed).contains(&id), "not in Bob's list: {listed}");
    // Bob's attempts changed nothing: he is not a member, Ada still sees one member.
    let seen = ok_json(
        get(&server, &ada, &format!("/api/rooms/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["members"], 1);
    assert_eq!(seen["muted"], false);
}

#[tokio::test]
async fn dm_answers_a_third_user_exactly_like_a_room_that_does_not_exist() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = account(&server, "Bob").await;
    let cy = account(&server, "Cy").await;
    let room = dm(&server, &ada, &bob.user).await;
    let id = room["id"].as_u64().expect("an id");
    assert_hidden(&server, &cy, id, &ada.user).await;
    let seen = ok_json(
        get(&server, &bob, &format!("/api/rooms/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["kind"], "dm");
    assert_eq!(seen["members"], 2);
}

#[tokio::test]
async fn history_of_a_room_is_for_members_only_even_a_public_one() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = guest(&server, "Bob").await;
    let lobby = create(&server, &ada, "Lobby", "public").await;
    let id = lobby["id"].as_u64().expect("an id");
    let path = format!("/api/rooms/{id}/history");
    let code = expect_error_code(get(&server, &bob, &path).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "no_such_room");
    let page = ok_json(get(&server, &ada, &path).await, StatusCode::OK).await;
    assert!(page.is_array(), "{page}");
    // Query rules are those of /api/history.
    let bad = get(&server, &ada, &format!("{path}?limit=0")).await;
    assert_eq!(
        expect_error_code(bad, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
    post(&server, &bob, &format!("/api/rooms/{id}/join"), json!({})).await;
    let page = ok_json(get(&server, &bob, &path).await, StatusCode::OK).await;
    assert!(page.is_array(), "a member reads it: {page}");
}

#[tokio::test]
async fn general_history_never_shows_events_of_other_rooms() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = account(&server, "Bob").await;
    let secret = create(&server, &ada, "Secret", "private").await;
    let dm = dm(&server, &ada, &bob.user).await;
    let page = ok_json(
        get(&server, &bob, "/api/history?limit=100").await,
        StatusCode::OK,
    )
    .await;
    let hidden = [secret["id"].clone(), dm["id"].clone()];
    for event in page.as_array().expect("an array") {
        let room = event.get("room").cloned().unwrap_or(json!(1));
        assert!(!hidden.contains(&room), "an event of another room: {event}");
    }
}

#[tokio::test]
async fn public_room_is_listed_for_everyone_and_anyone_can_join_it() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let gus = guest(&server, "Gus").await;
    let lobby = create(&server, &ada, "Lobby", "public").await;
    let id = lobby["id"].as_u64().expect("an id");
    assert_eq!(lobby["member"], true);
    let listed = ok_json(get(&server, &gus, "/api/rooms").await, StatusCode::OK).await;
    let entry = listed
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("the public room is listed: {listed}"))
        .clone();
    assert_eq!(entry["member"], false);
    assert_eq!(ids(&listed)[0], shared::GENERAL, "general first: {listed}");
    let joined = post(&server, &gus, &format!("/api/rooms/{id}/join"), json!({})).await;
    let joined = ok_json(joined, StatusCode::OK).await;
    assert_eq!(joined["member"], true);
    assert_eq!(joined["members"], 2);
    let again = post(&server, &gus, &format!("/api/rooms/{id}/join"), json!({})).await;
    assert_eq!(
        ok_json(again, StatusCode::OK).await["members"],
        2,
        "joining twice changes nothing"
    );
    let members = ok_json(
        get(&server, &ada, &format!("/api/rooms/{id}/members")).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = members
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["Ada", "Gus"]);
}

#[tokio::test]
async fn leaving_general_or_a_dm_is_forbidden_and_leaving_a_room_is_204() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = account(&server, "Bob").await;
    let res = post(&server, &ada, "/api/rooms/1/leave", json!({})).await;
    assert_eq!(
        expect_error_code(res, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    let dm = dm(&server, &ada, &bob.user).await;
    let res = post(
        &server,
        &ada,
        &format!("/api/rooms/{}/leave", dm["id"]),
        json!({}),
    )
    .await;
    assert_eq!(
        expect_error_code(res, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    let secret = create(&server, &ada, "Secret", "private").await;
    let id = secret["id"].as_u64().expect("an id");
    let res = post(&server, &ada, &format!("/api/rooms/{id}/leave"), json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Out of a private room, Ada now sees it as nobody's.
    assert_hidden(&server, &ada, id, &bob.user).await;
}

#[tokio::test]
async fn a_member_invites_another_user_into_a_private_room() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = guest(&server, "Bob").await;
    let secret = create(&server, &ada, "Secret", "private").await;
    let id = secret["id"].as_u64().expect("an id");
    let res = post(
        &server,
        &ada,
        &format!("/api/rooms/{id}/invite"),
        json!({"user": bob.user.id}),
    )
    .await;
    assert_eq!(ok_json(res, StatusCode::OK).await["members"], 2);
    let seen = ok_json(
        get(&server, &bob, &format!("/api/rooms/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["member"], true);
    let res = post(
        &server,
        &ada,
        &format!("/api/rooms/{id}/invite"),
        json!({"user": 987654321}),
    )
    .await;
    assert_eq!(
        expect_error_code(res, StatusCode::NOT_FOUND).await,
        "not_found"
    );
}

#[tokio::test]
async fn mute_is_stored_per_user() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = account(&server, "Bob").await;
    let res = post(&server, &ada, "/api/rooms/1/mute", json!({"muted": true})).await;
    assert_eq!(ok_json(res, StatusCode::OK).await["muted"], true);
    let mine = ok_json(get(&server, &ada, "/api/rooms/1").await, StatusCode::OK).await;
    assert_eq!(mine["muted"], true);
    let theirs = ok_json(get(&server, &bob, "/api/rooms/1").await, StatusCode::OK).await;
    assert_eq!(theirs["muted"], false);
    let res = post(&server, &ada, "/api/rooms/1/mute", json!({"muted": false})).await;
    assert_eq!(ok_json(res, StatusCode::OK).await["muted"], false);
}

// ---- direct messages -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_is_one_room_per_pair_even_when_two_requests_race() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = account(&server, "Bob").await;
    let (one, two) = tokio::join!(dm(&server, &ada, &bob.user), dm(&server, &bob, &ada.user));
    assert_eq!(one["id"], two["id"]);
    assert_eq!(one["kind"], "dm");
    assert_eq!(one["peer"]["id"], bob.user.id);
    assert_eq!(two["peer"]["id"], ada.user.id);
    let again = dm(&server, &ada, &bob.user).await;
    assert_eq!(again["id"], one["id"]);
    assert_eq!(again["members"], 2);
}

#[tokio::test]
async fn dm_with_a_guest_works_both_ways() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let gus = guest(&server, "Gus").await;
    let room = dm(&server, &ada, &gus.user).await;
    assert_eq!(room["peer"]["guest"], true);
    let listed = ok_json(get(&server, &gus, "/api/rooms").await, StatusCode::OK).await;
    assert!(ids(&listed).contains(&room["id"].as_u64().expect("an id")));
    assert_eq!(dm(&server, &gus, &ada.user).await["id"], room["id"]);
}

#[tokio::test]
async fn dm_with_oneself_or_nobody_is_refused() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let res = post(&server, &ada, "/api/dm", json!({"user": ada.user.id})).await;
    assert_eq!(
        expect_error_code(res, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
    let res = post(&server, &ada, "/api/dm", json!({"user": 987654321})).await;
    assert_eq!(
        expect_error_code(res, StatusCode::NOT_FOUND).await,
        "not_found"
    );
}

// ---- creating rooms --------------------------------------------------------------------

#[tokio::test]
async fn guest_cannot_create_a_room() {
    let server = TestServer::start().await;
    let gus = guest(&server, "Gus").await;
    let res = post(
        &server,
        &gus,
        "/api/rooms",
        json!({"name": "Mine", "kind": "public"}),
    )
    .await;
    assert_eq!(
        expect_error_code(res, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
}

#[tokio::test]
async fn room_names_refuse_invisible_characters_and_bad_topics() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    for (name, topic) in [
        ("De\u{200B}sign", ""),
        ("\u{202E}ngised", ""),
        ("\u{3164}", ""),
        ("", ""),
        ("Design", "bell \u{7}"),
        ("Design", &"x".repeat(251)),
    ] {
        let body = json!({"name": name, "topic": topic, "kind": "public"});
        let res = post(&server, &ada, "/api/rooms", body).await;
        assert_eq!(
            expect_error_code(res, StatusCode::BAD_REQUEST).await,
            "bad_name",
            "{name:?} / {topic:?}"
        );
    }
    let res = post(
        &server,
        &ada,
        "/api/rooms",
        json!({"name": "Design", "kind": "dm"}),
    )
    .await;
    assert_eq!(
        expect_error_code(res, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
}

#[tokio::test]
async fn look_alike_room_names_are_taken_and_slugs_stay_unique() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let design = create(&server, &ada, "Design Team", "public").await;
    assert_eq!(design["slug"], "design-team");
    assert_eq!(design["name"], "Design Team");
    // Upper case, full width, a Cyrillic е: the same name.
    for same in ["DESIGN TEAM", "Ｄｅｓｉｇｎ Team", "D\u{435}sign Team"] {
        let res = post(
            &server,
            &ada,
            "/api/rooms",
            json!({"name": same, "kind": "private"}),
        )
        .await;
        assert_eq!(
            expect_error_code(res, StatusCode::CONFLICT).await,
            "name_taken",
            "{same:?}"
        );
    }
    let other = create(&server, &ada, "Design-Team!", "public").await;
    assert_eq!(other["slug"], "design-team-2");
    let general = post(
        &server,
        &ada,
        "/api/rooms",
        json!({"name": "General", "kind": "public"}),
    )
    .await;
    assert_eq!(
        expect_error_code(general, StatusCode::CONFLICT).await,
        "name_taken"
    );
}

#[tokio::test]
async fn twenty_first_room_within_an_hour_is_429_with_retry_after() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    for i in 0..20 {
        create(&server, &ada, &format!("room {i}"), "public").await;
    }
    let res = post(
        &server,
        &ada,
        "/api/rooms",
        json!({"name": "one more", "kind": "public"}),
    )
    .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        expect_error_code(res, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    // Refused names do not count: another user is not limited by Ada.
    let bob = account(&server, "Bob").await;
    create(&server, &bob, "Bob's room", "public").await;
}

#[tokio::test]
async fn sixty_first_dm_request_within_an_hour_is_429() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    let bob = account(&server, "Bob").await;
    for _ in 0..60 {
        let res = post(&server, &ada, "/api/dm", json!({ "user": bob.user.id })).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = post(&server, &ada, "/api/dm", json!({ "user": bob.user.id })).await;
    assert_eq!(
        expect_error_code(res, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
}

// ---- the common rules ------------------------------------------------------------------

#[tokio::test]
async fn room_endpoints_need_a_session_and_posts_need_our_origin() {
    let server = TestServer::start().await;
    let ada = account(&server, "Ada").await;
    for path in [
        "/api/rooms",
        "/api/rooms/1",
        "/api/rooms/1/members",
        "/api/rooms/1/history",
    ] {
        let res = server.get(path).await;
        assert_eq!(
            expect_error_code(res, StatusCode::UNAUTHORIZED).await,
            "signed_out",
            "{path}"
        );
    }
    let res = server
        .post_json("/api/dm", &json!({"user": ada.user.id}))
        .await;
    assert_eq!(
        expect_error_code(res, StatusCode::UNAUTHORIZED).await,
        "signed_out"
    );
    let req = server
        .http
        .post(server.url("/api/rooms"))
        .header(COOKIE, format!("session={}", ada.cookie))
        .header(ORIGIN, "http://evil.test")
        .header(CONTENT_TYPE, "application/json")
        .body(json!({"name": "Evil", "kind": "public"}).to_string());
    let res = req.send().await.expect("POST /api/rooms");
    assert_eq!(
        expect_error_code(res, StatusCode::FORBIDDEN).await,
        "bad_origin"
    );
    let res = post(&server, &ada, "/api/rooms", json!({"name": 5})).await;
    assert_eq!(
        expect_error_code(res, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
    let big = json!({"name": "x", "topic": "y".repeat(5000), "kind": "public"});
    let res = post(&server, &ada, "/api/rooms", big).await;
    assert_eq!(
        expect_error_code(res, StatusCode::PAYLOAD_TOO_LARGE).await,
        "too_large"
    );
    let listed = ok_json(get(&server, &ada, "/api/rooms").await, StatusCode::OK).await;
    assert_eq!(
        ids(&listed),
        [shared::GENERAL],
        "nothing was created: {listed}"
    );
}
