//! Security headers on every response: a strict Content-Security-Policy that still lets
//! the wasm client run, no framing, no MIME sniffing, no referrer.

use base64::Engine;
use sha2::{Digest, Sha256};
use warp::http::header::{self, HeaderValue};
use warp::reply::Response;

use crate::net::PublicUrl;

/// The headers, built once at start. Cloning copies a few reference-counted strings.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// `index_html` is the app shell: its inline scripts (trunk's loader) are allowed by
    /// their sha256, so a rebuilt client never needs a policy change and nothing else
    /// inline can run.
    pub fn new(index_html: Option<&[u8]>, public_url: Option<&PublicUrl>) -> Self {
        let csp = policy(index_html, public_url);
        let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| {
            // Only hashes and our own host go in; a host no header can carry falls back
            // to the policy without it.
            HeaderValue::from_str(&policy(index_html, None))
                .unwrap_or(HeaderValue::from_static("default-src 'self'"))
        });
        SecurityHeaders { csp }
    }

    /// Adds the headers to `res`, replacing any of the same name.
    pub fn apply(&self, mut res: Response) -> Response {
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        res
    }
}

/// The Content-Security-Policy text.
fn policy(index_html: Option<&[u8]>, public_url: Option<&PublicUrl>) -> String {
    let mut script_src = String::from("'self' 'wasm-unsafe-eval'");
    for hash in index_html.map(inline_script_hashes).unwrap_or_default() {
        script_src.push_str(&format!(" 'sha256-{hash}'"));
    }
    // 'self' covers ws(s) to the same host in CSP 3; browsers that predate that need the
    // socket origin by name, which we know only from --public-url.
    let mut connect_src = String::from("'self'");
    if let Some(url) = public_url {
        let scheme = if url.is_https() { "wss" } else { "ws" };
        connect_src.push_str(&format!(" {scheme}://{}", url.host));
    }
    format!(
        "default-src 'self'; script-src {script_src}; style-src 'self'; \
         img-src 'self' data:; connect-src {connect_src}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Base64 sha256 of the text of every `<script>` without `src` in `html`, as a browser
/// hashes it for CSP: the raw bytes between the tags.
pub fn inline_script_hashes(html: &[u8]) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut hashes = Vec::new();
    let mut at = 0;
    while let Some(open) = find(&lower[at..], b"<script").map(|i| at + i) {
        let Some(tag_end) = find(&lower[open..], b">").map(|i| open + i) else {
            break;
        };
        let Some(close) = find(&lower[tag_end..], b"</script").map(|i| tag_end + i) else {
            break;
        };
        let attrs = &lower[open + b"<script".len()..tag_end];
        if !has_src(attrs) {
            let text = &html[tag_end + 1..close];
            hashes.push(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text)));
        }
        at = close + b"</script".len();
    }
    hashes
}

fn has_src(attrs: &[u8]) -> bool {
    attrs
        .split(|b| b.is_ascii_whitespace())
        .any(|attr| attr == b"src" || attr.starts_with(b"src="))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let loader = "\nimport init from '/frontend-0123456789abcdef.js';\nawait init();\n";
        let html = format!(
            "<html><head><script src=\"/x.js\"></script>\
             <SCRIPT type=\"module\">{loader}</SCRIPT>\
             <script>one()</script></head></html>"
        );
        assert_eq!(
            inline_script_hashes(html.as_bytes()),
            [sha(loader), sha("one()")]
        );
    }

    #[test]
    fn policy_allows_the_loader_and_wasm_but_nothing_else_inline() {
        let csp = policy(Some(b"<script type=module>go()</script>"), None);
        assert!(csp.contains(&format!(
            "script-src 'self' 'wasm-unsafe-eval' 'sha256-{}';",
            sha("go()")
        )));
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("object-src 'none'"), "{csp}");
        assert!(csp.contains("base-uri 'none'"), "{csp}");
    }

    #[test]
    fn public_url_names_the_socket_origin() {
        let url: PublicUrl = "https://chat.example.org".parse().expect("valid URL");
        let csp = policy(None, Some(&url));
        assert!(
            csp.contains("connect-src 'self' wss://chat.example.org;"),
            "{csp}"
        );
    }
}
