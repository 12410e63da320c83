//! Configuration from the environment (and `.env`), checked once at start-up.
//!
//! Every problem names its variable, so a bad deployment stops with one line that says
//! what to fix.
//!
//! Each variable's type, default and check are a clap argument ([`Settings`]); the rules
//! between variables (simulator defaults, what a token requires) are [`Config::from_settings`].

mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use settings::Settings;

use crate::store::sqlite::{SqliteOptions, Synchronous};
use crate::store::{Inbox, InboxCredentials};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &str, reason: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Clone)]
pub enum DatabaseConfig {
    Sqlite(SqliteOptions),
    /// A `mongodb://` or `mongodb+srv://` URL; the database is the URL's path, else
    /// `switchboard`.
    Mongo(String),
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(o) => f.debug_tuple("Sqlite").field(o).finish(),
            Self::Mongo(url) => f.debug_tuple("Mongo").field(&redact_url(url)).finish(),
        }
    }
}

/// Where outbound calls go and how webhooks are checked.
#[derive(Clone)]
pub struct WhatsAppConfig {
    /// `None` means simulator mode: the base is the built-in simulator, known once bound.
    pub api_base: Option<String>,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
    /// `WHATSAPP_WABA_ID`: the business account whose approved templates the composer
    /// offers, until a webhook names it.
    pub waba_id: Option<String>,
}

impl WhatsAppConfig {
    pub fn simulator(&self) -> bool {
        self.api_base.is_none()
    }
}

/// Secrets stay out of logs: `Debug` shows the shape, not the values.
impl std::fmt::Debug for WhatsAppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppConfig")
            .field("api_base", &self.api_base)
            .field("phone_number_id", &self.phone_number_id)
            .field("display_phone_number", &self.display_phone_number)
            .field("waba_id", &self.waba_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Delays before the `sent`, `delivered` and `read` receipts of each send.
    pub receipt_delays: [Duration; 3],
}

#[derive(Clone)]
pub struct Config {
    pub site_addr: SocketAddr,
    /// `SWITCHBOARD_LOG_FORMAT=json`: one JSON object per log line.
    pub log_json: bool,
    /// `SWITCHBOARD_METRICS_ADDR`: a second listener for `GET /metrics`; unset, none.
    pub metrics_addr: Option<SocketAddr>,
    /// `SWITCHBOARD_ADMIN_EMAIL` / `SWITCHBOARD_ADMIN_PASSWORD`: an admin created at start
    /// if missing.
    pub admin: Option<(String, String)>,
    /// Where users reach the app (e.g. `https://inbox.example.com`); an `https` URL makes
    /// session cookies `Secure`.
    pub public_url: Option<String>,
    pub session_lifetime: Duration,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy you run).
    pub trust_proxy: bool,
    /// Outgoing webhooks may target private, loopback and link-local addresses
    /// (`SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE`); off, so an admin cannot probe the network.
    pub webhook_allow_private: bool,
    /// `REDIS_URL`: fan events out to other instances through Redis pub/sub.
    pub redis_url: Option<String>,
    pub database: DatabaseConfig,
    pub whatsapp: WhatsAppConfig,
    pub simulator: SimulatorConfig,
    /// How many events the log keeps for `since` replay before clients must resync.
    pub event_retention: i64,
    /// Events a socket may fall behind before it is closed and told to resume.
    pub socket_buffer: usize,
    /// How often each instance reads the event log without being woken: the longest an
    /// event can take to reach another instance's sockets when Redis is unavailable.
    pub log_poll: Duration,
    /// How long a call to the Graph API may take before it counts as timed out (and is
    /// retried, once a receipt has had the chance to prove it arrived).
    pub graph_timeout: Duration,
    /// Where media files (downloaded and attached) are kept.
    pub media: MediaStoreConfig,
    /// After a send whose outcome is unknown (a timeout, a lost answer), how long to wait
    /// for a receipt before sending it again.
    pub uncertain_send_wait: Duration,
    /// How long webhook bodies and receipts are kept (`SWITCHBOARD_WEBHOOK_RETENTION_DAYS`).
    pub webhook_retention: Duration,
    /// How long an outgoing webhook may keep failing before it is paused
    /// (`SWITCHBOARD_WEBHOOK_MAX_RETRY_SECS`).
    pub webhook_max_retry: Duration,
}

