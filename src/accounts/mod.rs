//! Managing agents, inboxes and API tokens — the rules, shared by the admin UI's server
//! functions and the `switchboard` CLI.

use crate::model::{ApiTokenInfo, DemoLogin, InboxInfo, NewApiTokenSecret, Role, User};
pub mod auth;

use crate::accounts::auth::{hash_password, normalise_email, validate_password};
use crate::audit::{self, Actor, Diff};
use crate::config::Config;
use crate::context::AppError;
use crate::store::{DynStore, Inbox, InboxUpdate, NewApiToken, NewInbox, NewUser, UserUpdate};

/// The simulator's demo sign-in, kept while its password is unchanged.
pub const DEMO_LOGIN_SETTING: &str = "demo_login";
pub const DEMO_ADMIN_EMAIL: &str = "admin@switchboard.local";

pub struct NewAgent {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: String,
}

pub async fn create_user(
    store: &DynStore,
    actor: &Actor,
    agent: NewAgent,
) -> Result<User, AppError> {
    let email = normalise_email(&agent.email);
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        });
    if !valid {
        return Err(AppError::BadRequest(format!(
            "{email:?} is not an email address"
        )));
    }
    let name = agent.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::BadRequest(
            "a name of 1 to 100 characters is required".into(),
        ));
    }
    validate_password(&agent.password)?;
    let user = store
        .create_user(NewUser {
            email,
            name: name.to_string(),
            role: agent.role,
            password_hash: hash_password(&agent.password)?,
        })
        .await?;
    let changes = Diff::default()
        .field("name", None, Some(&user.name))
        .field("role", None, Some(user.role.as_str()))
        .secret("password", false, Some(&agent.password))
        .done();
    audit::record(
        store,
        actor,
        "user.created",
        Some(user_target(&user)),
        changes,
    )
    .await;
    Ok(user)
}

fn user_target(user: &User) -> String {
    format!("user {}", user.email)
}

fn inbox_target(inbox: &Inbox) -> String {
    match &inbox.name {
        Some(name) => format!("inbox {name} ({})", inbox.phone_number_id),
        None => format!("inbox {}", inbox.phone_number_id),
    }
}

#[derive(Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// Applies changes to a user. The last active admin cannot be demoted or disabled (nor
/// can admins disable themselves), so an install never locks itself out. A new password
/// or a disabled account ends every session the user has.
pub async fn update_user(
    store: &DynStore,
    actor: &Actor,
    user_id: &str,
    changes: UserChanges,
) -> Result<User, AppError> {
    let user = store
        .user(user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let loses_admin = user.role == Role::Admin
        && !user.disabled
        && (changes.role == Some(Role::Agent) || changes.disabled == Some(true));
    if loses_admin {
        if actor.id.as_deref() == Some(user_id) {
            return Err(AppError::Conflict(
                "you cannot demote or disable yourself".into(),
            ));
        }
        let other_admins = store
            .list_users()
            .await?
            .iter()
            .filter(|u| u.role == Role::Admin && !u.disabled && u.id != user.id)
            .count();
        if other_admins == 0 {
            return Err(AppError::Conflict("this is the last active admin".into()));
        }
    }
    if let Some(name) = &changes.name
        && name.trim().is_empty()
    {
        return Err(AppError::BadRequest("the name must not be empty".into()));
    }
    let password_hash = match &changes.password {
        Some(p) => {
            validate_password(p)?;
            Some(hash_password(p)?)
        }
        None => None,
    };
    let ends_sessions = password_hash.is_some() || changes.disabled == Some(true);
    let updated = store
        .update_user(
            user_id,
            UserUpdate {
                name: changes.name.map(|n| n.trim().to_string()),
                role: changes.role,
                disabled: changes.disabled,
                password_hash,
            },
        )
        .await?;
    if ends_sessions {
        store.delete_user_sessions(user_id).await?;
    }
    if changes.password.is_some() && updated.email == DEMO_ADMIN_EMAIL {
        // The demo password is no longer the one the sign-in page would show.
        store.set_setting(DEMO_LOGIN_SETTING, None).await?;
    }
    let diff = Diff::default()
        .field("name", Some(&user.name), Some(&updated.name))
        .field(
            "role",
            Some(user.role.as_str()),
            Some(updated.role.as_str()),
        )
        .field("disabled", Some(user.disabled), Some(updated.disabled))
        .secret("password", true, changes.password.as_deref())
        .done();
    if !diff.is_empty() {
        audit::record(
            store,
            actor,
            "user.updated",
            Some(user_target(&updated)),
            diff,
        )
        .await;
    }
    Ok(updated)
}

pub fn validate_phone_number_id(pnid: &str) -> Result<(), AppError> {
    if pnid.is_empty() || pnid.len() > 32 || !pnid.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::BadRequest(
            "the phone number id is the numeric id from Meta's App Dashboard".into(),
        ));
    }
    Ok(())
}

