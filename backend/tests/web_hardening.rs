//! The hardened web app: security headers on every response, a CSP that allows trunk's
//! inline loader by hash and nothing else inline, cache lifetimes by file kind, the wasm
//! sent compressed (compressed once), and no way out of `dist/`.

mod common;

use std::io::Read;
use std::path::Path;

use base64::Engine;
use common::{bounded, TestServer};
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// trunk's loader, as `trunk build` inlines it into `index.html`.
const LOADER: &str = "\nimport init, * as bindings from '/frontend-4f2a9c1b7d3e5a60.js';\n\
const wasm = await init({ module_or_path: '/frontend-4f2a9c1b7d3e5a60_bg.wasm' });\n\
window.wasmBindings = bindings;\n";
const WASM_PATH: &str = "frontend-4f2a9c1b7d3e5a60_bg.wasm";
const JS_PATH: &str = "frontend-4f2a9c1b7d3e5a60.js";
const PLAIN_PATH: &str = "robots.txt";
const PNG_PATH: &str = "logo.png";
/// Kept next to `dist/`, never inside it: no request may reach it.
const SECRET_NEXT_TO_DIST: &str = "secret next to dist: must never be served";

/// A wasm-like binary: repetitive enough to compress, as real wasm does (about 2.4x).
fn wasm_body() -> Vec<u8> {
    let mut body = b"\0asm\x01\0\0\0".to_vec();
    for i in 0..40_000u32 {
        body.extend_from_slice(&[0x20, (i % 7) as u8, 0x41, (i % 251) as u8, 0x6a, 0x0b]);
    }
    body
}

fn index_html() -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Chat</title>\
         <link rel=\"stylesheet\" href=\"/styles-0a1b2c3d4e5f6a7b.css\">\
         <script type=\"module\">{LOADER}</script></head><body></body></html>\n"
    )
}

/// `<root>/dist` like trunk's output, and a secret file in `<root>` beside it.
fn site() -> (TempDir, std::path::PathBuf) {
    let root = tempfile::tempdir().expect("create a temporary directory");
    let dist = root.path().join("dist");
    std::fs::create_dir_all(&dist).expect("create dist/");
    let write = |path: &str, body: &[u8]| std::fs::write(dist.join(path), body).expect("write");
    write("index.html", index_html().as_bytes());
    write(WASM_PATH, &wasm_body());
    write(
        JS_PATH,
        "export default function init() {}\n".repeat(50).as_bytes(),
    );
    write(PLAIN_PATH, b"User-agent: *\nDisallow:\n");
    write(PNG_PATH, &[0x89, b'P', b'N', b'G', 0, 1, 2, 3]);
    std::fs::write(root.path().join("secret.txt"), SECRET_NEXT_TO_DIST).expect("write");
    (root, dist)
}

async fn start(dist: &Path) -> TestServer {
    let dist = dist.to_path_buf();
    TestServer::start_with(move |config| config.dist = dist).await
}

