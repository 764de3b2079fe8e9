//! Server configuration: command-line flags, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// How the chat server is set up. `Default` gives the same values as running with no flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "backend",
    version,
    about = "The chat server",
    disable_help_subcommand = true
)]
pub struct Config {
    /// Instead of serving, run a command; without one the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

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
        env = "CHAT_ALLOW_ORIGIN",
        value_delimiter = ',',
        num_args = 1
    )]
    pub allow_origins: Vec<String>,

    /// Key that signs session cookies, at least 32 bytes. Without one, a random key is
    /// generated once and kept in the data directory.
    #[arg(
        long,
        env = "CHAT_SECRET",
        hide_env_values = true,
        conflicts_with = "secret_file"
    )]
    pub secret: Option<String>,

    /// File holding the key that signs session cookies (at least 32 bytes), so the key
    /// stays out of the process list and the environment.
    #[arg(long, env = "CHAT_SECRET_FILE", value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Directory for the database (`chat.db`) and the generated signing key.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// PostgreSQL database shared by several servers (`postgres://user@host:port/db`).
    /// Without it the chat keeps its SQLite database in the data directory.
    #[arg(
        long = "database-url",
        visible_alias = "database",
        env = "CHAT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Milliseconds between looks at the shared database for what other servers stored,
    /// besides the wake-ups they send (PostgreSQL only).
    #[arg(long, env = "CHAT_POLL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_ms: u64,

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

    /// Failed password sign-ins allowed per name from one client address per minute.
    #[arg(long, env = "CHAT_LOGIN_FAILS_PER_NAME", default_value_t = 5)]
    pub login_fails_per_name: usize,

    /// Failed password sign-ins allowed per client address per minute, all names together.
    #[arg(long, env = "CHAT_LOGIN_FAILS_PER_ADDR", default_value_t = 20)]
    pub login_fails_per_addr: usize,

    /// Failed password sign-ins allowed per name per minute from all addresses together.
    /// Much higher than the per-address figure, so guesses from elsewhere never lock the
    /// owner out; it only slows a guessing botnet down.
    #[arg(long, env = "CHAT_LOGIN_FAILS_PER_NAME_TOTAL", default_value_t = 100)]
    pub login_fails_per_name_total: usize,

    /// Password hashes (argon2id, 19 MiB each) computed at once. Default: the number of CPUs.
    #[arg(long, env = "CHAT_HASH_CONCURRENCY", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub hash_concurrency: Option<u32>,

    /// Requests that may wait for a password hash; past that they get `503`.
    #[arg(long, env = "CHAT_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,

    /// Accounts that may be registered per client address per hour.
    #[arg(long, env = "CHAT_SIGNUPS_PER_ADDR_HOUR", default_value_t = 20)]
    pub signups_per_addr_hour: usize,

    /// Guest sign-ins allowed per client address per hour.
    #[arg(long, env = "CHAT_GUESTS_PER_ADDR_HOUR", default_value_t = 60)]
    pub guests_per_addr_hour: usize,

    /// Open connections in total. Default: what the file-descriptor limit allows, less a
    /// reserve for the database and logs.
    #[arg(long, env = "CHAT_MAX_CONNS")]
    pub max_conns: Option<usize>,

    /// Open connections per client address (IPv6 counted per /64).
    #[arg(long, env = "CHAT_MAX_CONNS_PER_ADDR", default_value_t = 256)]
    pub max_conns_per_addr: usize,

    /// Seconds a client gets to send a request's headers.
    #[arg(long, env = "CHAT_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,

    /// Seconds an HTTP keep-alive connection may sit idle between requests.
    #[arg(long, env = "CHAT_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,

    /// Chat sockets one session may hold open at once.
    #[arg(long, env = "CHAT_MAX_SOCKETS_PER_SESSION", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_sockets_per_session: u64,

    /// Bytes a socket may have queued for sending before it is closed with 1008.
    #[arg(long, env = "CHAT_SOCKET_QUEUE_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(64 * 1024..=1024 * 1024 * 1024))]
    pub socket_queue_bytes: u64,

    /// Seconds a socket may go without taking a byte while data waits for it; then it is
    /// closed with 1008.
    #[arg(long, env = "CHAT_WRITE_DEADLINE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_deadline_secs: u64,

    /// Seconds a user stays online after their last socket closes: coming back within
    /// them produces no `left`/`join` pair.
    #[arg(long, env = "CHAT_PRESENCE_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub presence_grace_secs: u64,

    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers name the client,
    /// as addresses or CIDR blocks (`127.0.0.1,10.0.0.0/8`). Nobody else is believed.
    #[arg(
        long = "trusted-proxy",
        env = "CHAT_TRUSTED_PROXY",
        value_delimiter = ',',
        num_args = 1,
        value_name = "CIDR"
    )]
    pub trusted_proxies: Vec<crate::net::Cidr>,

    /// Serve HTTPS and WSS with this certificate chain (PEM); needs `--tls-key`.
    #[arg(long, env = "CHAT_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) for `--tls-cert`.
    #[arg(long, env = "CHAT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The origin browsers use, e.g. `https://chat.example.org`: the expected `Origin`,
    /// the only accepted `Host`, and with https the `Secure` cookie and HSTS.
    #[arg(long, env = "CHAT_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<crate::net::PublicUrl>,

    /// Serve Prometheus metrics at `/metrics` on this address (plain HTTP, a listener of
    /// its own). Off unless given: keep it where only the scraper reaches it.
    #[arg(long, env = "CHAT_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// How log lines are written to standard error: `text` for people, `json` (one
    /// object per line) for log collectors.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Instead of serving: write a consistent copy of the database to this file and exit.
    /// Safe while a server is running on the same data directory.
    #[arg(long, value_name = "FILE")]
    pub backup_to: Option<PathBuf>,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What the binary can do besides serving.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Copy a SQLite chat into an empty PostgreSQL database, keeping every id, account
    /// and session. Stop the server first.
    Migrate(crate::migrate::MigrateArgs),
}