pub async fn create_inbox(
    store: &DynStore,
    actor: &Actor,
    new: NewInbox,
) -> Result<Inbox, AppError> {
    validate_phone_number_id(&new.phone_number_id)?;
    let c = &new.credentials;
    let changes = Diff::default()
        .field("phone_number_id", None, Some(&new.phone_number_id))
        .field("name", None, new.name.as_ref())
        .field(
            "display_phone_number",
            None,
            new.display_phone_number.as_ref(),
        )
        .secret("access_token", false, c.access_token.as_deref())
        .secret("app_secret", false, c.app_secret.as_deref())
        .secret("verify_token", false, c.verify_token.as_deref())
        .done();
    let inbox = store.create_inbox(new).await?;
    audit::record(
        store,
        actor,
        "inbox.created",
        Some(inbox_target(&inbox)),
        changes,
    )
    .await;
    Ok(inbox)
}

pub async fn update_inbox(
    store: &DynStore,
    actor: &Actor,
    id: &str,
    update: InboxUpdate,
) -> Result<Inbox, AppError> {
    let before = store.inbox(id).await?.ok_or(AppError::NotFound("inbox"))?;
    let (had, c) = (&before.credentials, &update.credentials);
    let secrets = Diff::default()
        .secret(
            "access_token",
            had.access_token.is_some(),
            c.access_token.as_deref(),
        )
        .secret(
            "app_secret",
            had.app_secret.is_some(),
            c.app_secret.as_deref(),
        )
        .secret(
            "verify_token",
            had.verify_token.is_some(),
            c.verify_token.as_deref(),
        );
    let inbox = store.update_inbox(id, update).await?;
    let changes = secrets
        .field("name", before.name.as_ref(), inbox.name.as_ref())
        .field(
            "display_phone_number",
            before.display_phone_number.as_ref(),
            inbox.display_phone_number.as_ref(),
        )
        .done();
    if !changes.is_empty() {
        audit::record(
            store,
            actor,
            "inbox.updated",
            Some(inbox_target(&inbox)),
            changes,
        )
        .await;
    }
    Ok(inbox)
}

/// Adds an agent to an inbox (they see its conversations from now on) or removes them.
pub async fn set_member(
    store: &DynStore,
    actor: &Actor,
    inbox_id: &str,
    user_id: &str,
    member: bool,
) -> Result<(), AppError> {
    let inbox = store
        .inbox(inbox_id)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    let user = store
        .user(user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let was = store.inbox_members(inbox_id).await?.contains(&user.id);
    store.set_member(inbox_id, user_id, member).await?;
    if was != member {
        let action = if member {
            "inbox.member_added"
        } else {
            "inbox.member_removed"
        };
        let changes = Diff::default()
            .field("member", None, Some(&user.email))
            .done();
        audit::record(store, actor, action, Some(inbox_target(&inbox)), changes).await;
    }
    Ok(())
}

pub async fn inbox_info(store: &DynStore, inbox: &Inbox) -> Result<InboxInfo, AppError> {
    Ok(InboxInfo {
        id: inbox.id.clone(),
        phone_number_id: inbox.phone_number_id.clone(),
        display_phone_number: inbox.display_phone_number.clone(),
        name: inbox.name.clone(),
        own_credentials: inbox.credentials.any(),
        member_ids: store.inbox_members(&inbox.id).await?,
        sending_paused: store.setting(&crate::store::pause_key(&inbox.id)).await?,
        auto_assign: store
            .setting(&crate::store::auto_assign_key(&inbox.id))
            .await?
            .as_deref()
            == Some("round_robin"),
        assign_on_reply: store
            .setting(&crate::store::assign_on_reply_key(&inbox.id))
            .await?
            .as_deref()
            != Some("off"),
    })
}

/// Sets how an inbox's conversations get an owner: round-robin among its online members
/// (`auto_assign`), and whether a reply claims an unassigned conversation. `None` keeps.
pub async fn set_inbox_assignment(
    store: &DynStore,
    actor: &Actor,
    inbox: &Inbox,
    auto_assign: Option<bool>,
    assign_on_reply: Option<bool>,
) -> Result<InboxInfo, AppError> {
    let before = inbox_info(store, inbox).await?;
    if let Some(on) = auto_assign {
        let key = crate::store::auto_assign_key(&inbox.id);
        store.set_setting(&key, on.then_some("round_robin")).await?;
    }
    if let Some(on) = assign_on_reply {
        let key = crate::store::assign_on_reply_key(&inbox.id);
        store.set_setting(&key, (!on).then_some("off")).await?;
    }
    let after = inbox_info(store, inbox).await?;
    let changes = Diff::default()
        .field(
            "auto_assign",
            Some(before.auto_assign),
            Some(after.auto_assign),
        )
        .field(
            "assign_on_reply",
            Some(before.assign_on_reply),
            Some(after.assign_on_reply),
        )
        .done();
    if !changes.is_empty() {
        let target = Some(inbox_target(inbox));
        audit::record(store, actor, "inbox.assignment_changed", target, changes).await;
    }
    Ok(after)
}

/// Creates an API token acting as `user_id`; the secret is returned once, never stored.
pub async fn create_token(
    store: &DynStore,
    actor: &Actor,
    name: &str,
    user_id: &str,
) -> Result<NewApiTokenSecret, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::BadRequest(
            "a token name of 1 to 100 characters is required".into(),
        ));
    }
    let secret = auth::new_secret("sbt_");
    let token: ApiTokenInfo = store
        .create_api_token(NewApiToken {
            name: name.to_string(),
            user_id: user_id.to_string(),
            token_hash: auth::sha256_hex(&secret),
        })
        .await?;
    let user = store
        .user(user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let changes = Diff::default()
        .field("acts_as", None, Some(&user.email))
        .done();
    audit::record(
        store,
        actor,
        "api_token.created",
        Some(token_target(&token)),
        changes,
    )
    .await;
    Ok(NewApiTokenSecret { token, secret })
}

