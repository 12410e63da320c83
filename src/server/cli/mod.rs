//! `switchboard <command>`: administration from a shell, against the store in
//! `DATABASE_URL` (the server need not be running).

mod conversation;

use std::io::BufRead;

use clap::{Args, Parser, Subcommand};

use crate::accounts::{self, NewAgent, UserChanges};
use crate::config::Config;
use crate::context::AppError;
use crate::model::Role;
use crate::store::{DynStore, InboxCredentials, InboxUpdate, NewInbox};

/// `switchboard [serve]` runs the server; the other commands administer the store.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A self-hosted, real-time team inbox for the WhatsApp Business Cloud API.",
    after_help = "Without --password-stdin a strong password is generated and printed once.\n\
                  Configuration (DATABASE_URL, …) comes from the environment and .env, as for the server."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (also what no command does).
    Serve,
    /// Agents and admins.
    #[command(subcommand)]
    User(UserCommand),
    /// WhatsApp numbers and their credentials.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// Who works which inbox.
    #[command(subcommand)]
    Member(MemberCommand),
    /// API tokens for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Outgoing webhooks: URLs that get every event, signed.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// The team's conversations: list, assign (one, or all of a user's), resolve.
    #[command(subcommand)]
    Conversation(conversation::ConversationCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL; prints the signing secret once.
    Add {
        #[arg(long)]
        url: String,
        /// An event type to deliver (repeat for several; none: all).
        #[arg(long = "event")]
        events: Vec<String>,
        /// The phone number id of an inbox whose events to deliver (repeat; none: all).
        #[arg(long = "inbox")]
        inboxes: Vec<String>,
    },
    List,
    Pause {
        #[arg(long)]
        id: String,
    },
    Resume {
        #[arg(long)]
        id: String,
    },
    /// Deliver every kept event after `--since` again (default: all that are kept).
    Replay {
        #[arg(long)]
        id: String,
        #[arg(long)]
        since: Option<i64>,
    },
    Delete {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "agent", value_parser = role)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    List,
    Passwd {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    Disable {
        #[arg(long)]
        email: String,
    },
    Enable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    Add(InboxArgs),
    /// Change an inbox; an empty value clears.
    Update(InboxArgs),
    List,
}

#[derive(Debug, Args)]
pub struct InboxArgs {
    #[arg(long)]
    phone_number_id: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    display_phone_number: Option<String>,
    #[arg(long)]
    access_token: Option<String>,
    #[arg(long)]
    app_secret: Option<String>,
    #[arg(long)]
    verify_token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        phone_number_id: String,
    },
    Remove {
        #[arg(long)]
        email: String,
        #[arg(long)]
        phone_number_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    List,
    Revoke {
        #[arg(long)]
        id: String,
    },
}

fn role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| format!("admin or agent, not {value:?}"))
}

impl Cli {
    /// Reads the command line. Help and version are printed here (`Ok(None)`); a mistake
    /// is one line saying what is wrong, in the words of the flags.
    pub fn read(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, CliError> {
        use clap::error::{ContextKind, ErrorKind};
        match Self::try_parse_from(args) {
            Ok(cli) => Ok(Some(cli)),
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
                let _ = e.print();
                Ok(None)
            }
            Err(e) => {
                let named = |kind| e.get(kind).map(|v| v.to_string());
                let reason = match e.kind() {
                    ErrorKind::MissingRequiredArgument => {
                        named(ContextKind::InvalidArg).map(|arg| {
                            let flag = arg.split_whitespace().next().unwrap_or(&arg).to_string();
                            format!("{flag} is required")
                        })
                    }
                    ErrorKind::InvalidSubcommand | ErrorKind::MissingSubcommand => Some(format!(
                        "unknown command {:?}",
                        named(ContextKind::InvalidSubcommand).unwrap_or_default()
                    )),
                    _ => None,
                };
                // Clap's own words, first line only (the help pointer is ours).
                let said = e.render().to_string();
                let first = said.lines().next().unwrap_or_default();
                Err(CliError::Usage(reason.unwrap_or_else(|| {
                    first.trim_start_matches("error: ").to_string()
                })))
            }
        }
    }
}

/// A command-line mistake (exit 2) or a failure doing the work (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}\n\nSee switchboard --help.")]
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