impl Config {
    /// Password hashes computed at once: the flag, else the number of CPUs.
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency
            .map(|n| n as usize)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
    }

    /// This configuration with every per-visitor limit lifted, for load generators that
    /// speak for thousands of users from one address. Never for a public server.
    pub fn without_visitor_limits(self) -> Self {
        Config {
            rate_burst: 1e9,
            rate_per_sec: 1e9,
            signups_per_addr_hour: usize::MAX,
            guests_per_addr_hour: usize::MAX,
            max_conns_per_addr: usize::MAX,
            max_sockets_per_session: u64::MAX,
            ..self
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            command: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            dist: PathBuf::from("dist"),
            allow_origins: Vec::new(),
            secret: None,
            secret_file: None,
            data_dir: PathBuf::from("data"),
            database_url: None,
            poll_ms: 500,
            in_memory: false,
            no_guests: false,
            session_idle_days: 30,
            rate_burst: 5.0,
            rate_per_sec: 1.0,
            login_fails_per_name: 5,
            login_fails_per_addr: 20,
            login_fails_per_name_total: 100,
            hash_concurrency: None,
            hash_queue: 64,
            signups_per_addr_hour: 20,
            guests_per_addr_hour: 60,
            max_conns: None,
            max_conns_per_addr: 256,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_sockets_per_session: 16,
            socket_queue_bytes: 1024 * 1024,
            write_deadline_secs: 30,
            presence_grace_secs: 10,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            public_url: None,
            metrics_addr: None,
            log_format: LogFormat::Text,
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
        // Every field, compared through its debug form: a new flag cannot drift.
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
    }

    /// Outside tools configure the server by these names, and operators read them in the
    /// README: every flag `--some-flag` has `CHAT_SOME_FLAG` and a row in the table.
    #[test]
    fn every_flag_has_its_variable_and_a_readme_row() {
        use clap::CommandFactory;
        let readme = include_str!("../../README.md");
        let command = Config::command();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version", "backup-to"].contains(&long) {
                continue;
            }
            let expected = format!("CHAT_{}", long.to_uppercase().replace('-', "_"));
            let env = arg.get_env().and_then(|e| e.to_str());
            assert_eq!(env, Some(expected.as_str()), "--{long}");
            let row = format!("| `--{long}` | `{expected}`");
            assert!(readme.contains(&row), "README's table lacks {row}");
        }
    }

    #[test]
    fn metrics_are_off_and_logs_are_text_unless_asked_for() {
        let parsed = Config::try_parse_from(["backend"]).unwrap();
        assert_eq!(
            (parsed.metrics_addr, parsed.log_format),
            (None, LogFormat::Text)
        );
        let parsed = Config::try_parse_from([
            "backend",
            "--metrics-addr",
            "127.0.0.1:9100",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(
            parsed.metrics_addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 9100)))
        );
        assert_eq!(parsed.log_format, LogFormat::Json);
        assert!(Config::try_parse_from(["backend", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn migrate_is_a_subcommand_with_a_source_and_a_target() {
        let parsed = Config::try_parse_from([
            "backend",
            "migrate",
            "--from",
            "data/chat.db",
            "--to",
            "postgres://chat@db/chat",
        ])
        .unwrap();
        assert_eq!(
            parsed.command,
            Some(Command::Migrate(crate::migrate::MigrateArgs {
                from: PathBuf::from("data/chat.db"),
                to: "postgres://chat@db/chat".into(),
            }))
        );
        assert!(Config::try_parse_from(["backend", "migrate", "--from", "x.db"]).is_err());
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
