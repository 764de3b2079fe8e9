//! The HTTP side: JSON API routes, and the single-page app for every other `GET`.
//!
//! Layout after warp's todos example: `routes()` is the table, `filters` build the
//! pieces, `handlers` do the work (`rooms` holds both for the room endpoints). Every
//! error becomes a rejection, turned into the `{"error": ..., "code": ...}` answer in one
//! place, [`crate::error::handle_rejection`].

pub mod filters;
pub mod handlers;
pub mod health;
pub mod history;
pub mod rooms;

use warp::Filter;

use crate::error::handle_rejection;
use crate::state::AppState;

/// Every HTTP route of the server.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let probes = health::live().or(health::ready(state.clone())).unify();
    let accounts = filters::signin(state.clone())
        .or(filters::register(state.clone()))
        .unify()
        .or(filters::me(state.clone()))
        .unify()
        .or(filters::signout(state.clone()))
        .unify()
        .or(filters::history(state.clone()))
        .unify();
    let rooms = rooms::list(state.clone())
        .or(rooms::create(state.clone()))
        .unify()
        .or(rooms::get(state.clone()))
        .unify()
        .or(rooms::members(state.clone()))
        .unify()
        .or(rooms::history(state.clone()))
        .unify()
        .or(rooms::join(state.clone()))
        .unify()
        .or(rooms::leave(state.clone()))
        .unify()
        .or(rooms::invite(state.clone()))
        .unify()
        .or(rooms::mute(state.clone()))
        .unify()
        .or(rooms::dm(state.clone()))
        .unify();
    let site = crate::web::Site::load(&state.config.dist, state.config.public_url.as_ref());
    let security = site.security_headers();
    probes
        .or(accounts)
        .unify()
        .or(rooms)
        .unify()
        .or(filters::ws_without_upgrade())
        .unify()
        .or(crate::web::spa(site))
        .map(warp::Reply::into_response)
        .recover(handle_rejection)
        .unify()
        .map(move |res| security.apply(res))
        .with(warp::trace::request())
}