fn password(from_stdin: bool) -> Result<(String, bool), CliError> {
    if from_stdin {
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

async fn user(store: &DynStore, email: &str) -> Result<crate::model::User, CliError> {
    Ok(store
        .user_by_email(&crate::accounts::auth::normalise_email(email))
        .await?
        .ok_or_else(|| CliError::Failed(format!("no user with email {email}")))?
        .0)
}

async fn user_id(store: &DynStore, email: &str) -> Result<String, CliError> {
    Ok(user(store, email).await?.id)
}

async fn inbox_id(store: &DynStore, pnid: &str) -> Result<String, CliError> {
    Ok(store
        .inbox_by_phone_number_id(pnid)
        .await?
        .ok_or_else(|| CliError::Failed(format!("no inbox for phone number id {pnid}")))?
        .id)
}

impl InboxArgs {
    fn credentials(&self) -> InboxCredentials {
        InboxCredentials {
            access_token: self.access_token.clone(),
            app_secret: self.app_secret.clone(),
            verify_token: self.verify_token.clone(),
        }
    }
}

/// Runs one administrative command and returns what to print.
pub async fn run(config: &Config, command: Command) -> Result<String, CliError> {
    if matches!(command, Command::Serve) {
        return Err(CliError::Usage(
            "serve is not an administrative command".into(),
        ));
    }
    let (store, _files) = crate::server::open_storage(&config.database, &config.media)
        .await
        .map_err(|e| CliError::Failed(format!("cannot open the database: {e}")))?;
    let cli = crate::audit::Actor::cli();
    match command {
        Command::Serve => Ok(String::new()),
        Command::User(UserCommand::Add {
            email,
            name,
            role,
            password_stdin,
        }) => {
            let (password, generated) = password(password_stdin)?;
            let user = accounts::create_user(
                &store,
                &cli,
                NewAgent {
                    email,
                    name,
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
        Command::User(UserCommand::List) => {
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
        Command::User(UserCommand::Passwd {
            email,
            password_stdin,
        }) => {
            let id = user_id(&store, &email).await?;
            let (password, generated) = password(password_stdin)?;
            accounts::update_user(
                &store,
                &cli,
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
        Command::User(UserCommand::Disable { email }) => set_disabled(&store, &email, true).await,
        Command::User(UserCommand::Enable { email }) => set_disabled(&store, &email, false).await,
        Command::Inbox(InboxCommand::Add(inbox)) => {
            let credentials = inbox.credentials();
            let inbox = accounts::create_inbox(
                &store,
                &cli,
                NewInbox {
                    phone_number_id: inbox.phone_number_id,
                    name: inbox.name,
                    display_phone_number: inbox.display_phone_number,
                    credentials,
                },
            )
            .await?;
            Ok(format!(
                "created inbox {} for phone number id {}",
                inbox.id, inbox.phone_number_id
            ))
        }
        Command::Inbox(InboxCommand::Update(inbox)) => {
            let id = inbox_id(&store, &inbox.phone_number_id).await?;
            let credentials = inbox.credentials();
            accounts::update_inbox(
                &store,
                &cli,
                &id,
                InboxUpdate {
                    name: inbox.name,
                    display_phone_number: inbox.display_phone_number,
                    credentials,
                },
            )
            .await?;
            Ok("inbox updated".into())
        }
        Command::Inbox(InboxCommand::List) => {
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
        Command::Member(change) => {
            let (email, pnid, add) = match change {
                MemberCommand::Add {
                    email,
                    phone_number_id,
                } => (email, phone_number_id, true),
                MemberCommand::Remove {
                    email,
                    phone_number_id,
                } => (email, phone_number_id, false),
            };
            let user = user_id(&store, &email).await?;
            let inbox = inbox_id(&store, &pnid).await?;
            accounts::set_member(&store, &cli, &inbox, &user, add).await?;
            Ok(format!("member {}", if add { "added" } else { "removed" }))
        }
        Command::Token(TokenCommand::Create { email, name }) => {
            let user = user_id(&store, &email).await?;
            let created = accounts::create_token(&store, &cli, &name, &user).await?;
            Ok(format!(
                "created token {} (shown once, store it now):\n{}",
                created.token.id, created.secret
            ))
        }
        Command::Token(TokenCommand::List) => Ok(store
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
            .join("\n")),
        Command::Token(TokenCommand::Revoke { id }) => {
            accounts::revoke_token(&store, &cli, &id).await?;
            Ok("token revoked".into())
        }
        Command::Webhook(command) => webhook(&store, config, command).await,
        Command::Conversation(command) => conversation::run(&store, command).await,
    }
}

async fn webhook(
    store: &DynStore,
    config: &Config,
    command: WebhookCommand,
) -> Result<String, CliError> {
    use crate::webhooks::{self, Changes};
    let pause = |paused| Changes {
        paused: Some(paused),
        ..Default::default()
    };
    let line = |s: &crate::model::WebhookSubscription| {
        let all = |v: &[String]| {
            if v.is_empty() {
                "all".to_string()
            } else {
                v.join(",")
            }
        };
        format!(
            "{}\t{}\tevents {}\tinboxes {}\t{}\tlag {}{}",
            s.id,
            s.url,
            all(&s.events),
            all(&s.inbox_ids),
            s.state.as_str(),
            s.lag,
            s.last_error
                .as_deref()
                .map(|e| format!("\tlast error: {e}"))
                .unwrap_or_default()
        )
    };
    let allow_private = config.webhook_allow_private;
    let cli = crate::audit::Actor::cli();
    Ok(match command {
        WebhookCommand::Add {
            url,
            events,
            inboxes,
        } => {
            let mut inbox_ids = Vec::new();
            for pnid in &inboxes {
                inbox_ids.push(inbox_id(store, pnid).await?);
            }
            let created =
                webhooks::create(store, &cli, allow_private, &url, &events, &inbox_ids).await?;
            format!(
                "created webhook {} (its signing secret is shown once, store it now):\n{}",
                created.subscription.id, created.secret
            )
        }
        WebhookCommand::List => webhooks::list(store)
            .await?
            .iter()
            .map(line)
            .collect::<Vec<_>>()
            .join("\n"),
        WebhookCommand::Pause { id } => {
            line(&webhooks::update(store, &cli, allow_private, &id, pause(true)).await?)
        }
        WebhookCommand::Resume { id } => {
            line(&webhooks::update(store, &cli, allow_private, &id, pause(false)).await?)
        }
        WebhookCommand::Replay { id, since } => {
            line(&webhooks::replay(store, &cli, &id, since).await?)
        }
        WebhookCommand::Delete { id } => {
            webhooks::delete(store, &cli, &id).await?;
            "webhook deleted".into()
        }
    })
}

async fn set_disabled(store: &DynStore, email: &str, disabled: bool) -> Result<String, CliError> {
    let id = user_id(store, email).await?;
    accounts::update_user(
        store,
        &crate::audit::Actor::cli(),
        &id,
        UserChanges {
            disabled: Some(disabled),
            ..Default::default()
        },
    )
    .await?;
    Ok(if disabled { "disabled" } else { "enabled" }.into())
}
