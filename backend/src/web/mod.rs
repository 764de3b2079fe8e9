//! The single-page app: files from the built client, `index.html` for client routes, and
//! the security headers every response carries.

mod assets;
mod encoding;
mod headers;

use std::path::Path;
use std::sync::Arc;

use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

pub use headers::SecurityHeaders;

use assets::{Asset, Dist};
use encoding::Coding;

use crate::net::PublicUrl;

/// The built client, read once at start. Rebuilding the client needs a restart.
#[derive(Debug, Clone)]
pub struct Site {
    dist: Arc<Dist>,
    headers: SecurityHeaders,
}

impl Site {
    /// Reads `dist` into memory and starts compressing its files in the background.
    pub fn load(dist: &Path, public_url: Option<&PublicUrl>) -> Self {
        let files = Dist::load(dist);
        let (count, bytes) = files.size();
        match files.get("index.html") {
            Some(_) => tracing::info!(dir = %dist.display(), count, bytes, "client loaded"),
            None => tracing::warn!(
                dir = %dist.display(),
                "the client is not built: serving a page that says so"
            ),
        }
        let index = files.get("index.html").map(|a| &a.body[..]);
        let headers = SecurityHeaders::new(index, public_url);
        let dist = Arc::new(files);
        dist.compress_in_background();
        Site { dist, headers }
    }

    /// The headers every response gets, the API's included.
    pub fn security_headers(&self) -> SecurityHeaders {
        self.headers.clone()
    }

    /// The answer to `GET <path>` with the request's `headers`.
    fn respond(&self, path: &str, headers: &HeaderMap) -> Response {
        let relative = path.trim_start_matches('/');
        let decoded = percent_encoding::percent_decode_str(relative).decode_utf8();
        let found = match decoded.as_deref() {
            Ok("") => None,
            Ok(relative) => self.dist.get(relative),
            Err(_) => None,
        };
        // Client routes get the app shell.
        match found.or_else(|| self.dist.get("index.html")) {
            Some(asset) => serve(asset, headers),
            None => not_built(),
        }
    }
}

/// GET for any path outside `/api` and `/ws`.
pub fn spa(site: Site) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    // Reserved paths are ruled out before the method, so `POST /api/nope` is a 404.
    not_reserved()
        .and(warp::get())
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .map(move |path: warp::path::FullPath, headers: HeaderMap| {
            site.respond(path.as_str(), &headers)
        })
}

/// One file, compressed when the client accepts it, or `304` when it has it already.
fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let accept = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let (br, gzip) = asset
        .compressed()
        .map(|c| (c.br.as_ref(), c.gzip.as_ref()))
        .unwrap_or((None, None));
    let coding = encoding::choose(accept, br.is_some(), gzip.is_some());
    let (body, etag, content_encoding) = match (coding, br, gzip) {
        (Coding::Br, Some(br), _) => (br.clone(), tagged(&asset.etag, "br"), Some("br")),
        (Coding::Gzip, _, Some(gzip)) => (gzip.clone(), tagged(&asset.etag, "gz"), Some("gzip")),
        _ => (asset.body.clone(), asset.etag.clone(), None),
    };

    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| matches_etag(tags, &etag));
    let mut res = if fresh {
        let mut res = Response::default();
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let mut res = Response::new(body.into());
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(value) = content_encoding {
            res.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(value));
        }
        res
    };
    let headers = res.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache.header()),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    if asset.compressible() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// `"abc"` with a coding suffix: `"abc-br"`; each representation has its own tag.
fn tagged(etag: &str, suffix: &str) -> String {
    format!("{}-{suffix}\"", etag.trim_end_matches('"'))
}

/// `If-None-Match` compares weakly: `W/` prefixes are ignored, `*` matches anything.
fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Rejects `/api/*` and `/ws/*`, which never fall back to the app.
fn not_reserved() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::peek()
        .and_then(|peek: warp::path::Peek| async move {
            match peek.segments().next() {
                Some("api") | Some("ws") => Err(warp::reject::not_found()),
                _ => Ok(()),
            }
        })
        .untuple_one()
}

/// What `/` shows when the client has not been built yet.
fn not_built() -> Response {
    let page = warp::reply::html(
        "<!doctype html><meta charset=utf-8><title>Chat</title>\
         <h1>The client has not been built yet</h1>\
         <p>Run <code>scripts/run</code>, or <code>trunk build --release</code> in the \
         project root and restart the server.</p>",
    );
    warp::reply::with_header(page, header::CACHE_CONTROL, "no-cache").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_weakly_and_by_list() {
        assert!(matches_etag("\"a\"", "\"a\""));
        assert!(matches_etag("W/\"a\"", "\"a\""));
        assert!(matches_etag("\"x\", \"a\"", "\"a\""));
        assert!(matches_etag("*", "\"a\""));
        assert!(!matches_etag("\"a-br\"", "\"a\""));
    }

    #[test]
    fn each_coding_has_its_own_etag() {
        assert_eq!(tagged("\"abc\"", "br"), "\"abc-br\"");
    }
}