/// `SWITCHBOARD_MEDIA_STORE`: where files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaStoreConfig {
    /// A directory (`SWITCHBOARD_MEDIA_DIR`).
    Disk(std::path::PathBuf),
    /// The MongoDB database, in chunks as GridFS lays them out (the default with MongoDB).
    Mongo,
}

pub const SIMULATOR_APP_SECRET: &str = "switchboard-simulator-app-secret";
pub const SIMULATOR_VERIFY_TOKEN: &str = "switchboard-simulator-verify-token";
pub const SIMULATOR_ACCESS_TOKEN: &str = "switchboard-simulator-access-token";
/// The demo number matches the sample payloads in `tests/fixtures`, so they can be
/// posted to a simulator-mode server by hand.
pub const SIMULATOR_PHONE_NUMBER_ID: &str = "200000000000001";
pub const SIMULATOR_DISPLAY_NUMBER: &str = "15550001000";
/// The simulator's business account, named in `entry[].id` of its webhooks.
pub const SIMULATOR_WABA_ID: &str = "100000000000001";
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/v24.0";

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("site_addr", &self.site_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("admin", &self.admin.as_ref().map(|(email, _)| email))
            .field("public_url", &self.public_url)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("database", &self.database)
            .field("whatsapp", &self.whatsapp)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn public_url_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// The credentials an inbox uses: its own, else the environment's.
    pub fn credentials(&self, inbox: &Inbox) -> InboxCredentials {
        let c = &inbox.credentials;
        InboxCredentials {
            access_token: c
                .access_token
                .clone()
                .or_else(|| Some(self.whatsapp.access_token.clone())),
            app_secret: c
                .app_secret
                .clone()
                .or_else(|| Some(self.whatsapp.app_secret.clone())),
            verify_token: c
                .verify_token
                .clone()
                .or_else(|| Some(self.whatsapp.verify_token.clone())),
        }
    }

    /// Reads the process environment, after loading `.env` from the working directory.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::new(".env", e.to_string())),
        }
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get`, so tests can pass a map instead of the process
    /// environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_settings(Settings::read(get)?)
    }

    /// The rules between variables: simulator or live mode and what each requires, who
    /// may reach a simulator, the admin's pair, where media files go.
    pub fn from_settings(s: Settings) -> Result<Self, ConfigError> {
        let whatsapp = match s.access_token {
            None => WhatsAppConfig {
                api_base: None,
                access_token: SIMULATOR_ACCESS_TOKEN.into(),
                app_secret: s.app_secret.unwrap_or_else(|| SIMULATOR_APP_SECRET.into()),
                verify_token: s
                    .verify_token
                    .unwrap_or_else(|| SIMULATOR_VERIFY_TOKEN.into()),
                phone_number_id: s
                    .phone_number_id
                    .unwrap_or_else(|| SIMULATOR_PHONE_NUMBER_ID.into()),
                display_phone_number: Some(
                    s.display_phone_number
                        .unwrap_or_else(|| SIMULATOR_DISPLAY_NUMBER.into()),
                ),
                waba_id: Some(s.waba_id.unwrap_or_else(|| SIMULATOR_WABA_ID.into())),
            },
            Some(access_token) => {
                let required = |value: Option<String>, var: &str| {
                    value.ok_or_else(|| {
                        ConfigError::new(var, "must be set when WHATSAPP_ACCESS_TOKEN is set")
                    })
                };
                WhatsAppConfig {
                    api_base: Some(s.api_base.unwrap_or_else(|| DEFAULT_API_BASE.into())),
                    access_token,
                    app_secret: required(s.app_secret, "WHATSAPP_APP_SECRET")?,
                    verify_token: required(s.verify_token, "WHATSAPP_VERIFY_TOKEN")?,
                    phone_number_id: required(s.phone_number_id, "WHATSAPP_PHONE_NUMBER_ID")?,
                    display_phone_number: s.display_phone_number,
                    waba_id: s.waba_id,
                }
            }
        };

        // The simulator's sign-in page shows the demo admin's password: it is for one
        // machine, unless the operator says otherwise.
        let site_addr = s.site_addr;
        if whatsapp.simulator() && !site_addr.ip().is_loopback() && !s.simulator_public {
            return Err(ConfigError::new(
                "LEPTOS_SITE_ADDR",
                format!(
                    "{site_addr} is reachable from other machines, but simulator mode (no \
                     WHATSAPP_ACCESS_TOKEN) shows the demo admin's password on the sign-in page; \
                     bind to 127.0.0.1, set WHATSAPP_ACCESS_TOKEN, or set \
                     SWITCHBOARD_SIMULATOR_PUBLIC=1 if you really mean to"
                ),
            ));
        }

        let admin = match (s.admin_email, s.admin_password) {
            (Some(email), Some(password)) => {
                if password.chars().count() < crate::model::MIN_PASSWORD_LEN {
                    return Err(ConfigError::new(
                        "SWITCHBOARD_ADMIN_PASSWORD",
                        format!(
                            "needs at least {} characters",
                            crate::model::MIN_PASSWORD_LEN
                        ),
                    ));
                }
                Some((email, password))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "SWITCHBOARD_ADMIN_PASSWORD",
                    "must be set with SWITCHBOARD_ADMIN_EMAIL",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "SWITCHBOARD_ADMIN_EMAIL",
                    "must be set with SWITCHBOARD_ADMIN_PASSWORD",
                ));
            }
        };

        let mongo = matches!(s.database, DatabaseConfig::Mongo(_));
        let media = match s.media_store.as_deref() {
            Some("mongodb") if !mongo => {
                return Err(ConfigError::new(
                    "SWITCHBOARD_MEDIA_STORE",
                    "mongodb needs a mongodb:// DATABASE_URL; use disk with SQLite",
                ));
            }
            Some("mongodb") => MediaStoreConfig::Mongo,
            None if mongo => MediaStoreConfig::Mongo,
            _ => MediaStoreConfig::Disk(s.media_dir),
        };

        Ok(Self {
            site_addr,
            log_json: s.log_json,
            metrics_addr: s.metrics_addr,
            admin,
            public_url: s.public_url,
            session_lifetime: Duration::from_secs(s.session_hours.saturating_mul(3600)),
            trust_proxy: s.trust_proxy,
            webhook_allow_private: s.webhook_allow_private,
            redis_url: s.redis_url,
            database: s.database,
            whatsapp,
            simulator: SimulatorConfig {
                receipt_delays: s.receipt_delays,
            },
            event_retention: s.event_retention as i64,
            socket_buffer: s.socket_buffer as usize,
            log_poll: Duration::from_millis(s.log_poll_ms),
            graph_timeout: Duration::from_millis(s.graph_timeout_ms),
            media,
            uncertain_send_wait: Duration::from_millis(s.uncertain_send_wait_ms),
            webhook_retention: Duration::from_secs(s.webhook_retention_days.saturating_mul(86_400)),
            webhook_max_retry: Duration::from_secs(s.webhook_max_retry_secs),
        })
    }
}

/// `sqlite://PATH[?synchronous=full]` is embedded; `mongodb://` is the production store.
pub fn parse_database_url(url: &str) -> Result<DatabaseConfig, ConfigError> {
    const VAR: &str = "DATABASE_URL";
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(ConfigError::new(
                VAR,
                "sqlite:// needs a file path, e.g. sqlite://data/switchboard.db",
            ));
        }
        let mut options = SqliteOptions::new(PathBuf::from(path));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("synchronous", "full")) => options.synchronous = Synchronous::Full,
                Some(("synchronous", "normal")) => options.synchronous = Synchronous::Normal,
                _ => {
                    return Err(ConfigError::new(
                        VAR,
                        format!("unknown SQLite option {pair:?} (known: synchronous=normal|full)"),
                    ));
                }
            }
        }
        return Ok(DatabaseConfig::Sqlite(options));
    }
    if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        mongodb::options::ConnectionString::parse(url).map_err(|e| {
            ConfigError::new(
                VAR,
                format!("invalid MongoDB URL {:?}: {e}", redact_url(url)),
            )
        })?;
        return Ok(DatabaseConfig::Mongo(url.to_string()));
    }
    Err(ConfigError::new(
        VAR,
        format!(
            "{:?} is not a supported database URL (use sqlite://PATH or mongodb://…)",
            redact_url(url)
        ),
    ))
}

/// Hides a password in a URL before it is printed.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests;
