//! The single-page app: files from the built client, `index.html` for client routes.

use std::path::PathBuf;

use warp::http::header;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// GET for any path outside `/api` and `/ws`.
pub fn spa(dist: PathBuf) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let index = dist.join("index.html");
    let files = warp::fs::dir(dist).map(Reply::into_response);
    // Client routes get the app shell; it must never be cached or an old build lingers.
    let shell = warp::fs::file(index).map(|file: warp::fs::File| {
        warp::reply::with_header(file, header::CACHE_CONTROL, "no-cache").into_response()
    });
    // Reserved paths are ruled out before the method, so `POST /api/nope` is a 404.
    not_reserved()
        .and(warp::get())
        .and(files.or(shell).unify().or(not_built()).unify())
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
fn not_built() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::any().and_then(|| async {
        let page = warp::reply::html(
            "<!doctype html><meta charset=utf-8><title>Chat</title>\
             <h1>The client has not been built yet</h1>\
             <p>Run <code>scripts/run</code>, or <code>trunk build --release</code> in the \
             project root and reload this page.</p>",
        )
        .into_response();
        Ok::<_, Rejection>(page)
    })
}
