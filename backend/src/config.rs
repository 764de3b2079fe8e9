//! Server configuration: command-line flags, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// How the chat server is set up. `Default` gives the same values as running with no flags.
#[derive(Debug, Clone, Parser)]
#[command(name = "backend", version, about = "The chat server")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Directory holding the built client (`trunk build --release` writes `dist/`).
    #[arg(long, env = "CHAT_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// Extra origins allowed to open WebSockets, e.g. `http://localhost:8080` for
    /// `trunk serve`. Repeat the flag, or separate them with commas in the variable.
    #[arg(
        long = "allow-origin",
        env = "CHAT_ALLOW_ORIGINS",
        value_delimiter = ',',
        num_args = 1
    )]
    pub allow_origins: Vec<String>,

    /// Key that signs session cookies. Without one a random key is generated and
    /// sessions do not survive a restart.
    #[arg(long, env = "CHAT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            dist: PathBuf::from("dist"),
            allow_origins: Vec::new(),
            secret: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_running_without_flags() {
        let parsed = Config::try_parse_from(["backend"]).unwrap();
        let default = Config::default();
        assert_eq!(parsed.addr, default.addr);
        assert_eq!(parsed.dist, default.dist);
        assert!(parsed.allow_origins.is_empty());
    }

    #[test]
    fn allow_origin_flag_can_repeat_and_split_on_commas() {
        let parsed = Config::try_parse_from([
            "backend",
            "--allow-origin",
            "http://a.test,http://b.test",
            "--allow-origin",
            "http://c.test",
        ])
        .unwrap();
        assert_eq!(
            parsed.allow_origins,
            ["http://a.test", "http://b.test", "http://c.test"]
        );
    }
}
