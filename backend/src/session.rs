//! Signed session cookies.
//!
//! The cookie value is `<payload>.<tag>`, both base64url: the payload is the user and a
//! random session id, the tag an HMAC-SHA256 over the payload with the server's secret.
//! Anything that does not verify, has expired, or was signed out counts as no session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shared::User;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "session";
/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Cookie values longer than this are not even parsed.
const MAX_COOKIE_LEN: usize = 1024;

/// A signed-in user and the session that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Random id of this sign-in; sign-out revokes it.
    pub id: u64,
    pub user: User,
    /// Seconds since the Unix epoch after which the session is void.
    pub expires: u64,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    sid: u64,
    uid: u64,
    name: String,
    exp: u64,
}

/// Issues and checks session cookies. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    shared: Arc<Shared>,
}

struct Shared {
    key: Vec<u8>,
    /// Signed-out session ids with their expiry, so a copied cookie stops working at once.
    /// Entries are dropped once they would have expired anyway. The lock is never held
    /// across an `.await`.
    revoked: Mutex<HashMap<u64, u64>>,
}

impl Sessions {
    /// Uses `secret` as the signing key, or a random one when there is none.
    pub fn new(secret: Option<&str>) -> Self {
        let key = match secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                key
            }
        };
        Sessions {
            shared: Arc::new(Shared {
                key,
                revoked: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts a session for `user`, returning it and the cookie value that proves it.
    pub fn issue(&self, user: User) -> (Session, String) {
        let session = Session {
            id: rand::rng().next_u64(),
            user,
            expires: unix_now() + SESSION_LIFETIME.as_secs(),
        };
        let payload = Payload {
            sid: session.id,
            uid: session.user.id,
            name: session.user.name.clone(),
            exp: session.expires,
        };
        // Serializing a struct of integers and a string cannot fail.
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(self.tag(body.as_bytes()));
        (session, format!("{body}.{tag}"))
    }

    /// The session a cookie value proves, if it is genuine, current and not signed out.
    pub fn verify(&self, value: &str) -> Option<Session> {
        if value.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (body, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let payload: Payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        if payload.exp <= unix_now() || self.is_revoked(payload.sid) {
            return None;
        }
        let name = shared::validate_name(&payload.name).ok()?;
        Some(Session {
            id: payload.sid,
            user: User::new(payload.uid, name),
            expires: payload.exp,
        })
    }

    /// The session carried by a request's `Cookie` headers, if any verifies.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<Session> {
        cookie_values(headers, COOKIE_NAME).find_map(|value| self.verify(value))
    }

    /// Makes the session's cookie worthless from now on.
    pub fn revoke(&self, session: &Session) {
        let now = unix_now();
        let mut revoked = self.lock_revoked();
        revoked.retain(|_, expires| *expires > now);
        revoked.insert(session.id, session.expires);
    }

    fn is_revoked(&self, id: u64) -> bool {
        self.lock_revoked().contains_key(&id)
    }

    fn lock_revoked(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        self.shared
            .revoked
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.shared.key).expect("HMAC takes any key length")
    }

    fn tag(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// `Set-Cookie` value that stores a session.
pub fn set_cookie(value: &str) -> String {
    format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    )
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Every value of cookie `name` in the request's `Cookie` headers.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"'))
        })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(cookie: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(http::header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        map
    }

    #[test]
    fn issued_cookie_verifies_to_the_same_user() {
        let sessions = Sessions::new(Some("k"));
        let (session, value) = sessions.issue(User::new(3, "Ada"));
        assert_eq!(sessions.verify(&value), Some(session));
    }

    #[test]
    fn forged_cookie_is_treated_as_signed_out() {
        let sessions = Sessions::new(Some("k"));
        let (_, value) = sessions.issue(User::new(3, "Ada"));
        let (_, tag) = value.split_once('.').unwrap();
        let payload = r#"{"sid":1,"uid":1,"name":"Mallory","exp":99999999999}"#;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(payload));
        assert_eq!(sessions.verify(&forged), None);
        let other_key = Sessions::new(Some("other"));
        assert_eq!(other_key.verify(&value), None);
    }

    #[test]
    fn signed_out_cookie_no_longer_verifies() {
        let sessions = Sessions::new(None);
        let (session, value) = sessions.issue(User::new(3, "Ada"));
        sessions.revoke(&session);
        assert_eq!(sessions.verify(&value), None);
    }

    #[test]
    fn garbage_cookie_values_do_not_verify() {
        let sessions = Sessions::new(None);
        for value in ["", ".", "a.b", "....", "%%%.%%%", &"x".repeat(5000)] {
            assert_eq!(sessions.verify(value), None, "{value:?}");
        }
    }

    #[test]
    fn session_is_found_among_other_cookies() {
        let sessions = Sessions::new(None);
        let (session, value) = sessions.issue(User::new(9, "Bo"));
        let map = headers(&format!("theme=dark; session=junk; session={value}"));
        assert_eq!(sessions.from_headers(&map), Some(session));
        assert_eq!(sessions.from_headers(&headers("theme=dark")), None);
    }
}
