//! The built client held in memory: every file of `dist/` read once at start, and the
//! text-like ones compressed once (gzip and brotli) on a background thread, so no request
//! reads a disk, compresses anything or waits for a compression.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Most bytes of `dist/` kept in memory; files past it are left out with a warning.
const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;
/// Deepest directory nesting read under `dist/`.
const MAX_DEPTH: usize = 8;
/// Below this size compression saves less than the header costs.
const MIN_COMPRESS_BYTES: usize = 256;

/// How long browsers may keep a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Named after its content (`name-<hash>.ext`): a new build gets a new name.
    Immutable,
    /// The app shell: always asked again, or an old build lingers.
    Revalidate,
    /// Anything else: kept briefly.
    Short,
}

impl CachePolicy {
    /// The `Cache-Control` value.
    pub fn header(self) -> &'static str {
        match self {
            CachePolicy::Immutable => "public, max-age=31536000, immutable",
            CachePolicy::Revalidate => "no-cache",
            CachePolicy::Short => "public, max-age=300",
        }
    }
}

/// The compressed forms of one file; a form that would not be smaller is left out.
#[derive(Debug, Default)]
pub struct Compressed {
    pub br: Option<Bytes>,
    pub gzip: Option<Bytes>,
}

impl Compressed {
    /// Slow on purpose (best ratios): runs once per file, off the runtime.
    fn of(body: &[u8]) -> Self {
        let smaller = |packed: Vec<u8>| (packed.len() < body.len()).then(|| Bytes::from(packed));
        Compressed {
            br: brotli(body).and_then(smaller),
            gzip: gzip(body).and_then(smaller),
        }
    }
}

