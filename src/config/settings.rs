//! The variables as clap reads them: one field per variable, its type, its default and
//! the check of its own value. Rules between variables are in [`Config::from_settings`].
//!
//! Each argument carries its variable's name as clap's `env`, but values reach clap as
//! arguments built from a lookup ([`Settings::read`]): each test server reads its own
//! environment inside one process, which clap's own reading of the process cannot do.
//!
//! [`Config::from_settings`]: super::Config::from_settings

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::{ContextKind, ErrorKind};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use super::{ConfigError, DatabaseConfig, parse_database_url, redact_url};

/// No `Debug`: it holds the secrets.
#[derive(Parser)]
#[command(name = "switchboard", no_binary_name = true)]
pub struct Settings {
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000", value_parser = address)]
    pub site_addr: SocketAddr,
    #[arg(
        long = "log-format",
        env = "SWITCHBOARD_LOG_FORMAT",
        action = ArgAction::Set,
        default_value = "text",
        value_parser = log_json
    )]
    pub log_json: bool,
    #[arg(long, env = "SWITCHBOARD_METRICS_ADDR", value_parser = address)]
    pub metrics_addr: Option<SocketAddr>,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/switchboard.db",
        value_parser = database
    )]
    pub database: DatabaseConfig,

    #[arg(long, env = "WHATSAPP_ACCESS_TOKEN")]
    pub access_token: Option<String>,
    #[arg(long, env = "WHATSAPP_API_BASE", value_parser = http_url)]
    pub api_base: Option<String>,
    #[arg(long, env = "WHATSAPP_APP_SECRET")]
    pub app_secret: Option<String>,
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN")]
    pub verify_token: Option<String>,
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID", value_parser = phone_number_id)]
    pub phone_number_id: Option<String>,
    #[arg(long, env = "WHATSAPP_DISPLAY_PHONE_NUMBER")]
    pub display_phone_number: Option<String>,
    #[arg(long, env = "WHATSAPP_WABA_ID", value_parser = waba_id)]
    pub waba_id: Option<String>,

    #[arg(long, env = "SWITCHBOARD_SIMULATOR_PUBLIC", action = ArgAction::Set, default_value = "false", value_parser = flag)]
    pub simulator_public: bool,
    #[arg(long, env = "SIMULATOR_RECEIPT_DELAYS_MS", default_value = "400,900,1600", value_parser = delays)]
    pub receipt_delays: [Duration; 3],

    #[arg(long, env = "SWITCHBOARD_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    #[arg(long, env = "SWITCHBOARD_ADMIN_PASSWORD")]
    pub admin_password: Option<String>,
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_parser = http_url)]
    pub public_url: Option<String>,
    #[arg(long, env = "SWITCHBOARD_SESSION_HOURS", default_value = "168", value_parser = positive)]
    pub session_hours: u64,
    #[arg(long, env = "SWITCHBOARD_TRUST_PROXY", action = ArgAction::Set, default_value = "false", value_parser = flag)]
    pub trust_proxy: bool,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE", action = ArgAction::Set, default_value = "false", value_parser = flag)]
    pub webhook_allow_private: bool,
    #[arg(long, env = "REDIS_URL", value_parser = redis_url)]
    pub redis_url: Option<String>,

    #[arg(long, env = "SWITCHBOARD_EVENT_RETENTION", default_value = "1000000", value_parser = positive)]
    pub event_retention: u64,
    #[arg(long, env = "SWITCHBOARD_SOCKET_BUFFER", default_value = "4096", value_parser = positive)]
    pub socket_buffer: u64,
    #[arg(long, env = "SWITCHBOARD_LOG_POLL_MS", default_value = "1000", value_parser = positive)]
    pub log_poll_ms: u64,
    #[arg(long, env = "SWITCHBOARD_GRAPH_TIMEOUT_MS", default_value = "15000", value_parser = positive)]
    pub graph_timeout_ms: u64,
    #[arg(long, env = "SWITCHBOARD_UNCERTAIN_SEND_WAIT_MS", default_value = "300000", value_parser = positive)]
    pub uncertain_send_wait_ms: u64,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_MAX_RETRY_SECS", default_value = "259200", value_parser = positive)]
    pub webhook_max_retry_secs: u64,
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_RETENTION_DAYS", default_value = "30", value_parser = positive)]
    pub webhook_retention_days: u64,
    #[arg(long, env = "SWITCHBOARD_MEDIA_STORE", value_parser = ["disk", "mongodb"])]
    pub media_store: Option<String>,
    #[arg(long, env = "SWITCHBOARD_MEDIA_DIR", default_value = "data/media")]
    pub media_dir: PathBuf,
}