/// Starts a server on `dist` and waits until its files are compressed: that happens once,
/// in the background, and until then files go out as they are.
async fn start_compressed(dist: &Path) -> TestServer {
    let server = start(dist).await;
    let path = format!("/{WASM_PATH}");
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let res = get(&server, &path, Some("br")).await;
        if header(&res, CONTENT_ENCODING).is_some() {
            return server;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the wasm is still not compressed after {:?}",
            common::WAIT
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn get(server: &TestServer, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    let mut req = server.http.get(server.url(path));
    if let Some(accept) = accept_encoding {
        req = req.header(ACCEPT_ENCODING, accept);
    }
    bounded(&format!("GET {path}"), req.send())
        .await
        .unwrap_or_else(|err| panic!("GET {path}: {err}"))
}

fn header(res: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let csp = header(res, "content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    for directive in [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive:?} in {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        header(res, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(res, "x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        header(res, "referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (_root, dist) = site();
    let server = start(&dist).await;
    for path in [
        "/",
        "/chat",
        &format!("/{WASM_PATH}"),
        "/api/me",
        "/api/nope",
    ] {
        let res = get(&server, path, None).await;
        assert_security_headers(&res, &format!("GET {path} ({})", res.status()));
    }
    let res = server
        .post_signin_json(&serde_json::json!({ "name": "Ada" }))
        .await;
    assert_security_headers(&res, "POST /api/signin");
    let res = server.post_signin_raw("{not json", None).await;
    assert!(res.status().is_client_error());
    assert_security_headers(&res, "a refused POST /api/signin");
    let res = get(&server, "/ws/chat", None).await;
    assert_security_headers(&res, "GET /ws/chat without an upgrade");
}

#[tokio::test]
async fn csp_allows_trunks_inline_loader_by_its_hash_only() {
    let (_root, dist) = site();
    let server = start(&dist).await;
    let res = get(&server, "/", None).await;
    let csp = header(&res, "content-security-policy").expect("CSP");
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(LOADER));
    assert!(
        csp.contains(&format!(
            "script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}';"
        )),
        "the loader's hash and nothing else inline: {csp}"
    );
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert_eq!(res.text().await.expect("body"), index_html());
}

#[tokio::test]
async fn content_hashed_assets_are_cached_for_a_year() {
    let (_root, dist) = site();
    let server = start(&dist).await;
    for path in [WASM_PATH, JS_PATH] {
        let res = get(&server, &format!("/{path}"), Some("br, gzip")).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&res, CACHE_CONTROL).as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn app_shell_is_revalidated_and_other_files_cached_briefly() {
    let (_root, dist) = site();
    let server = start(&dist).await;
    for path in ["/", "/index.html", "/rooms/42"] {
        let res = get(&server, path, None).await;
        assert_eq!(
            header(&res, CACHE_CONTROL).as_deref(),
            Some("no-cache"),
            "{path}"
        );
    }
    let res = get(&server, &format!("/{PLAIN_PATH}"), None).await;
    assert_eq!(
        header(&res, CACHE_CONTROL).as_deref(),
        Some("public, max-age=300")
    );
}

#[tokio::test]
async fn wasm_travels_compressed_when_the_client_accepts_it() {
    let (_root, dist) = site();
    let server = start_compressed(&dist).await;
    let raw = wasm_body();
    let path = format!("/{WASM_PATH}");

    let res = get(&server, &path, None).await;
    assert_eq!(
        header(&res, CONTENT_ENCODING),
        None,
        "identity without Accept-Encoding"
    );
    assert_eq!(
        header(&res, CONTENT_TYPE).as_deref(),
        Some("application/wasm")
    );
    assert_eq!(header(&res, VARY).as_deref(), Some("accept-encoding"));
    assert_eq!(header(&res, CONTENT_LENGTH), Some(raw.len().to_string()));
    assert_eq!(&res.bytes().await.expect("body")[..], &raw[..]);

    let res = get(&server, &path, Some("gzip, deflate, br, zstd")).await;
    assert_eq!(
        header(&res, CONTENT_ENCODING).as_deref(),
        Some("br"),
        "br preferred"
    );
    assert_eq!(header(&res, VARY).as_deref(), Some("accept-encoding"));
    let length = header(&res, CONTENT_LENGTH).expect("Content-Length");
    let br = res.bytes().await.expect("body");
    assert_eq!(length, br.len().to_string());
    assert!(
        br.len() * 2 < raw.len(),
        "br {} of {} bytes",
        br.len(),
        raw.len()
    );
    let mut unpacked = Vec::new();
    brotli::BrotliDecompress(&mut &br[..], &mut unpacked).expect("valid brotli");
    assert_eq!(unpacked, raw);

    let res = get(&server, &path, Some("gzip;q=1, br;q=0.5")).await;
    assert_eq!(
        header(&res, CONTENT_ENCODING).as_deref(),
        Some("gzip"),
        "q-values"
    );
    let gz = res.bytes().await.expect("body");
    assert!(
        gz.len() * 2 < raw.len(),
        "gzip {} of {} bytes",
        gz.len(),
        raw.len()
    );
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unpacked)
        .expect("valid gzip");
    assert_eq!(unpacked, raw);

    let res = get(&server, &path, Some("br;q=0, gzip;q=0")).await;
    assert_eq!(header(&res, CONTENT_ENCODING), None, "both refused");
    assert_eq!(res.bytes().await.expect("body").len(), raw.len());
}

#[tokio::test]
async fn compressed_bodies_are_made_once_and_reused() {
    let (_root, dist) = site();
    let server = start_compressed(&dist).await;
    let path = format!("/{WASM_PATH}");
    let first = get(&server, &path, Some("br")).await;
    let etag = header(&first, ETAG).expect("ETag");
    let first = first.bytes().await.expect("body");
    for _ in 0..5 {
        let again = get(&server, &path, Some("br")).await;
        assert_eq!(header(&again, ETAG).as_deref(), Some(etag.as_str()));
        assert_eq!(again.bytes().await.expect("body"), first);
    }
}

#[tokio::test]
async fn images_are_sent_as_they_are_even_when_compression_is_accepted() {
    let (_root, dist) = site();
    let server = start(&dist).await;
    let res = get(&server, &format!("/{PNG_PATH}"), Some("br, gzip")).await;
    assert_eq!(header(&res, CONTENT_ENCODING), None);
    assert_eq!(header(&res, CONTENT_TYPE).as_deref(), Some("image/png"));
    assert_eq!(
        &res.bytes().await.expect("body")[..],
        &[0x89, b'P', b'N', b'G', 0, 1, 2, 3]
    );
}

#[tokio::test]
async fn matching_etag_gets_not_modified_without_a_body() {
    let (_root, dist) = site();
    let server = start_compressed(&dist).await;
    for accept in [None, Some("br")] {
        let res = get(&server, "/", accept).await;
        let etag = header(&res, ETAG).expect("ETag");
        let mut req = server
            .http
            .get(server.url("/"))
            .header(IF_NONE_MATCH, &etag);
        if let Some(accept) = accept {
            req = req.header(ACCEPT_ENCODING, accept);
        }
        let res = bounded("conditional GET /", req.send())
            .await
            .expect("conditional GET /");
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{accept:?}");
        assert_eq!(header(&res, CACHE_CONTROL).as_deref(), Some("no-cache"));
        assert!(res.bytes().await.expect("body").is_empty());
    }
}

/// Sends `GET <target>` exactly as written (no client-side normalising of `..`).
async fn raw_get(server: &TestServer, target: &str) -> String {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await?;
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    bounded(&format!("raw GET {target}"), exchange)
        .await
        .unwrap_or_else(|err| panic!("raw GET {target}: {err}"))
}

#[tokio::test]
async fn path_traversal_never_leaves_dist() {
    let (_root, dist) = site();
    let server = start(&dist).await;
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/assets/../../secret.txt",
        "/..%2f..%2fsecret.txt",
        "/.%2e/secret.txt",
        "//secret.txt",
        "/%5c..%5csecret.txt",
    ] {
        let answer = raw_get(&server, target).await;
        assert!(
            !answer.contains(SECRET_NEXT_TO_DIST),
            "GET {target} must not reach outside dist/: {answer}"
        );
    }
}

#[tokio::test]
async fn missing_client_build_gets_a_page_that_says_so() {
    let empty = tempfile::tempdir().expect("create an empty dist/");
    let server = start(empty.path()).await;
    let res = get(&server, "/", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CACHE_CONTROL).as_deref(), Some("no-cache"));
    assert_security_headers(&res, "the not-built page");
    let body = res.text().await.expect("body");
    assert!(body.contains("has not been built"), "{body}");
}
