//! `switchboard <command>`: administration from a shell, against the store in
//! `DATABASE_URL` (the server need not be running).

use std::io::BufRead;

use crate::accounts::{self, NewAgent, UserChanges};
use crate::config::Config;
use crate::context::AppError;
use crate::model::Role;
use crate::store::{DynStore, InboxCredentials, InboxUpdate, NewInbox};

pub const USAGE: &str = "\
Usage: switchboard [serve]
       switchboard user add --email EMAIL --name NAME [--role admin|agent] [--password-stdin]
       switchboard user list
       switchboard user passwd --email EMAIL [--password-stdin]
       switchboard user disable|enable --email EMAIL
       switchboard inbox add --phone-number-id ID [--name NAME] [--display-phone-number NUMBER]
                             [--access-token T] [--app-secret S] [--verify-token V]
       switchboard inbox update --phone-number-id ID [same options; an empty value clears]
       switchboard inbox list
       switchboard member add|remove --email EMAIL --phone-number-id ID
       switchboard token create --email EMAIL --name NAME
       switchboard token list
       switchboard token revoke --id TOKEN_ID

Without --password-stdin a strong password is generated and printed once.
Configuration (DATABASE_URL, …) comes from the environment and .env, as for the server.";

/// A command-line mistake (exit 2) or a failure doing the work (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Unavailable(inner) => Self::Failed(inner.to_string()),
            AppError::NotFound(what) => Self::Failed(format!("no such {what}")),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

struct Args {
    words: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Self, CliError> {
        let mut words = Vec::new();
        let mut flags = Vec::new();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let takes_value = !matches!(name, "password-stdin");
                let value = if takes_value {
                    Some(
                        it.next()
                            .ok_or_else(|| CliError::Usage(format!("--{name} needs a value")))?
                            .clone(),
                    )
                } else {
                    None
                };
                flags.push((name.to_string(), value));
            } else {
                words.push(a.clone());
            }
        }
        Ok(Self { words, flags })
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }

    fn req(&self, name: &str) -> Result<String, CliError> {
        self.opt(name)
            .ok_or_else(|| CliError::Usage(format!("--{name} is required")))
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    fn only(&self, allowed: &[&str]) -> Result<(), CliError> {
        match self
            .flags
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            Some((n, _)) => Err(CliError::Usage(format!("unknown option --{n}"))),
            None => Ok(()),
        }
    }
}

fn password(args: &Args) -> Result<(String, bool), CliError> {
    if args.has("password-stdin") {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Failed(format!("cannot read the password: {e}")))?;
        Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
    } else {
        Ok((
            crate::accounts::auth::new_secret("")[..20].to_string(),
            true,
        ))
    }
}

async fn user_id(store: &DynStore, email: &str) -> Result<String, CliError> {
    Ok(store
        .user_by_email(&crate::accounts::auth::normalise_email(email))
        .await?
        .ok_or_else(|| CliError::Failed(format!("no user with email {email}")))?
        .0
        .id)
}

async fn inbox_id(store: &DynStore, pnid: &str) -> Result<String, CliError> {
    Ok(store
        .inbox_by_phone_number_id(pnid)
        .await?
        .ok_or_else(|| CliError::Failed(format!("no inbox for phone number id {pnid}")))?
        .id)
}

fn credentials(args: &Args) -> InboxCredentials {
    InboxCredentials {
        access_token: args.opt("access-token"),
        app_secret: args.opt("app-secret"),
        verify_token: args.opt("verify-token"),
    }
}

const INBOX_FLAGS: &[&str] = &[
    "phone-number-id",
    "name",
    "display-phone-number",
    "access-token",
    "app-secret",
    "verify-token",
];