impl Settings {
    /// Reads every variable through `get`. A value is trimmed, and an empty one counts as
    /// unset. A bad value is an error naming its variable.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let command = Self::command();
        let mut args = Vec::new();
        for arg in command.get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let value = var
                .to_str()
                .and_then(&get)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            if let Some(value) = value {
                args.push(format!("--{long}={value}"));
            }
        }
        // Clap must not read the process environment itself: `get` is the environment.
        let command = command.mut_args(|a| a.env(None));
        command
            .try_get_matches_from(args)
            .and_then(|matches| Self::from_arg_matches(&matches))
            .map_err(config_error)
    }
}

/// A clap error in the words the operator set: the variable and why its value is wrong.
fn config_error(e: clap::Error) -> ConfigError {
    let flag = e
        .get(ContextKind::InvalidArg)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let long = flag
        .split(['=', ' '])
        .next()
        .unwrap_or_default()
        .trim_start_matches("--");
    let var = Settings::command()
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map_or_else(|| "configuration".into(), |v| v.to_string_lossy().into());
    let reason = match (e.kind(), std::error::Error::source(&e)) {
        (ErrorKind::ValueValidation, Some(why)) => why.to_string(),
        (ErrorKind::InvalidValue, _) => {
            let value = e.get(ContextKind::InvalidValue).map(|v| v.to_string());
            let valid: Vec<String> = match e.get(ContextKind::ValidValue) {
                Some(clap::error::ContextValue::Strings(v)) => v.clone(),
                _ => Vec::new(),
            };
            format!(
                "{:?} is not {}",
                value.unwrap_or_default(),
                valid.join(" or ")
            )
        }
        _ => e
            .render()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .into(),
    };
    ConfigError { var, reason }
}

fn address(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("{v:?} is not a host:port address"))
}

fn log_json(v: &str) -> Result<bool, String> {
    match v {
        "text" => Ok(false),
        "json" => Ok(true),
        other => Err(format!("{other:?} is not a log format (text or json)")),
    }
}

fn database(v: &str) -> Result<DatabaseConfig, String> {
    parse_database_url(v).map_err(|e| e.reason)
}

fn http_url(v: &str) -> Result<String, String> {
    if v.starts_with("https://") || v.starts_with("http://") {
        Ok(v.trim_end_matches('/').to_string())
    } else {
        Err(format!("{v:?} is not an http(s) URL"))
    }
}

fn phone_number_id(v: &str) -> Result<String, String> {
    digits(
        v,
        "must be the numeric phone number id from the App Dashboard",
    )
}

fn waba_id(v: &str) -> Result<String, String> {
    digits(
        v,
        "must be the numeric WhatsApp Business Account id from WhatsApp Manager",
    )
}

fn digits(v: &str, reason: &str) -> Result<String, String> {
    if v.chars().all(|c| c.is_ascii_digit()) {
        Ok(v.to_string())
    } else {
        Err(reason.into())
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "0" | "false" | "no" => Ok(false),
        "1" | "true" | "yes" => Ok(true),
        other => Err(format!("{other:?} is not true or false")),
    }
}

fn positive(v: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
        .ok_or_else(|| format!("{v:?} is not a positive integer"))
}

fn delays(v: &str) -> Result<[Duration; 3], String> {
    let parts: Option<Vec<u64>> = v.split(',').map(|p| p.trim().parse().ok()).collect();
    match parts.as_deref() {
        Some(&[a, b, c]) => Ok([a, b, c].map(Duration::from_millis)),
        _ => Err(format!(
            "{v:?} is not three comma-separated millisecond values"
        )),
    }
}

fn redis_url(v: &str) -> Result<String, String> {
    crate::realtime::fanout::parse(v)
        .map(|_| v.to_string())
        .map_err(|e| format!("{:?} is not a Redis URL: {e}", redact_url(v)))
}