/// Revokes an API token: it stops working at once.
pub async fn revoke_token(
    store: &DynStore,
    actor: &Actor,
    token_id: &str,
) -> Result<ApiTokenInfo, AppError> {
    let token = store.revoke_api_token(token_id).await?;
    audit::record(
        store,
        actor,
        "api_token.revoked",
        Some(token_target(&token)),
        vec![],
    )
    .await;
    Ok(token)
}

fn token_target(token: &ApiTokenInfo) -> String {
    format!("API token {} ({})", token.name, token.id)
}

/// First-run accounts. `SWITCHBOARD_ADMIN_EMAIL`/`_PASSWORD` create that admin if it is
/// missing. In simulator mode with no accounts at all, a demo admin with a random password
/// is created; its credentials are returned (to print once) and kept for the sign-in page.
pub async fn bootstrap(store: &DynStore, config: &Config) -> Result<Option<DemoLogin>, AppError> {
    if !config.whatsapp.simulator() {
        retire_demo_admin(store).await?;
    }
    if let Some((email, password)) = &config.admin {
        if store
            .user_by_email(&normalise_email(email))
            .await?
            .is_none()
        {
            let user = create_user(
                store,
                &Actor::system(),
                NewAgent {
                    email: email.clone(),
                    name: "Administrator".into(),
                    role: Role::Admin,
                    password: password.clone(),
                },
            )
            .await?;
            tracing::info!(email = %user.email, "created the admin from SWITCHBOARD_ADMIN_EMAIL");
        }
        return Ok(None);
    }
    if !config.whatsapp.simulator() || !store.list_users().await?.is_empty() {
        return Ok(None);
    }
    let password = auth::new_secret("")[..16].to_string();
    create_user(
        store,
        &Actor::system(),
        NewAgent {
            email: DEMO_ADMIN_EMAIL.into(),
            name: "Demo admin".into(),
            role: Role::Admin,
            password: password.clone(),
        },
    )
    .await?;
    let demo = DemoLogin {
        email: DEMO_ADMIN_EMAIL.into(),
        password,
    };
    let json = serde_json::to_string(&demo).map_err(|e| AppError::Internal(e.to_string()))?;
    store.set_setting(DEMO_LOGIN_SETTING, Some(&json)).await?;
    Ok(Some(demo))
}

/// With real credentials the demo admin (whose password the simulator's sign-in page
/// showed) must not keep working: it is disabled, its sessions end and the stored demo
/// password is deleted. An admin may enable it again with a new password.
async fn retire_demo_admin(store: &DynStore) -> Result<(), AppError> {
    if store.setting(DEMO_LOGIN_SETTING).await?.is_some() {
        store.set_setting(DEMO_LOGIN_SETTING, None).await?;
        tracing::warn!("live mode: deleted the simulator's stored demo password");
    }
    let Some((demo, _)) = store.user_by_email(DEMO_ADMIN_EMAIL).await? else {
        return Ok(());
    };
    if demo.disabled {
        return Ok(());
    }
    store
        .update_user(
            &demo.id,
            UserUpdate {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await?;
    store.delete_user_sessions(&demo.id).await?;
    tracing::warn!(
        email = DEMO_ADMIN_EMAIL,
        "live mode: disabled the simulator's demo admin; sign in with an admin of your own \
         (SWITCHBOARD_ADMIN_EMAIL or `switchboard user add --role admin`)"
    );
    Ok(())
}

/// The demo sign-in, if still valid (simulator mode only).
pub async fn demo_login(store: &DynStore, config: &Config) -> Result<Option<DemoLogin>, AppError> {
    if !config.whatsapp.simulator() {
        return Ok(None);
    }
    Ok(store
        .setting(DEMO_LOGIN_SETTING)
        .await?
        .and_then(|json| serde_json::from_str(&json).ok()))
}
