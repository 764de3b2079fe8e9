//! HTTPS and WSS on the chat's own port, with a self-signed certificate made per test:
//! sign-in and its cookie flags, HSTS, the origin rule, a `wss://` chat, ALPN, and a
//! server that refuses to start on a bad certificate.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::process::ServerProcess;
use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use shared::{ServerBody, ServerMessage};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
struct Cert {
    dir: TempDir,
    pem: String,
}

impl Cert {
    fn new() -> Self {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("generate a certificate");
        let dir = tempfile::tempdir().expect("a directory for the certificate");
        let pem = made.cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &pem).expect("write the certificate");
        std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem())
            .expect("write the key");
        Cert { dir, pem }
    }

    fn edit(&self) -> impl FnOnce(&mut backend::Config) + '_ {
        move |config| {
            config.tls_cert = Some(self.dir.path().join("cert.pem"));
            config.tls_key = Some(self.dir.path().join("key.pem"));
        }
    }

    /// A client that trusts only this certificate and offers `alpn`.
    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        let der = CertificateDer::from_pem_slice(self.pem.as_bytes()).expect("PEM certificate");
        roots.add(der).expect("trust the certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }

    async fn connect(&self, addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("a server name");
        common::bounded("the TLS handshake", self.connector(alpn).connect(name, tcp))
            .await
            .expect("TLS handshake with the server")
    }
}

/// Status line, headers (lower-cased names) and body of one HTTPS/1.1 exchange.
async fn https(
    cert: &Cert,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, Vec<(String, String)>, String) {
    let mut stream = cert.connect(addr, &[b"http/1.1"]).await;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        addr.port(),
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut raw = Vec::new();
    // A peer that closes without close_notify still gave us the whole answer.
    let _ = common::bounded("the HTTPS answer", stream.read_to_end(&mut raw)).await;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete answer");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Signs in as a guest over HTTPS; the `Set-Cookie` header and the cookie value.
async fn signin(cert: &Cert, addr: SocketAddr, name: &str) -> (String, String) {
    let origin = format!("https://localhost:{}", addr.port());
    let body = json!({ "name": name }).to_string();
    let (status, headers, _) = https(
        cert,
        addr,
        "POST",
        "/api/signin",
        &[("Content-Type", "application/json"), ("Origin", &origin)],
        &body,
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let set_cookie = header(&headers, "set-cookie")
        .expect("a session cookie")
        .to_owned();
    let value = set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.trim().strip_prefix("session="))
        .expect("a session=... pair")
        .to_owned();
    (set_cookie, value)
}

#[tokio::test]
async fn sign_in_over_tls_sets_a_secure_cookie_and_hsts() {
    let cert = Cert::new();
    let server = TestServer::start_with(cert.edit()).await;
    let (set_cookie, value) = signin(&cert, server.addr, "Ada").await;
    let attributes = common::cookie_attributes(&set_cookie);
    for wanted in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "{wanted} in {set_cookie}"
        );
    }
    assert!(
        set_cookie.starts_with("session="),
        "the name stays `session`"
    );
    let cookie = format!("session={value}");
    let (status, headers, body) = https(
        &cert,
        server.addr,
        "GET",
        "/api/me",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"Ada\""), "{body}");
    assert_eq!(
        header(&headers, "strict-transport-security"),
        Some("max-age=31536000")
    );
}

#[tokio::test]
async fn serving_tls_refuses_the_plain_http_origin() {
    let cert = Cert::new();
    let server = TestServer::start_with(cert.edit()).await;
    let origin = format!("http://localhost:{}", server.addr.port());
    let (status, _, body) = https(
        &cert,
        server.addr,
        "POST",
        "/api/signin",
        &[("Content-Type", "application/json"), ("Origin", &origin)],
        &json!({ "name": "Ada" }).to_string(),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 403 Forbidden", "{body}");
}

#[tokio::test]
async fn wss_chat_works_over_tls() {
    let cert = Cert::new();
    let server = TestServer::start_with(cert.edit()).await;
    let (_, value) = signin(&cert, server.addr, "Ada").await;
    let port = server.addr.port();
    let mut request = format!("wss://localhost:{port}/ws/chat")
        .into_client_request()
        .expect("a WebSocket request");
    let headers = request.headers_mut();
    headers.insert(
        "cookie",
        HeaderValue::from_str(&format!("session={value}")).expect("cookie"),
    );
    headers.insert(
        "origin",
        HeaderValue::from_str(&format!("https://localhost:{port}")).expect("origin"),
    );
    let stream = cert.connect(server.addr, &[b"http/1.1"]).await;
    let (mut ws, response) = common::bounded(
        "the wss:// handshake",
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .expect("WebSocket handshake over TLS");
    assert_eq!(response.status().as_u16(), 101);
    ws.send(Message::text(common::ws::chat_frame("hello over tls")))
        .await
        .expect("send a chat message");
    let heard = common::bounded("the chat message back", async {
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else { continue };
            if let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) {
                if let ServerBody::Chat { text, .. } = msg.body {
                    return text;
                }
            }
        }
        String::new()
    })
    .await;
    assert_eq!(heard, "hello over tls");
}

#[tokio::test]
async fn http2_is_offered_by_alpn_and_http1_remains() {
    let cert = Cert::new();
    let server = TestServer::start_with(cert.edit()).await;
    let h2 = cert.connect(server.addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let h1 = cert.connect(server.addr, &[b"http/1.1"]).await;
    assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn head_over_http2_has_the_get_head_and_no_body() {
    let cert = Cert::new();
    let server = TestServer::start_with(cert.edit()).await;
    let tls = cert.connect(server.addr, &[b"h2"]).await;
    let (client, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(connection);
    let port = server.addr.port();
    for (path, status) in [("/", 200), ("/api/me", 401)] {
        let mut client = client.clone().ready().await.expect("h2 ready");
        let request = http::Request::head(format!("https://localhost:{port}{path}"))
            .body(())
            .expect("a request");
        let (response, _) = client.send_request(request, true).expect("send HEAD");
        let response = common::bounded("the HEAD answer", response)
            .await
            .expect("HEAD answered without a stream error");
        assert_eq!(response.status().as_u16(), status, "HEAD {path}");
        let length = response.headers().get("content-length").cloned();
        assert!(
            length.is_some_and(|l| l != "0"),
            "HEAD {path} states the GET length"
        );
        let mut body = response.into_body();
        assert!(body.data().await.is_none(), "HEAD {path} has no body");
    }
}

#[tokio::test]
async fn stalled_tls_handshake_is_closed_within_the_header_timeout() {
    let cert = Cert::new();
    let server = TestServer::start_with(|c| {
        cert.edit()(c);
        c.header_timeout_secs = 1;
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    // Half a ClientHello record header, then nothing.
    stream.write_all(&[0x16, 0x03]).await.expect("send");
    let mut buf = [0u8; 64];
    let start = std::time::Instant::now();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "closed within 5 s");
    assert!(start.elapsed() >= std::time::Duration::from_millis(700));
}

#[tokio::test]
async fn unreadable_certificate_stops_the_server_with_a_clear_message() {
    let data = tempfile::tempdir().expect("a data directory");
    let missing = data.path().join("missing.pem");
    let missing = missing.to_str().expect("a UTF-8 path");
    let (code, stderr) =
        ServerProcess::run_to_end(data.path(), &["--tls-cert", missing, "--tls-key", missing]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(code.is_some(), "exits rather than being killed: {stderr}");
    assert!(
        stderr.contains("TLS") && stderr.contains("missing.pem"),
        "{stderr}"
    );
}
