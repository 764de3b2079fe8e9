//! The room endpoints: the directory, one room, its members and history (read straight
//! from the store), and the changes (create, join, leave, invite, mute, DM) that go
//! through the hub, so their events take their place in the one ordered stream.
//!
//! A private room or DM answers a non-member exactly like a room that does not exist, and
//! so does an id that does not parse: `404 no_such_room` every time.

use shared::{Mute, NewRoom, RoomId, RoomKind, UserRef};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::filters::{json_body, query_string, same_origin, session, with_state};
use super::history::{history_reply, parse_history_query};
use crate::error::ApiError;
use crate::hub::RoomOp;
use crate::session::Session;
use crate::state::AppState;
use crate::store::rooms;

/// Most members `GET /api/rooms/{id}/members` lists.
pub const MEMBERS_PAGE: usize = 500;

/// GET /api/rooms
pub fn list(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms")
        .and(warp::get())
        .and(session(state.clone()))
        .and(with_state(state))
        .and_then(handlers::list)
}

/// POST /api/rooms
pub fn create(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(session(state.clone()))
        .and(json_body())
        .and(with_state(state))
        .and_then(handlers::create)
}

/// GET /api/rooms/{id}
pub fn get(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms" / String)
        .and(warp::get())
        .and(session(state.clone()))
        .and(with_state(state))
        .and_then(handlers::get)
}

/// GET /api/rooms/{id}/members
pub fn members(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms" / String / "members")
        .and(warp::get())
        .and(session(state.clone()))
        .and(with_state(state))
        .and_then(handlers::members)
}

/// GET /api/rooms/{id}/history?before=<id>&limit=<n>
pub fn history(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms" / String / "history")
        .and(warp::get())
        .and(session(state.clone()))
        .and(query_string())
        .and(with_state(state))
        .and_then(handlers::history)
}

/// POST /api/rooms/{id}/join
pub fn join(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms" / String / "join")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(session(state.clone()))
        .and(with_state(state))
        .and_then(handlers::join)
}

/// POST /api/rooms/{id}/leave
pub fn leave(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms" / String / "leave")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(session(state.clone()))
        .and(with_state(state))
        .and_then(handlers::leave)
}

/// POST /api/rooms/{id}/invite
pub fn invite(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms" / String / "invite")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(session(state.clone()))
        .and(json_body())
        .and(with_state(state))
        .and_then(handlers::invite)
}

/// POST /api/rooms/{id}/mute
pub fn mute(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "rooms" / String / "mute")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(session(state.clone()))
        .and(json_body())
        .and(with_state(state))
        .and_then(handlers::mute)
}

/// POST /api/dm
pub fn dm(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "dm")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(session(state.clone()))
        .and(json_body())
        .and(with_state(state))
        .and_then(handlers::dm)
}

/// The room id in a path; one that does not parse is a room that does not exist.
fn room_id(raw: &str) -> Result<RoomId, ApiError> {
    raw.parse().map_err(|_| ApiError::NoSuchRoom)
}

fn json(value: &impl serde::Serialize, status: StatusCode) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

pub mod handlers {
    //! What each room endpoint does once its request is understood.

    use super::*;

    /// The user's rooms, then the public rooms they are not in.
    pub async fn list(session: Session, state: AppState) -> Result<Response, Rejection> {
        let user = session.user.id;
        let rooms = state
            .store
            .call(move |db| rooms::directory(db, user))
            .await
            .map_err(ApiError::from)?;
        Ok(json(&rooms, StatusCode::OK))
    }

    /// An account creates a public or private room and becomes its first member. Guests
    /// cannot; names follow the user-name rules; 20 rooms an hour per user.
    pub async fn create(
        session: Session,
        body: NewRoom,
        state: AppState,
    ) -> Result<Response, Rejection> {
        if session.user.guest {
            return Err(
                ApiError::Forbidden("guests cannot create rooms; register an account").into(),
            );
        }
        if body.kind == RoomKind::Dm {
            return Err(ApiError::BadRequest(
                "kind must be public or private; direct messages are made with POST /api/dm".into(),
            )
            .into());
        }
        let name = shared::validate_room_name(&body.name)
            .map_err(|err| ApiError::BadName(err.to_string()))?;
        let topic = shared::validate_topic(&body.topic)
            .map_err(|err| ApiError::BadName(err.to_string()))?;
        let user = session.user.id;
        let counted = state
            .room_creations
            .take(&user)
            .map_err(|wait| ApiError::Limited("too many new rooms", wait))?;
        let op = RoomOp::Create {
            by: session.user,
            name,
            topic,
            kind: body.kind,
        };
        match state.hub.room(op).await {
            Ok(room) => Ok(json(&room, StatusCode::CREATED)),
            Err(refusal) => {
                // Only rooms actually created count against the user.
                state.room_creations.refund(&user, counted);
                Err(ApiError::from(refusal).into())
            }
        }
    }

