//! Which origins and hosts the server answers: one rule for WebSocket handshakes and for
//! state-changing `POST`s, so a page on another site can neither open a chat socket nor
//! sign a visitor in or out.

use crate::Config;

/// HSTS value sent on every answer once the chat is known to be reached over HTTPS.
pub const HSTS: &str = "max-age=31536000";

/// Whether browsers reach the chat over HTTPS: TLS served here, or an https public URL.
pub fn serves_https(config: &Config) -> bool {
    config.tls_cert.is_some() || config.public_url.as_ref().is_some_and(|u| u.is_https())
}

/// Whether a request with this `Origin` (if any) and this host (the `Host` header or the
/// HTTP/2 authority) may change state or open a socket.
///
/// No `Origin` passes: it is not a browser, and browsers always send one on these
/// requests. With `--public-url`, only that origin and `--allow-origin` pass. Without it,
/// the origin must name the request's own host (`https://` when serving TLS here, either
/// scheme otherwise, since a proxy in front may terminate TLS), or be an allowed one.
pub fn allowed(origin: Option<&str>, host: Option<&str>, config: &Config) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    let extra = config
        .allow_origins
        .iter()
        .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin));
    if extra {
        return true;
    }
    if let Some(public) = &config.public_url {
        return public.origin().eq_ignore_ascii_case(origin);
    }
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return false;
    };
    let (scheme, rest) = match origin.split_once("://") {
        Some(parts) => parts,
        None => return false,
    };
    let scheme_ok = if config.tls_cert.is_some() {
        scheme.eq_ignore_ascii_case("https")
    } else {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    };
    scheme_ok && rest.eq_ignore_ascii_case(host)
}

/// Whether the request's host is one this server answers for: with `--public-url` only
/// its host (against DNS rebinding), otherwise any.
pub fn host_allowed(host: Option<&str>, config: &Config) -> bool {
    match &config.public_url {
        None => true,
        Some(public) => host.is_some_and(|h| h.eq_ignore_ascii_case(&public.host)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(edit: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::default();
        edit(&mut config);
        config
    }

    #[test]
    fn same_origin_and_configured_origins_pass() {
        let plain = config(|c| c.allow_origins = vec!["http://localhost:8080".into()]);
        let host = Some("127.0.0.1:3000");
        assert!(allowed(Some("http://127.0.0.1:3000"), host, &plain));
        assert!(allowed(Some("http://127.0.0.1:3000/"), host, &plain));
        assert!(allowed(Some("http://localhost:8080"), host, &plain));
        assert!(allowed(None, host, &plain));
        assert!(allowed(None, None, &plain));
    }

    #[test]
    fn https_origin_of_the_own_host_passes_behind_a_tls_proxy() {
        let plain = Config::default();
        assert!(allowed(
            Some("https://chat.test"),
            Some("chat.test"),
            &plain
        ));
    }

    #[test]
    fn foreign_origin_is_refused() {
        let plain = Config::default();
        let host = Some("127.0.0.1:3000");
        assert!(!allowed(Some("http://evil.test"), host, &plain));
        assert!(!allowed(Some("null"), host, &plain));
        assert!(!allowed(
            Some("http://chat.test.evil"),
            Some("chat.test"),
            &plain
        ));
        assert!(!allowed(Some("http://chat.test"), None, &plain));
        assert!(!allowed(Some("chat.test"), Some("chat.test"), &plain));
    }

    #[test]
    fn serving_tls_here_accepts_only_the_https_origin() {
        let tls = config(|c| {
            c.tls_cert = Some("cert.pem".into());
            c.tls_key = Some("key.pem".into());
        });
        assert!(allowed(Some("https://chat.test"), Some("chat.test"), &tls));
        assert!(!allowed(Some("http://chat.test"), Some("chat.test"), &tls));
        assert!(serves_https(&tls));
    }

    #[test]
    fn public_url_is_the_only_own_origin_and_host() {
        let public = config(|c| {
            c.public_url = Some("https://chat.example.org".parse().unwrap());
            c.allow_origins = vec!["http://localhost:8080".into()];
        });
        let host = Some("chat.example.org");
        assert!(allowed(Some("https://chat.example.org"), host, &public));
        assert!(allowed(Some("http://localhost:8080"), host, &public));
        assert!(!allowed(Some("http://chat.example.org"), host, &public));
        // A rebinding page on evil.test reaches us with its own Host and Origin.
        assert!(!allowed(
            Some("http://evil.test"),
            Some("evil.test"),
            &public
        ));
        assert!(!host_allowed(Some("evil.test"), &public));
        assert!(host_allowed(Some("CHAT.example.org"), &public));
        assert!(!host_allowed(None, &public));
        assert!(host_allowed(Some("anything"), &Config::default()));
        assert!(serves_https(&public));
        assert!(!serves_https(&Config::default()));
    }
}
