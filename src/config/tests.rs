//! How the environment becomes a `Config`, and what it refuses.

use super::*;
use std::collections::HashMap;

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn metrics_and_log_format_are_off_by_default_and_refuse_what_they_cannot_use() {
    let c = config(&[]).unwrap();
    assert_eq!((c.metrics_addr, c.log_json), (None, false));
    let c = config(&[
        ("SWITCHBOARD_METRICS_ADDR", "127.0.0.1:9100"),
        ("SWITCHBOARD_LOG_FORMAT", "json"),
    ])
    .unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
    assert!(c.log_json);
    for (var, value) in [
        ("SWITCHBOARD_METRICS_ADDR", "9100"),
        ("SWITCHBOARD_LOG_FORMAT", "yaml"),
    ] {
        assert_eq!(config(&[(var, value)]).unwrap_err().var, var);
    }
}

#[test]
fn simulator_mode_stays_on_loopback_unless_told_otherwise() {
    let e = config(&[("LEPTOS_SITE_ADDR", "0.0.0.0:3000")]).unwrap_err();
    assert_eq!(e.var, "LEPTOS_SITE_ADDR");
    assert!(e.reason.contains("SWITCHBOARD_SIMULATOR_PUBLIC"), "{e}");
    assert!(config(&[("LEPTOS_SITE_ADDR", "[::1]:3000")]).is_ok());
    assert!(
        config(&[
            ("LEPTOS_SITE_ADDR", "0.0.0.0:3000"),
            ("SWITCHBOARD_SIMULATOR_PUBLIC", "1")
        ])
        .is_ok()
    );
    let live = [
        ("LEPTOS_SITE_ADDR", "0.0.0.0:3000"),
        ("WHATSAPP_ACCESS_TOKEN", "t"),
        ("WHATSAPP_APP_SECRET", "s"),
        ("WHATSAPP_VERIFY_TOKEN", "v"),
        ("WHATSAPP_PHONE_NUMBER_ID", "123"),
    ];
    assert!(config(&live).is_ok(), "live mode may listen anywhere");
}

#[test]
fn no_token_means_simulator_mode_with_defaults() {
    let c = config(&[]).unwrap();
    assert!(c.whatsapp.simulator());
    assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
    assert_eq!(c.whatsapp.phone_number_id, SIMULATOR_PHONE_NUMBER_ID);
    let DatabaseConfig::Sqlite(o) = c.database else {
        panic!("the default store is SQLite")
    };
    assert_eq!(o.path, PathBuf::from("data/switchboard.db"));
}

#[test]
fn live_mode_requires_its_secrets_and_names_the_missing_one() {
    let e = config(&[("WHATSAPP_ACCESS_TOKEN", "t")]).unwrap_err();
    assert_eq!(e.var, "WHATSAPP_APP_SECRET");
    let e = config(&[
        ("WHATSAPP_ACCESS_TOKEN", "t"),
        ("WHATSAPP_APP_SECRET", "s"),
        ("WHATSAPP_VERIFY_TOKEN", "v"),
    ])
    .unwrap_err();
    assert_eq!(e.var, "WHATSAPP_PHONE_NUMBER_ID");
    let c = config(&[
        ("WHATSAPP_ACCESS_TOKEN", "t"),
        ("WHATSAPP_APP_SECRET", "s"),
        ("WHATSAPP_VERIFY_TOKEN", "v"),
        ("WHATSAPP_PHONE_NUMBER_ID", "123"),
    ])
    .unwrap();
    assert_eq!(c.whatsapp.api_base.as_deref(), Some(DEFAULT_API_BASE));
}

#[test]
fn bad_values_name_their_variable() {
    assert_eq!(
        config(&[("LEPTOS_SITE_ADDR", "nope")]).unwrap_err().var,
        "LEPTOS_SITE_ADDR"
    );
    assert_eq!(
        config(&[("DATABASE_URL", "postgres://x")]).unwrap_err().var,
        "DATABASE_URL"
    );
    let bad_mongo = config(&[("DATABASE_URL", "mongodb://u:pw@host:notaport/db")]).unwrap_err();
    assert_eq!(bad_mongo.var, "DATABASE_URL");
    assert!(!bad_mongo.reason.contains("pw"), "{bad_mongo}");
    let atlas = config(&[("DATABASE_URL", "mongodb+srv://u:p@cluster0.example.net/app")]);
    assert!(matches!(atlas.unwrap().database, DatabaseConfig::Mongo(_)));
    assert_eq!(
        config(&[("DATABASE_URL", "sqlite://a.db?fast=yes")])
            .unwrap_err()
            .var,
        "DATABASE_URL"
    );
    assert_eq!(
        config(&[("SIMULATOR_RECEIPT_DELAYS_MS", "1,2")])
            .unwrap_err()
            .var,
        "SIMULATOR_RECEIPT_DELAYS_MS"
    );
}

