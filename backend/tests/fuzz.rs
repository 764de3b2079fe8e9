//! Property tests over everything a client controls before it reaches the hub: chat
//! frames, cookies, `since` and the history query. Whatever comes in, nothing panics,
//! and every answer is one of the documented ones. Case counts are fixed so the run is
//! bounded in time.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use backend::api::handlers::parse_history_query;
use backend::session::cookie_values;
use backend::ws::chat::{check, Incoming};
use backend::ws::parse_since;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings shaped like client frames: sometimes valid JSON, mostly near misses.
fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}".prop_map(|t| format!(r#"{{"type":"chat","text":{t:?}}}"#)),
        ("\\PC{0,30}", "\\PC{0,80}")
            .prop_map(|(t, c)| format!(r#"{{"type":"chat","text":{t:?},"cid":{c:?}}}"#)),
        "[{}\\[\\]\":,a-z0-9 ]{0,60}",
        (0usize..3000).prop_map(|n| format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(n))),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn client_frame_decoder_never_panics_and_keeps_its_limits(text in frame()) {
        match check(&text) {
            Ok(Incoming::Chat { text: line, cid, .. }) => {
                prop_assert!(!line.is_empty());
                prop_assert_eq!(line.trim(), line.as_str());
                prop_assert!(line.chars().count() <= shared::MAX_TEXT_CHARS);
                if let Some(cid) = cid {
                    prop_assert!((1..=shared::MAX_CID_CHARS).contains(&cid.chars().count()));
                }
            }
            Ok(_) => {}
            Err(refusal) => {
                prop_assert!(!refusal.message.is_empty());
                if let Some(cid) = refusal.cid {
                    prop_assert!((1..=shared::MAX_CID_CHARS).contains(&cid.chars().count()));
                }
            }
        }
    }

    #[test]
    fn cookie_header_parsing_never_panics(raw in "[ -~]{0,200}") {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&raw) {
            headers.insert(http::header::COOKIE, value);
        }
        for value in cookie_values(&headers, "session") {
            prop_assert!(raw.contains(value));
        }
    }

    #[test]
    fn since_parsing_never_panics(raw in "\\PC{0,40}") {
        if let Ok(Some(id)) = parse_since(&raw) {
            prop_assert!(raw.contains(&id.to_string()));
        }
    }

    #[test]
    fn history_query_parsing_never_panics_and_bounds_the_limit(raw in "[a-z=&0-9%+-]{0,40}") {
        if let Ok((_, limit)) = parse_history_query(&raw) {
            prop_assert!((1..=100).contains(&limit));
        }
    }
}

/// Session cookies go through signature checking and a database lookup: a small
/// number of arbitrary values, each must come back as "no session", never an error.
#[test]
fn arbitrary_session_cookie_values_are_no_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = backend::store::Store::open(dir.path()).expect("store");
    let sessions =
        backend::session::Sessions::new(store, b"key", std::time::Duration::from_secs(60));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&"[A-Za-z0-9_.-]{0,120}", |value| {
            let found = runtime
                .block_on(sessions.verify(&value))
                .expect("lookup does not fail");
            prop_assert!(found.is_none());
            Ok(())
        })
        .expect("no cookie value forges a session");
}