/// Runs one administrative command and returns what to print.
pub async fn run(config: &Config, raw: &[String]) -> Result<String, CliError> {
    let args = Args::parse(raw)?;
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    // Validate the command before touching the database.
    let known = matches!(
        words.as_slice(),
        ["user", "add" | "list" | "passwd" | "disable" | "enable"]
            | ["inbox", "add" | "update" | "list"]
            | ["member", "add" | "remove"]
            | ["token", "create" | "list" | "revoke"]
    );
    if !known {
        return Err(CliError::Usage(format!(
            "unknown command {:?}",
            words.join(" ")
        )));
    }
    let (store, _files) = crate::server::open_storage(&config.database, &config.media)
        .await
        .map_err(|e| CliError::Failed(format!("cannot open the database: {e}")))?;
    match words.as_slice() {
        ["user", "add"] => {
            args.only(&["email", "name", "role", "password-stdin"])?;
            let role = match args.opt("role").as_deref() {
                None => Role::Agent,
                Some(r) => Role::parse(r).ok_or_else(|| {
                    CliError::Usage(format!("--role is admin or agent, not {r:?}"))
                })?,
            };
            let (password, generated) = password(&args)?;
            let user = accounts::create_user(
                &store,
                NewAgent {
                    email: args.req("email")?,
                    name: args.req("name")?,
                    role,
                    password: password.clone(),
                },
            )
            .await?;
            let mut out = format!(
                "created {} {} ({})",
                user.role.as_str(),
                user.email,
                user.id
            );
            if generated {
                out.push_str(&format!("\npassword: {password}"));
            }
            Ok(out)
        }
        ["user", "list"] => {
            args.only(&[])?;
            let users = store.list_users().await?;
            Ok(users
                .iter()
                .map(|u| {
                    format!(
                        "{}\t{}\t{}\t{}{}",
                        u.id,
                        u.email,
                        u.role.as_str(),
                        u.name,
                        if u.disabled { "\t(disabled)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        ["user", "passwd"] => {
            args.only(&["email", "password-stdin"])?;
            let id = user_id(&store, &args.req("email")?).await?;
            let (password, generated) = password(&args)?;
            accounts::update_user(
                &store,
                None,
                &id,
                UserChanges {
                    password: Some(password.clone()),
                    ..Default::default()
                },
            )
            .await?;
            Ok(if generated {
                format!("password changed; sessions ended\npassword: {password}")
            } else {
                "password changed; sessions ended".into()
            })
        }
        ["user", action @ ("disable" | "enable")] => {
            args.only(&["email"])?;
            let id = user_id(&store, &args.req("email")?).await?;
            let disabled = *action == "disable";
            accounts::update_user(
                &store,
                None,
                &id,
                UserChanges {
                    disabled: Some(disabled),
                    ..Default::default()
                },
            )
            .await?;
            Ok(format!("{}d", action))
        }
        ["inbox", "add"] => {
            args.only(INBOX_FLAGS)?;
            let inbox = accounts::create_inbox(
                &store,
                NewInbox {
                    phone_number_id: args.req("phone-number-id")?,
                    name: args.opt("name"),
                    display_phone_number: args.opt("display-phone-number"),
                    credentials: credentials(&args),
                },
            )
            .await?;
            Ok(format!(
                "created inbox {} for phone number id {}",
                inbox.id, inbox.phone_number_id
            ))
        }
        ["inbox", "update"] => {
            args.only(INBOX_FLAGS)?;
            let id = inbox_id(&store, &args.req("phone-number-id")?).await?;
            accounts::update_inbox(
                &store,
                &id,
                InboxUpdate {
                    name: args.opt("name"),
                    display_phone_number: args.opt("display-phone-number"),
                    credentials: credentials(&args),
                },
            )
            .await?;
            Ok("inbox updated".into())
        }
        ["inbox", "list"] => {
            args.only(&[])?;
            let mut lines = Vec::new();
            for inbox in store.list_inboxes().await? {
                let info = accounts::inbox_info(&store, &inbox).await?;
                lines.push(format!(
                    "{}\t{}\t{}\t{} member(s){}",
                    info.id,
                    info.phone_number_id,
                    info.name.unwrap_or_default(),
                    info.member_ids.len(),
                    if info.own_credentials {
                        "\town credentials"
                    } else {
                        ""
                    }
                ));
            }
            Ok(lines.join("\n"))
        }
        ["member", action @ ("add" | "remove")] => {
            args.only(&["email", "phone-number-id"])?;
            let user = user_id(&store, &args.req("email")?).await?;
            let inbox = inbox_id(&store, &args.req("phone-number-id")?).await?;
            store.set_member(&inbox, &user, *action == "add").await?;
            Ok(format!(
                "member {}",
                if *action == "add" { "added" } else { "removed" }
            ))
        }
        ["token", "create"] => {
            args.only(&["email", "name"])?;
            let user = user_id(&store, &args.req("email")?).await?;
            let created = accounts::create_token(&store, &args.req("name")?, &user).await?;
            Ok(format!(
                "created token {} (shown once, store it now):\n{}",
                created.token.id, created.secret
            ))
        }
        ["token", "list"] => {
            args.only(&[])?;
            Ok(store
                .list_api_tokens()
                .await?
                .iter()
                .map(|t| {
                    format!(
                        "{}\t{}\tuser {}{}",
                        t.id,
                        t.name,
                        t.user_id,
                        if t.revoked { "\t(revoked)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        ["token", "revoke"] => {
            args.only(&["id"])?;
            store.revoke_api_token(&args.req("id")?).await?;
            Ok("token revoked".into())
        }
        _ => Err(CliError::Usage("unknown command".into())),
    }
}
