//! Who signs in, what they may do, inboxes as they see them, and API tokens.

use serde::{Deserialize, Serialize};

/// What the page needs to know about how the server runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub simulator: bool,
    /// Demo customers the simulator can write as (empty outside simulator mode).
    pub demo_customers: Vec<DemoCustomer>,
    /// Inboxes the viewer may use, for the simulator's "to" picker and the admin pages.
    pub inboxes: Vec<InboxInfo>,
}

/// A user as other users see them: who owns a conversation, who sent a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserRef {
    pub id: String,
    pub name: String,
}

/// The shortest password an account may have.
pub const MIN_PASSWORD_LEN: usize = 10;

/// What an agent may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages agents, inboxes and API tokens, and sees every inbox.
    Admin,
    /// Works the inboxes they are a member of.
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
}

/// A person (or an integration's identity) who signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl User {
    /// How other users see this one.
    pub fn to_ref(&self) -> UserRef {
        UserRef {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// The signed-in viewer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user: User,
    /// Ids of the inboxes they may see (all of them for admins).
    pub inbox_ids: Vec<String>,
}

/// An inbox as agents and admins see it: never its credentials, only whether it has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxInfo {
    pub id: String,
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
    pub name: Option<String>,
    /// Whether the inbox has its own access token / app secret / verify token, rather
    /// than using the ones from the server's environment.
    pub own_credentials: bool,
    pub member_ids: Vec<String>,
    /// Why sending from this inbox is paused (WhatsApp rejected its access token).
    #[serde(default)]
    pub sending_paused: Option<String>,
    /// New conversations go round-robin to the inbox's online members.
    #[serde(default)]
    pub auto_assign: bool,
    /// A reply assigns an unassigned conversation to whoever sent it (on by default).
    #[serde(default = "yes")]
    pub assign_on_reply: bool,
}

fn yes() -> bool {
    true
}

/// Whether an inbox can send, as `inbox.updated` frames announce it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxStatus {
    pub id: String,
    /// Why sending is paused; `None` once it is resumed.
    #[serde(default)]
    pub sending_paused: Option<String>,
}

/// An API token as listed: the secret itself is shown once, at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// A newly created API token, with its secret (shown once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiTokenSecret {
    pub token: ApiTokenInfo,
    pub secret: String,
}

/// What the sign-in page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInInfo {
    /// Demo credentials, in simulator mode only, while the demo password is unchanged.
    pub demo: Option<DemoLogin>,
    /// No account exists yet: tell the operator how to create one.
    pub no_accounts: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoLogin {
    pub email: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoCustomer {
    pub wa_id: String,
    pub name: String,
}
