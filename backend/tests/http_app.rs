//! The single-page app on the same port: `index.html` for client-side routes, files from
//! `dist/` as they are, and `/api/*` and `/ws/*` never falling back to the app.

mod common;

use common::{
    expect_json_error, TestServer, ASSET_BODY, ASSET_PATH, BINARY_ASSET_BODY, BINARY_ASSET_PATH,
    INDEX_HTML,
};
use reqwest::StatusCode;

#[tokio::test]
async fn client_route_is_served_the_dist_index_html() {
    let server = TestServer::start().await;
    for path in ["/signin", "/chat", "/rooms/42/settings", "/"] {
        let res = server.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "GET {path} is HTML: {content_type:?}"
        );
        assert_eq!(res.text().await.expect("body"), INDEX_HTML, "GET {path}");
    }
}

#[tokio::test]
async fn file_from_dist_is_served_as_is() {
    let server = TestServer::start().await;
    let res = server.get(&format!("/{ASSET_PATH}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.expect("body"), ASSET_BODY);

    let res = server.get(&format!("/{BINARY_ASSET_PATH}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(&res.bytes().await.expect("body")[..], BINARY_ASSET_BODY);
}

#[tokio::test]
async fn index_html_itself_is_served_as_is() {
    let server = TestServer::start().await;
    let res = server.get("/index.html").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.expect("body"), INDEX_HTML);
}

#[tokio::test]
async fn api_paths_never_fall_back_to_the_app() {
    let server = TestServer::start().await;
    let res = server.get("/api/signin-page").await;
    let message = expect_json_error(res, StatusCode::NOT_FOUND).await;
    assert!(!message.contains("<!doctype"), "{message}");
}

#[tokio::test]
async fn plain_get_of_ws_path_is_not_the_app() {
    let server = TestServer::start().await;
    for path in ["/ws/foo", "/ws/chat", "/ws/echo"] {
        let res = server.get(path).await;
        assert!(
            res.status().is_client_error(),
            "GET {path} without an upgrade is refused, got {}",
            res.status()
        );
        let body = res.text().await.expect("body");
        assert_ne!(body, INDEX_HTML, "GET {path} is not the app shell");
        common::error_message(&body);
    }
}
