//! Picking a content coding from `Accept-Encoding` (RFC 9110 §12.5.3), q-values included.

/// What a response body is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

/// The coding to send, among those the file has. Brotli wins ties (it is smaller); an
/// unparsable header or none at all means identity, which is always acceptable to us:
/// answering 406 would only break odd clients.
pub fn choose(accept_encoding: Option<&str>, have_br: bool, have_gzip: bool) -> Coding {
    let Some(header) = accept_encoding else {
        return Coding::Identity;
    };
    let (mut br, mut gzip, mut identity, mut star) = (None, None, None, None::<f32>);
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = Some(1.0f32);
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    q = value
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q));
                }
            }
        }
        // An item with a broken q-value is ignored, as if it were absent.
        let Some(q) = q else { continue };
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "identity" => identity = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = if have_br {
        br.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    let gzip = if have_gzip {
        gzip.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    // Identity is always acceptable; it wins only when named with a higher q.
    let best = br.max(gzip);
    if best <= 0.0 || identity.is_some_and(|q| q > best) {
        Coding::Identity
    } else if br >= gzip {
        Coding::Br
    } else {
        Coding::Gzip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_brotli() {
        assert_eq!(
            choose(Some("gzip, deflate, br, zstd"), true, true),
            Coding::Br
        );
    }

    #[test]
    fn gzip_only_clients_get_gzip() {
        assert_eq!(choose(Some("gzip"), true, true), Coding::Gzip);
        assert_eq!(choose(Some("x-gzip"), true, true), Coding::Gzip);
    }

    #[test]
    fn no_header_means_identity() {
        assert_eq!(choose(None, true, true), Coding::Identity);
        assert_eq!(choose(Some(""), true, true), Coding::Identity);
        assert_eq!(choose(Some("deflate"), true, true), Coding::Identity);
    }

    #[test]
    fn q_values_rank_codings() {
        assert_eq!(
            choose(Some("br;q=0.5, gzip;q=0.8"), true, true),
            Coding::Gzip
        );
        assert_eq!(choose(Some("br;q=0, gzip"), true, true), Coding::Gzip);
        assert_eq!(
            choose(Some("br;q=0, gzip;q=0"), true, true),
            Coding::Identity
        );
        assert_eq!(
            choose(Some("gzip;q=0.3, identity"), true, true),
            Coding::Identity
        );
    }

    #[test]
    fn star_covers_unnamed_codings() {
        assert_eq!(choose(Some("*"), true, true), Coding::Br);
        assert_eq!(choose(Some("*;q=0.5, br;q=0"), true, true), Coding::Gzip);
    }

    #[test]
    fn codings_the_file_lacks_are_not_chosen() {
        assert_eq!(choose(Some("br"), false, true), Coding::Identity);
        assert_eq!(choose(Some("br, gzip"), false, true), Coding::Gzip);
    }

    #[test]
    fn broken_q_values_are_ignored() {
        assert_eq!(choose(Some("br;q=lots, gzip"), true, true), Coding::Gzip);
        assert_eq!(choose(Some("br;q=2"), true, true), Coding::Identity);
    }
}
