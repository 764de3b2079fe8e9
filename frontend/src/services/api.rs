//! The HTTP half of the protocol: who is signed in, signing in and signing out.
//! The session itself is an `HttpOnly` cookie the browser sends on its own.

use gloo_net::http::{Request, Response};
use shared::{ErrorBody, SignIn, User};

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

/// `POST /api/signin`: creates a new user with this name and sets the session cookie.
/// A bad name comes back as [`Error::Rejected`] carrying the server's explanation.
pub async fn sign_in(name: &str) -> Result<User, Error> {
    let body = SignIn {
        name: name.to_owned(),
    };
    let response = Request::post("/api/signin").json(&body)?.send().await?;
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

/// Turns a failed answer into an error, keeping the server's message when it sent one.
async fn refusal(response: Response) -> Error {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => Error::Rejected {
            status,
            message: body.error,
        },
        Err(_) => Error::Status(status),
    }
}