    /// The room as the user sees it.
    pub async fn get(id: String, session: Session, state: AppState) -> Result<Response, Rejection> {
        let (room, user) = (room_id(&id)?, session.user.id);
        let found = state
            .store
            .call(move |db| rooms::view(db, room, user))
            .await
            .map_err(ApiError::from)?;
        let room = found.ok_or(ApiError::NoSuchRoom)?;
        Ok(json(&room, StatusCode::OK))
    }

    /// Members of a room the user may see, by name.
    pub async fn members(
        id: String,
        session: Session,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let (room, user) = (room_id(&id)?, session.user.id);
        let found = state
            .store
            .call(move |db| match rooms::visible(db, room, user)? {
                Some(_) => rooms::members(db, room, MEMBERS_PAGE).map(Some),
                None => Ok(None),
            })
            .await
            .map_err(ApiError::from)?;
        let members = found.ok_or(ApiError::NoSuchRoom)?;
        Ok(json(&members, StatusCode::OK))
    }

    /// A page of a room's stored events, for members only (of public rooms too: joining
    /// is how one reads them).
    pub async fn history(
        id: String,
        session: Session,
        raw_query: String,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let (room, user) = (room_id(&id)?, session.user.id);
        let (before, limit) = parse_history_query(&raw_query)?;
        let found = state
            .store
            .call(move |db| match rooms::is_member(db, room, user)? {
                true => rooms::history(db, room, before, limit).map(Some),
                false => Ok(None),
            })
            .await
            .map_err(ApiError::from)?;
        let rows = found.ok_or(ApiError::NoSuchRoom)?;
        Ok(history_reply(&rows)?)
    }

    /// Joins a public room; joining again changes nothing.
    pub async fn join(
        id: String,
        session: Session,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let room = room_id(&id)?;
        let op = RoomOp::Join {
            user: session.user,
            room,
        };
        let room = state.hub.room(op).await.map_err(ApiError::from)?;
        Ok(json(&room, StatusCode::OK))
    }

    /// Leaves a room; not `general`, not a DM.
    pub async fn leave(
        id: String,
        session: Session,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let room = room_id(&id)?;
        let op = RoomOp::Leave {
            user: session.user,
            room,
        };
        state.hub.room(op).await.map_err(ApiError::from)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    /// A member adds another user to a public or private room.
    pub async fn invite(
        id: String,
        session: Session,
        body: UserRef,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let room = room_id(&id)?;
        let op = RoomOp::Invite {
            by: session.user,
            room,
            user: body.user,
        };
        let room = state.hub.room(op).await.map_err(ApiError::from)?;
        Ok(json(&room, StatusCode::OK))
    }

    /// A member mutes or unmutes a room for themselves.
    pub async fn mute(
        id: String,
        session: Session,
        body: Mute,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let room = room_id(&id)?;
        let op = RoomOp::Mute {
            user: session.user,
            room,
            muted: body.muted,
        };
        let room = state.hub.room(op).await.map_err(ApiError::from)?;
        Ok(json(&room, StatusCode::OK))
    }

    /// The one DM of the user and another, made the first time.
    pub async fn dm(
        session: Session,
        body: UserRef,
        state: AppState,
    ) -> Result<Response, Rejection> {
        if body.user == session.user.id {
            return Err(ApiError::BadRequest("a direct message needs another user".into()).into());
        }
        state
            .dm_requests
            .take(&session.user.id)
            .map_err(|wait| ApiError::Limited("too many direct messages opened", wait))?;
        let op = RoomOp::Dm {
            user: session.user,
            with: body.user,
        };
        let room = state.hub.room(op).await.map_err(ApiError::from)?;
        Ok(json(&room, StatusCode::OK))
    }
}