#[test]
fn media_goes_to_the_database_with_mongodb_and_to_disk_otherwise() {
    let mongo = ("DATABASE_URL", "mongodb://h/x");
    let disk = MediaStoreConfig::Disk(PathBuf::from("data/media"));
    assert_eq!(config(&[]).unwrap().media, disk);
    assert_eq!(config(&[mongo]).unwrap().media, MediaStoreConfig::Mongo);
    assert_eq!(
        config(&[
            mongo,
            ("SWITCHBOARD_MEDIA_STORE", "disk"),
            ("SWITCHBOARD_MEDIA_DIR", "/m")
        ])
        .unwrap()
        .media,
        MediaStoreConfig::Disk(PathBuf::from("/m"))
    );
    for bad in [
        vec![("SWITCHBOARD_MEDIA_STORE", "mongodb")],
        vec![mongo, ("SWITCHBOARD_MEDIA_STORE", "s3")],
    ] {
        assert_eq!(config(&bad).unwrap_err().var, "SWITCHBOARD_MEDIA_STORE");
    }
}

#[test]
fn secrets_never_show_in_debug_output() {
    let c = config(&[
        ("WHATSAPP_ACCESS_TOKEN", "tok-SECRET"),
        ("WHATSAPP_APP_SECRET", "app-SECRET"),
        ("WHATSAPP_VERIFY_TOKEN", "ver-SECRET"),
        ("WHATSAPP_PHONE_NUMBER_ID", "123"),
        ("SWITCHBOARD_ADMIN_EMAIL", "root@example.com"),
        ("SWITCHBOARD_ADMIN_PASSWORD", "pw-SECRET-long"),
        ("DATABASE_URL", "mongodb://u:db-SECRET@h/x"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("root@example.com"));
}

#[test]
fn the_admin_needs_both_variables_and_a_real_password() {
    let e = config(&[("SWITCHBOARD_ADMIN_EMAIL", "a@b.co")]).unwrap_err();
    assert_eq!(e.var, "SWITCHBOARD_ADMIN_PASSWORD");
    let e = config(&[
        ("SWITCHBOARD_ADMIN_EMAIL", "a@b.co"),
        ("SWITCHBOARD_ADMIN_PASSWORD", "short"),
    ])
    .unwrap_err();
    assert_eq!(e.var, "SWITCHBOARD_ADMIN_PASSWORD");
}

#[test]
fn passwords_are_redacted() {
    assert_eq!(
        redact_url("mongodb://app:s3cret@db.example.com/x"),
        "mongodb://app:***@db.example.com/x"
    );
    assert_eq!(redact_url("sqlite://data/a.db"), "sqlite://data/a.db");
}

#[test]
fn values_are_trimmed_and_an_empty_one_means_unset() {
    let c = config(&[
        ("LEPTOS_SITE_ADDR", "  127.0.0.1:4000 "),
        ("SWITCHBOARD_METRICS_ADDR", "   "),
        ("SWITCHBOARD_SESSION_HOURS", ""),
    ])
    .unwrap();
    assert_eq!(c.site_addr.to_string(), "127.0.0.1:4000");
    assert_eq!(c.metrics_addr, None);
    assert_eq!(c.session_lifetime, Duration::from_secs(168 * 3600));
    let e = config(&[("SWITCHBOARD_SESSION_HOURS", "0")]).unwrap_err();
    assert_eq!(
        (e.var.as_str(), e.reason.as_str()),
        (
            "SWITCHBOARD_SESSION_HOURS",
            "\"0\" is not a positive integer"
        )
    );
    let e = config(&[("SWITCHBOARD_MEDIA_STORE", "s3")]).unwrap_err();
    assert_eq!(e.reason, "\"s3\" is not disk or mongodb");
}

/// The README's configuration table and the variables read are the same list, so a new
/// variable cannot go undocumented (or a documented one unread).
#[test]
fn the_readme_documents_every_variable_read() {
    use clap::CommandFactory;
    let read: std::collections::BTreeSet<String> = Settings::command()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let readme = include_str!("../../README.md");
    let table = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").find(|p| p.starts_with("| variable")))
        .expect("the README's configuration table");
    let documented: std::collections::BTreeSet<String> = table
        .lines()
        .skip(2)
        .filter_map(|row| row.split('|').nth(1))
        // Read by the log filter and by Leptos, not by this configuration.
        .filter(|cell| !cell.contains("RUST_LOG") && !cell.contains("LEPTOS_SITE_ROOT"))
        .flat_map(|cell| cell.split(','))
        .map(|name| name.trim().trim_matches('`').to_string())
        .collect();
    assert_eq!(read, documented);
}
