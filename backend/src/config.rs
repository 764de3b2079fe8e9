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

    /// Key that signs session cookies. Without one, a random key is generated once and
    /// kept in the data directory.
    #[arg(long, env = "CHAT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Directory for the database (`chat.db`) and the generated signing key.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Keep everything in memory instead of the data directory: nothing survives a
    /// restart. For trying the chat out and for measuring what storage costs.
    #[arg(long, env = "CHAT_IN_MEMORY", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub in_memory: bool,

    /// Turn guest sign-in (a name without a password) off.
    #[arg(long, env = "CHAT_NO_GUESTS", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub no_guests: bool,

    /// Days a session may go unused before it expires.
    #[arg(long, env = "CHAT_SESSION_IDLE_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub session_idle_days: u64,

    /// Chat messages a user may send in a burst.
    #[arg(long, env = "CHAT_RATE_BURST", default_value_t = 5.0)]
    pub rate_burst: f64,

    /// Chat messages per second a user's allowance refills by.
    #[arg(long, env = "CHAT_RATE_PER_SEC", default_value_t = 1.0)]
    pub rate_per_sec: f64,

    /// Failed password sign-ins allowed per name per minute.
    #[arg(long, env = "CHAT_LOGIN_FAILS_PER_NAME", default_value_t = 5)]
    pub login_fails_per_name: usize,

    /// Failed password sign-ins allowed per client address per minute.
    #[arg(long, env = "CHAT_LOGIN_FAILS_PER_ADDR", default_value_t = 20)]
    pub login_fails_per_addr: usize,

    /// Instead of serving: write a consistent copy of the database to this file and exit.
    /// Safe while a server is running on the same data directory.
    #[arg(long, value_name = "FILE")]
    pub backup_to: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            dist: PathBuf::from("dist"),
            allow_origins: Vec::new(),
            secret: None,
            data_dir: PathBuf::from("data"),
            in_memory: false,
            no_guests: false,
            session_idle_days: 30,
            rate_burst: 5.0,
            rate_per_sec: 1.0,
            login_fails_per_name: 5,
            login_fails_per_addr: 20,
            backup_to: None,
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
        assert_eq!(parsed.data_dir, default.data_dir);
        assert_eq!(parsed.no_guests, default.no_guests);
        assert_eq!(parsed.session_idle_days, default.session_idle_days);
        assert_eq!(parsed.rate_burst, default.rate_burst);
        assert_eq!(parsed.rate_per_sec, default.rate_per_sec);
        assert_eq!(parsed.login_fails_per_name, default.login_fails_per_name);
        assert_eq!(parsed.login_fails_per_addr, default.login_fails_per_addr);
    }

    #[test]
    fn no_guests_flag_stands_alone_or_takes_a_value() {
        assert!(
            Config::try_parse_from(["backend", "--no-guests"])
                .unwrap()
                .no_guests
        );
        assert!(
            !Config::try_parse_from(["backend", "--no-guests", "false"])
                .unwrap()
                .no_guests
        );
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
