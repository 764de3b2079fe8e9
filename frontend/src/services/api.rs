//! The HTTP half of the protocol: who is signed in, signing in, registering, signing out and
//! older messages. The session itself is an `HttpOnly` cookie the browser sends on its own.

use gloo_net::http::{Request, Response};
use shared::{ErrorBody, ServerMessage, SignIn, User};

use crate::error::Error;

/// `GET /api/me`: the signed-in user, or `None` when the visitor has no valid session.
pub async fn me() -> Result<Option<User>, Error> {
    let response = Request::get("/api/me").send().await?;
    match response.status() {
        200 => Ok(Some(response.json().await?)),
        401 => Ok(None),
        _ => Err(refusal(response).await),
    }
}

/// `POST /api/signin`: a new guest without a password, the account's user with one. Refusals
/// (bad name, wrong password, name taken by an account, guests off, too many tries) come back
/// as errors carrying the server's explanation.
pub async fn sign_in(name: &str, password: Option<&str>) -> Result<User, Error> {
    post_credentials("/api/signin", name, password).await
}

/// `POST /api/register`: creates an account and signs it in.
pub async fn register(name: &str, password: &str) -> Result<User, Error> {
    post_credentials("/api/register", name, Some(password)).await
}

async fn post_credentials(url: &str, name: &str, password: Option<&str>) -> Result<User, Error> {
    let body = SignIn {
        name: name.to_owned(),
        password: password.map(str::to_owned),
    };
    let response = Request::post(url).json(&body)?.send().await?;
    if response.ok() {
        Ok(response.json().await?)
    } else {
        Err(refusal(response).await)
    }
}

/// `POST /api/signout`: clears the cookie; the server also closes this session's sockets.
pub async fn sign_out() -> Result<(), Error> {
    let response = Request::post("/api/signout").send().await?;
    if response.ok() {
        Ok(())
    } else {
        Err(refusal(response).await)
    }
}

/// `GET /api/history`: up to `limit` stored messages with ids below `before`, oldest first;
/// empty once the beginning of the conversation is reached.
pub async fn history(before: u64, limit: usize) -> Result<Vec<ServerMessage>, Error> {
    let url = format!("/api/history?before={before}&limit={limit}");
    let response = Request::get(&url).send().await?;
    if response.ok() {
        Ok(response.json().await?)
    } else {
        Err(refusal(response).await)
    }
}

/// Turns a failed answer into an error carrying the server's code (the page words it).
/// A 429 says how long to wait: `Retry-After`, or the body's `retry_after`.
async fn refusal(response: Response) -> Error {
    let status = response.status();
    let header_wait: Option<u64> = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.trim().parse().ok());
    let body = response.json::<ErrorBody>().await.ok();
    if status == 429 {
        let wait = header_wait.or(body.and_then(|body| body.retry_after));
        return Error::TooManyAttempts(wait);
    }
    match body {
        Some(body) => Error::Rejected {
            status,
            code: body.code,
            message: body.error,
        },
        None => Error::Status(status),
    }
}
