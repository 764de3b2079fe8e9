//! Server-side sessions behind a signed cookie.
//!
//! The cookie value is `<token>.<tag>`: a random 256-bit token and an HMAC-SHA256 tag over
//! it with the server's secret, both base64url. The database keeps only the token's
//! SHA-256 hash. A value whose tag does not verify is turned away without a lookup; one
//! whose session is unknown, idle too long or signed out counts as no session at all.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use shared::User;

use crate::store::{accounts, Store, StoreError};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "session";
/// Cookie values longer than this are not even parsed.
const MAX_COOKIE_LEN: usize = 256;
/// Session cookies looked at per request (a browser sends one; more is someone probing).
const MAX_SESSION_COOKIES: usize = 4;
/// Random bytes in a session token.
const TOKEN_BYTES: usize = 32;

/// A signed-in user and the session that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The stored session's id; sign-out closes the sockets opened with it.
    pub id: u64,
    pub user: User,
    token_hash: [u8; 32],
}

/// Issues, checks and ends sessions. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    key: std::sync::Arc<[u8]>,
    idle: Duration,
    secure: bool,
}

impl Sessions {
    /// Sessions signed with `key` that end after `idle` without use.
    pub fn new(store: Store, key: &[u8], idle: Duration) -> Self {
        Sessions {
            store,
            key: key.into(),
            idle,
            secure: false,
        }
    }

    /// Marks the cookie `Secure` (sent over HTTPS only): for a chat reached over HTTPS.
    /// The name stays `session`, which the protocol fixes, so no `__Host-` prefix.
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    /// How long a session lasts without use (also the cookie's `Max-Age`).
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Starts a session for `user`, returning the cookie value that proves it.
    pub async fn issue(&self, user: &User) -> Result<String, StoreError> {
        let mut token = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut token);
        let hash = token_hash(&token);
        let user_id = user.id;
        self.store
            .call(move |db| accounts::create_session(db, &hash, user_id, unix_millis()))
            .await?;
        let token = URL_SAFE_NO_PAD.encode(token);
        let tag = URL_SAFE_NO_PAD.encode(self.tag(token.as_bytes()));
        Ok(format!("{token}.{tag}"))
    }

    /// The session a cookie value proves, if any.
    pub async fn verify(&self, value: &str) -> Result<Option<Session>, StoreError> {
        let Some(token_hash) = self.check_signature(value) else {
            return Ok(None);
        };
        let idle_ms = self.idle.as_millis() as u64;
        let found = self
            .store
            .call(move |db| accounts::session(db, &token_hash, idle_ms, unix_millis()))
            .await?;
        Ok(found.map(|(id, user)| Session {
            id,
            user,
            token_hash,
        }))
    }

    /// The session carried by a request's `Cookie` headers, if any verifies.
    pub async fn from_headers(&self, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
        self.from_values(&session_cookies(headers)).await
    }

    /// The first of these cookie values that proves a session.
    pub async fn from_values(&self, values: &[String]) -> Result<Option<Session>, StoreError> {
        for value in values {
            if let Some(session) = self.verify(value).await? {
                return Ok(Some(session));
            }
        }
        Ok(None)
    }

    /// Ends a session: its cookie is worthless from now on.
    pub async fn revoke(&self, session: &Session) -> Result<(), StoreError> {
        let hash = session.token_hash;
        self.store
            .call(move |db| accounts::delete_session(db, &hash))
            .await?;
        Ok(())
    }

    /// `Set-Cookie` value that stores a session.
    pub fn set_cookie(&self, value: &str) -> String {
        format!(
            "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            self.idle.as_secs(),
            self.secure_attr()
        )
    }

    /// `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        format!("{}{}", clear_cookie(), self.secure_attr())
    }

    fn secure_attr(&self) -> &'static str {
        if self.secure {
            "; Secure"
        } else {
            ""
        }
    }

    /// The token hash of a value whose tag verifies; `None` for anything else.
    fn check_signature(&self, value: &str) -> Option<[u8; 32]> {
        if value.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (token, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(token.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let token = URL_SAFE_NO_PAD.decode(token).ok()?;
        Some(token_hash(&token))
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length")
    }

    fn tag(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// `Set-Cookie` value that removes the session cookie (without `Secure`).
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

fn token_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// Session cookie values a request carries, copied out; a few at most are looked at.
pub fn session_cookies(headers: &HeaderMap) -> Vec<String> {
    cookie_values(headers, COOKIE_NAME)
        .take(MAX_SESSION_COOKIES)
        .map(str::to_owned)
        .collect()
}

/// Every value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
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

pub(crate) fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn sessions() -> (Sessions, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sessions = Sessions::new(store, b"key", Duration::from_secs(3600));
        (sessions, dir)
    }

    async fn guest(s: &Sessions, name: &str) -> User {
        let name = name.to_owned();
        s.store
            .call(move |db| accounts::create_user(db, &name, None, 0))
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn issued_cookie_verifies_to_the_same_user() {
        let (s, _dir) = sessions();
        let ada = guest(&s, "Ada").await;
        let value = s.issue(&ada).await.unwrap();
        assert_eq!(s.verify(&value).await.unwrap().unwrap().user, ada);
    }

    #[tokio::test]
    async fn forged_cookie_is_treated_as_signed_out() {
        let (s, _dir) = sessions();
        let ada = guest(&s, "Ada").await;
        let value = s.issue(&ada).await.unwrap();
        let (token, _) = value.split_once('.').unwrap();
        let forged = format!("{token}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
        assert_eq!(s.verify(&forged).await.unwrap(), None);
        let classic = URL_SAFE_NO_PAD.encode(r#"{"id":1,"name":"Ada"}"#);
        assert_eq!(s.verify(&classic).await.unwrap(), None);
    }

    #[tokio::test]
    async fn signed_out_cookie_no_longer_verifies() {
        let (s, _dir) = sessions();
        let ada = guest(&s, "Ada").await;
        let value = s.issue(&ada).await.unwrap();
        let session = s.verify(&value).await.unwrap().unwrap();
        s.revoke(&session).await.unwrap();
        assert_eq!(s.verify(&value).await.unwrap(), None);
    }

    #[tokio::test]
    async fn garbage_cookie_values_do_not_verify() {
        let (s, _dir) = sessions();
        for value in ["", ".", "a.b", "....", "%%%.%%%", &"x".repeat(5000)] {
            assert_eq!(s.verify(value).await.unwrap(), None, "{value:?}");
        }
    }

    #[test]
    fn secure_sessions_mark_their_cookies_secure() {
        let (s, _dir) = sessions();
        assert!(!s.set_cookie("v").contains("Secure"));
        let s = s.secure(true);
        assert!(s.set_cookie("v").ends_with("; Secure"));
        assert!(s.clear_cookie().contains("Max-Age=0; Secure"));
        assert!(s.set_cookie("v").starts_with("session=v; "));
    }

    #[tokio::test]
    async fn session_is_found_among_other_cookies() {
        let (s, _dir) = sessions();
        let bo = guest(&s, "Bo").await;
        let value = s.issue(&bo).await.unwrap();
        let mut map = HeaderMap::new();
        let header = format!("theme=dark; session=junk; session={value}");
        map.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&header).unwrap(),
        );
        assert_eq!(s.from_headers(&map).await.unwrap().unwrap().user, bo);
    }
}
