//! The HTTP half of the protocol: who is signed in, signing in, registering, signing out,
//! older messages and rooms (creating, browsing, joining, leaving, inviting, muting, direct
//! messages). The session itself is an `HttpOnly` cookie the browser sends on its own.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use shared::{ErrorBody, Mute, NewRoom, Room, RoomId, ServerMessage, SignIn, User, UserRef};

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

/// `GET /api/rooms/{id}/history`: like [`history`], for one room.
pub async fn room_history(
    room: RoomId,
    before: u64,
    limit: usize,
) -> Result<Vec<ServerMessage>, Error> {
    get(&format!(
        "/api/rooms/{room}/history?before={before}&limit={limit}"
    ))
    .await
}

/// `GET /api/rooms`: the user's rooms, then the public rooms they are not in.
pub async fn rooms() -> Result<Vec<Room>, Error> {
    get("/api/rooms").await
}

/// `POST /api/rooms`: a new room, with the user as its first member.
pub async fn create_room(room: &NewRoom) -> Result<Room, Error> {
    post("/api/rooms", room).await
}

/// `GET /api/rooms/{id}/members`, by name.
pub async fn members(room: RoomId) -> Result<Vec<User>, Error> {
    get(&format!("/api/rooms/{room}/members")).await
}

/// `POST /api/rooms/{id}/join`: joins a public room.
pub async fn join(room: RoomId) -> Result<Room, Error> {
    post(&format!("/api/rooms/{room}/join"), &serde_json::json!({})).await
}

/// `POST /api/rooms/{id}/leave`.
pub async fn leave(room: RoomId) -> Result<(), Error> {
    let response = Request::post(&format!("/api/rooms/{room}/leave"))
        .json(&serde_json::json!({}))?
        .send()
        .await?;
    if response.ok() {
        Ok(())
    } else {
        Err(refusal(response).await)
    }
}

/// `POST /api/rooms/{id}/invite`: makes `user` a member.
pub async fn invite(room: RoomId, user: u64) -> Result<Room, Error> {
    post(&format!("/api/rooms/{room}/invite"), &UserRef { user }).await
}

/// `POST /api/rooms/{id}/mute`.
pub async fn mute(room: RoomId, muted: bool) -> Result<Room, Error> {
    post(&format!("/api/rooms/{room}/mute"), &Mute { muted }).await
}

/// `POST /api/dm`: the one DM room with `user`, created the first time.
pub async fn dm(user: u64) -> Result<Room, Error> {
    post("/api/dm", &UserRef { user }).await
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, Error> {
    let response = Request::get(url).send().await?;
    if response.ok() {
        Ok(response.json().await?)
    } else {
        Err(refusal(response).await)
    }
}

async fn post<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, Error> {
    let response = Request::post(url).json(body)?.send().await?;
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
