//! The JSON API over HTTP: `POST /api/signin` and its name and body rules, `GET /api/me`
//! with genuine, missing, tampered and forged session cookies, `POST /api/signout`, and
//! unknown `/api/*` paths.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{
    assert_user_object, cookie_attributes, expect_json_error, session_cookie, session_set_cookie,
    TestServer,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Signs in with `name` and expects a 400 whose message contains `rule`.
async fn expect_name_rejected(server: &TestServer, name: &str, rule: &str) {
    let res = server.post_signin_json(&json!({ "name": name })).await;
    let message = expect_json_error(res, StatusCode::BAD_REQUEST).await;
    assert!(
        message.to_lowercase().contains(rule),
        "the message for {name:?} names the rule ({rule:?}): {message:?}"
    );
}

// ---- POST /api/signin -------------------------------------------------------------------

#[tokio::test]
async fn signin_answers_200_with_the_user_object() {
    let server = TestServer::start().await;
    let res = server.post_signin_json(&json!({ "name": "Alice" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("JSON body");
    let user = assert_user_object(&body);
    assert_eq!(user.name, "Alice");
}

#[tokio::test]
async fn signin_sets_the_session_cookie_with_path_httponly_and_samesite_lax() {
    let server = TestServer::start().await;
    let res = server.post_signin_json(&json!({ "name": "Alice" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let header = session_set_cookie(&res);
    let value = session_cookie(&res);
    assert!(!value.is_empty());
    let attributes: Vec<String> = cookie_attributes(&header)
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    for wanted in ["path=/", "httponly", "samesite=lax"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "Set-Cookie has `{wanted}`: {header}"
        );
    }
}

#[tokio::test]
async fn session_cookie_is_not_a_bare_base64_of_the_user() {
    let server = TestServer::start().await;
    let (user, cookie) = server.signin("Alice").await;
    let user_json = serde_json::to_string(&user).expect("serialize the user");
    for engine_output in [
        STANDARD.encode(&user_json),
        URL_SAFE_NO_PAD.encode(&user_json),
    ] {
        assert_ne!(
            cookie, engine_output,
            "the cookie is signed, not just encoded"
        );
    }
    assert!(
        !cookie.contains(&URL_SAFE_NO_PAD.encode(&user_json)),
        "the cookie is more than the encoded user"
    );
}

#[tokio::test]
async fn every_signin_creates_a_new_user_with_a_strictly_larger_id() {
    let server = TestServer::start().await;
    let mut last = None;
    // Twelve sign-ins, so `image` wraps around too. (Two live guests cannot share a name.)
    for name in [
        "Ann", "Amy", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kim",
    ] {
        let res = server.post_signin_json(&json!({ "name": name })).await;
        assert_eq!(res.status(), StatusCode::OK);
        let user = assert_user_object(&res.json().await.expect("JSON body"));
        if let Some(last) = last {
            assert!(user.id > last, "id {} follows {last}", user.id);
        }
        last = Some(user.id);
    }
}

#[tokio::test]
async fn avatar_image_is_the_id_modulo_10() {
    let server = TestServer::start().await;
    let mut images = std::collections::BTreeSet::new();
    for i in 0..10 {
        let (user, _) = server.signin(&format!("Pat {i}")).await;
        assert_eq!(u64::from(user.image), user.id % 10, "{user:?}");
        images.insert(user.image);
    }
    assert_eq!(
        images.len(),
        10,
        "ten consecutive users get all ten avatars"
    );
}

#[tokio::test]
async fn signin_name_is_trimmed_of_surrounding_white_space() {
    let server = TestServer::start().await;
    let (user, _) = server.signin(" \t Bob \n\u{3000}").await;
    assert_eq!(user.name, "Bob");
}

#[tokio::test]
async fn signin_with_empty_name_is_400_naming_the_rule() {
    let server = TestServer::start().await;
    expect_name_rejected(&server, "", "empty").await;
}

#[tokio::test]
async fn signin_with_blank_name_is_400_naming_the_rule() {
    let server = TestServer::start().await;
    expect_name_rejected(&server, " \t\n \u{3000} ", "empty").await;
}

#[tokio::test]
async fn signin_with_name_of_32_characters_is_accepted() {
    let server = TestServer::start().await;
    // 32 scalar values but 64 bytes: the limit counts characters, not bytes.
    let name = "é".repeat(32);
    let (user, _) = server.signin(&format!("  {name}  ")).await;
    assert_eq!(user.name, name);
}

#[tokio::test]
async fn signin_with_name_over_32_characters_is_400_naming_the_rule() {
    let server = TestServer::start().await;
    expect_name_rejected(&server, &"é".repeat(33), "32").await;
    expect_name_rejected(&server, &"a".repeat(33), "32").await;
}

#[tokio::test]
async fn signin_with_control_character_in_name_is_400_naming_the_rule() {
    let server = TestServer::start().await;
    // C0 controls, DEL and C1 controls (U+0085 included), at the start, inside and at the end.
    for name in [
        "a\u{7}b",
        "\u{0}ab",
        "ab\u{1b}",
        "tab\tinside",
        "new\nline",
        "del\u{7f}",
        "next\u{85}line",
        "c1\u{9f}",
    ] {
        expect_name_rejected(&server, name, "control").await;
    }
}

#[tokio::test]
async fn signin_with_malformed_json_is_400() {
    let server = TestServer::start().await;
    for body in ["{\"name\": ", "not json", "", "[1, 2]"] {
        let res = server
            .post_signin_raw(body.to_owned(), Some("application/json"))
            .await;
        expect_json_error(res, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn signin_without_a_string_name_is_400() {
    let server = TestServer::start().await;
    for body in [json!({}), json!({ "nom": "Ann" }), json!({ "name": 7 })] {
        let res = server.post_signin_json(&body).await;
        expect_json_error(res, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn signin_with_body_over_4_kib_is_413() {
    let server = TestServer::start().await;
    let body = json!({ "name": "a".repeat(5000) }).to_string();
    assert!(body.len() > 4096);
    let res = server.post_signin_raw(body, Some("application/json")).await;
    expect_json_error(res, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn signin_with_body_of_exactly_4_kib_is_read() {
    let server = TestServer::start().await;
    let overhead = json!({ "name": "" }).to_string().len();
    let body = json!({ "name": "a".repeat(4096 - overhead) }).to_string();
    assert_eq!(body.len(), 4096);
    let res = server.post_signin_raw(body, Some("application/json")).await;
    // Read and judged by the name rules, not refused for its size.
    let message = expect_json_error(res, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("32"), "{message}");
}

#[tokio::test]
async fn chunked_signin_body_over_4_kib_without_content_length_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut request = format!(
        "POST /api/signin HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    );
    let body = json!({ "name": "a".repeat(6000) }).to_string();
    for chunk in body.as_bytes().chunks(1000) {
        request.push_str(&format!("{:x}\r\n", chunk.len()));
        request.push_str(std::str::from_utf8(chunk).expect("ASCII"));
        request.push_str("\r\n");
    }
    request.push_str("0\r\n\r\n");
    assert!(!request.to_ascii_lowercase().contains("content-length"));
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut answer = Vec::new();
    let read = common::bounded("the answer to a chunked sign-in", async {
        let mut buf = [0u8; 4096];
        // The server may close without reading everything: keep what arrived before that.
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    });
    read.await;
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or_default();
    assert!(
        status_line.starts_with("HTTP/1.1 413"),
        "expected 413, got {status_line:?}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    common::error_message(body);
}

#[tokio::test]
async fn signin_with_non_json_content_type_is_415() {
    let server = TestServer::start().await;
    let body = json!({ "name": "Ann" }).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let res = server.post_signin_raw(body.clone(), content_type).await;
        expect_json_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
}

#[tokio::test]
async fn signin_accepts_json_content_type_with_parameters() {
    let server = TestServer::start().await;
    let body = json!({ "name": "Ann" }).to_string();
    let res = server
        .post_signin_raw(body, Some("application/json; charset=utf-8"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

// ---- GET /api/me ------------------------------------------------------------------------

#[tokio::test]
async fn me_with_session_is_200_with_the_signed_in_user() {
    let server = TestServer::start().await;
    let (user, cookie) = server.signin("Alice").await;
    let res = server.me(Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(assert_user_object(&body), user);
}

#[tokio::test]
async fn me_without_cookie_is_401() {
    let server = TestServer::start().await;
    expect_json_error(server.me(None).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn me_with_tampered_cookie_is_401() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Alice").await;
    let flip = |s: &str, at: usize| -> String {
        let mut chars: Vec<char> = s.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    };
    let tampered = [
        flip(&cookie, 0),
        flip(&cookie, cookie.len() / 2),
        flip(&cookie, cookie.len() - 2),
        cookie[..cookie.len() - 1].to_owned(),
        cookie[1..].to_owned(),
        format!("{cookie}A"),
    ];
    for value in tampered {
        assert_ne!(value, cookie);
        let res = server.me(Some(&value)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "cookie {value:?}");
        expect_json_error(res, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn me_with_forged_base64_user_cookie_is_401() {
    let server = TestServer::start().await;
    // What the classic tutorial put in its cookie: the user, base64-encoded.
    let user = json!({ "id": 1, "name": "Mallory", "image": 1 }).to_string();
    let forged = [
        STANDARD.encode(&user),
        URL_SAFE_NO_PAD.encode(&user),
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&user),
            URL_SAFE_NO_PAD.encode("tag")
        ),
    ];
    for value in forged {
        let res = server.me(Some(&value)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "cookie {value:?}");
        expect_json_error(res, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn me_with_cookie_signed_by_another_secret_is_401() {
    let other = TestServer::start_with(|config| {
        config.secret = Some("another secret, also 32 bytes long".into())
    })
    .await;
    let (_, cookie) = other.signin("Alice").await;
    let server = TestServer::start().await;
    expect_json_error(server.me(Some(&cookie)).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn me_with_garbage_cookie_is_401() {
    let server = TestServer::start().await;
    let long = "x".repeat(3000);
    for value in ["", "garbage", ".", "a.b", "%%%.%%%", "\"\"", long.as_str()] {
        let res = server.me(Some(value)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "cookie {value:?}");
        expect_json_error(res, StatusCode::UNAUTHORIZED).await;
    }
}

// ---- POST /api/signout ------------------------------------------------------------------

#[tokio::test]
async fn signout_is_204_and_clears_the_cookie_with_max_age_0() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Alice").await;
    let res = server.signout(Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let header = session_set_cookie(&res);
    let value = header
        .split(';')
        .next()
        .and_then(|pair| pair.trim().strip_prefix("session="))
        .unwrap_or("?");
    assert_eq!(value, "", "the cleared cookie is empty: {header}");
    let attributes: Vec<String> = cookie_attributes(&header)
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    assert!(
        attributes.iter().any(|a| a == "max-age=0"),
        "Set-Cookie has Max-Age=0: {header}"
    );
    assert!(
        attributes.iter().any(|a| a == "path=/"),
        "the cleared cookie has the same Path=/ so the browser replaces it: {header}"
    );
}

#[tokio::test]
async fn signed_out_cookie_is_no_longer_accepted() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Alice").await;
    assert_eq!(server.me(Some(&cookie)).await.status(), StatusCode::OK);
    assert_eq!(
        server.signout(Some(&cookie)).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_json_error(server.me(Some(&cookie)).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn signout_ends_only_its_own_session() {
    let server = TestServer::start().await;
    let (_, alice) = server.signin("Alice").await;
    let (bob_user, bob) = server.signin("Bob").await;
    server.signout(Some(&alice)).await;
    let res = server.me(Some(&bob)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        assert_user_object(&res.json().await.expect("JSON")),
        bob_user
    );
}

#[tokio::test]
async fn signout_without_a_session_is_still_204() {
    let server = TestServer::start().await;
    let res = server.signout(None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let header = session_set_cookie(&res);
    assert!(
        header.to_ascii_lowercase().contains("max-age=0"),
        "{header}"
    );
}

// ---- Unknown /api/* ---------------------------------------------------------------------

#[tokio::test]
async fn unknown_api_path_is_404_with_json_error() {
    let server = TestServer::start().await;
    for path in ["/api/nope", "/api/", "/api/me/extra", "/api/signin/x"] {
        let res = server.get(path).await;
        expect_json_error(res, StatusCode::NOT_FOUND).await;
    }
    let res = server
        .http
        .post(server.url("/api/nope"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST /api/nope");
    expect_json_error(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn every_json_error_has_exactly_the_error_field() {
    let server = TestServer::start().await;
    let answers = vec![
        (
            server.post_signin_json(&json!({ "name": "" })).await,
            StatusCode::BAD_REQUEST,
        ),
        (
            server
                .post_signin_raw("{".to_owned(), Some("application/json"))
                .await,
            StatusCode::BAD_REQUEST,
        ),
        (
            server
                .post_signin_raw("x".repeat(5000), Some("application/json"))
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            server
                .post_signin_raw("{}".to_owned(), Some("text/plain"))
                .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (server.me(None).await, StatusCode::UNAUTHORIZED),
        (server.get("/api/unknown").await, StatusCode::NOT_FOUND),
    ];
    for (res, status) in answers {
        // Checks the status, the JSON content type and the exact `{"error": string}` shape.
        expect_json_error(res, status).await;
    }
}