fn brotli(body: &[u8]) -> Option<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(body.len() / 2);
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
    Some(out)
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 2),
        flate2::Compression::best(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

/// One file of the built client.
#[derive(Debug)]
pub struct Asset {
    pub body: Bytes,
    pub content_type: &'static str,
    pub cache: CachePolicy,
    /// Strong validator of the uncompressed body, quoted.
    pub etag: String,
    /// `None` for types that do not compress (images, fonts, ...).
    compressed: Option<OnceLock<Compressed>>,
}

impl Asset {
    fn new(path: &str, body: Vec<u8>, cache: CachePolicy) -> Self {
        let (content_type, compressible) = content_type(path);
        let digest = Sha256::digest(&body);
        let etag = format!(
            "\"{}\"",
            digest[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Asset {
            compressed: (compressible && body.len() >= MIN_COMPRESS_BYTES).then(OnceLock::new),
            body: Bytes::from(body),
            content_type,
            cache,
            etag,
        }
    }

    /// Whether the file has compressed forms at all (and so varies by `Accept-Encoding`).
    pub fn compressible(&self) -> bool {
        self.compressed.is_some()
    }

    /// The compressed forms once they are made; until then the file goes out as it is.
    pub fn compressed(&self) -> Option<&Compressed> {
        self.compressed.as_ref()?.get()
    }

    /// Makes the compressed forms if they are not made yet. Slow: call it off the runtime.
    fn compress(&self) {
        if let Some(cell) = &self.compressed {
            cell.get_or_init(|| Compressed::of(&self.body));
        }
    }
}

/// `Content-Type` by extension, and whether the type is worth compressing.
fn content_type(path: &str) -> (&'static str, bool) {
    let ext = path.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => ("text/html; charset=utf-8", true),
        "js" | "mjs" => ("text/javascript; charset=utf-8", true),
        "css" => ("text/css; charset=utf-8", true),
        "wasm" => ("application/wasm", true),
        "json" | "map" => ("application/json", true),
        "webmanifest" => ("application/manifest+json", true),
        "svg" => ("image/svg+xml", true),
        "txt" => ("text/plain; charset=utf-8", true),
        "xml" => ("application/xml", true),
        "png" => ("image/png", false),
        "jpg" | "jpeg" => ("image/jpeg", false),
        "gif" => ("image/gif", false),
        "webp" => ("image/webp", false),
        "avif" => ("image/avif", false),
        "ico" => ("image/x-icon", false),
        "woff2" => ("font/woff2", false),
        "woff" => ("font/woff", false),
        _ => ("application/octet-stream", false),
    }
}

/// Whether trunk named the file (or a directory on its path) after its content:
/// `frontend-0a1b2c3d4e5f6a7b_bg.wasm`, `styles-0a1b2c3d4e5f6a7b.css`,
/// `snippets/crate-0a1b2c3d4e5f6a7b/inline0.js`.
pub fn is_content_hashed(path: &str) -> bool {
    path.split('/').any(|segment| {
        let stem = segment.split('.').next().unwrap_or("");
        let stem = stem.strip_suffix("_bg").unwrap_or(stem);
        stem.rsplit_once('-').is_some_and(|(_, hash)| {
            hash.len() >= 12 && hash.bytes().all(|b| b.is_ascii_hexdigit())
        })
    })
}

/// Every file of `dist/`, by its path relative to it (`assets/app.js`).
#[derive(Debug, Default)]
pub struct Dist {
    files: HashMap<String, Arc<Asset>>,
}

impl Dist {
    /// Reads `dir` recursively. Dot files and symlinked directories are skipped; a
    /// missing directory gives an empty `Dist` (the "not built" page is served).
    pub fn load(dir: &Path) -> Self {
        let mut dist = Dist::default();
        let mut total = 0u64;
        dist.read_dir(dir, "", 0, &mut total);
        dist
    }

    fn read_dir(&mut self, dir: &Path, prefix: &str, depth: usize, total: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = format!("{prefix}{name}");
            if kind.is_dir() {
                if depth < MAX_DEPTH {
                    self.read_dir(&entry.path(), &format!("{path}/"), depth + 1, total);
                }
                continue;
            }
            // Files may be symlinks to files (followed); anything else is skipped.
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if *total + meta.len() > MAX_TOTAL_BYTES {
                tracing::warn!(%path, "dist/ is too large: file left out");
                continue;
            }
            let Ok(body) = std::fs::read(entry.path()) else {
                tracing::warn!(%path, "cannot read a file of dist/");
                continue;
            };
            *total += body.len() as u64;
            let cache = if path == "index.html" {
                CachePolicy::Revalidate
            } else if is_content_hashed(&path) {
                CachePolicy::Immutable
            } else {
                CachePolicy::Short
            };
            let asset = Asset::new(&path, body, cache);
            self.files.insert(path, Arc::new(asset));
        }
    }

    /// The file at `path` (relative, no leading `/`). Only names read from the directory
    /// exist here, so `..` or any other path trick finds nothing.
    pub fn get(&self, path: &str) -> Option<&Arc<Asset>> {
        self.files.get(path)
    }

    /// Number of files and their total size.
    pub fn size(&self) -> (usize, usize) {
        let bytes = self.files.values().map(|a| a.body.len()).sum();
        (self.files.len(), bytes)
    }

    /// Compresses every file on a thread of its own, smallest first (the app shell is
    /// ready at once); requests meanwhile get the files as they are.
    pub fn compress_in_background(self: &Arc<Self>) {
        let dist = self.clone();
        let spawned = std::thread::Builder::new()
            .name("compress-dist".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let mut assets: Vec<&Arc<Asset>> = dist.files.values().collect();
                assets.sort_by_key(|asset| asset.body.len());
                for asset in assets {
                    asset.compress();
                }
                let ms = started.elapsed().as_millis() as u64;
                tracing::info!(ms, "client files compressed (gzip and brotli)");
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start compressing the client: it is sent uncompressed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_hashed_names_are_recognised() {
        assert!(is_content_hashed("frontend-4f2a9c1b7d3e5a60_bg.wasm"));
        assert!(is_content_hashed("frontend-4f2a9c1b7d3e5a60.js"));
        assert!(is_content_hashed("styles-0a1b2c3d4e5f6a7b.css"));
        assert!(is_content_hashed(
            "snippets/web-0a1b2c3d4e5f6a7b/inline0.js"
        ));
        assert!(!is_content_hashed("index.html"));
        assert!(!is_content_hashed("robots.txt"));
        assert!(!is_content_hashed("my-app.js"));
        assert!(!is_content_hashed("app-3f2a9c.js"));
    }

    #[test]
    fn an_asset_is_compressed_once_and_kept() {
        let asset = Asset::new(
            "app.js",
            "let x = 1;\n".repeat(100).into_bytes(),
            CachePolicy::Short,
        );
        assert!(asset.compressed().is_none(), "nothing before compress()");
        asset.compress();
        let first = asset.compressed().expect("compressed") as *const Compressed;
        asset.compress();
        let again = asset.compressed().expect("compressed") as *const Compressed;
        assert!(
            std::ptr::eq(first, again),
            "the second call reuses the first result"
        );
    }

    #[test]
    fn images_get_no_compressed_forms() {
        let asset = Asset::new("logo.png", vec![7; 4096], CachePolicy::Short);
        asset.compress();
        assert!(!asset.compressible());
        assert!(asset.compressed().is_none());
    }

    #[test]
    fn compressed_forms_are_smaller_and_decode_to_the_original() {
        let body = "fn main() { println!(\"hello\"); }\n".repeat(200);
        let made = Compressed::of(body.as_bytes());
        let br = made.br.expect("brotli helps on repetitive text");
        let gzip = made.gzip.expect("gzip helps on repetitive text");
        assert!(br.len() < body.len() && gzip.len() < body.len());

        let mut unbr = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut unbr).expect("valid brotli");
        assert_eq!(unbr, body.as_bytes());
        let mut ungz = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut ungz)
            .expect("valid gzip");
        assert_eq!(ungz, body);
    }
}
