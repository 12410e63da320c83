//! A signed-in caller: the user, the inboxes they may see, and how they proved it.

use crate::context::AppError;
use crate::model::{Me, Role, User};
use crate::store::{DynStore, Scope};

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub scope: Scope,
    pub via: Via,
}

#[derive(Clone, Debug)]
pub enum Via {
    /// A browser session; the hash identifies it for sign-out.
    Session { token_hash: String },
    /// An API token.
    Token { id: String },
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden("only admins may do this".into()))
        }
    }

    pub fn can_see(&self, inbox_id: &str) -> bool {
        self.scope.allows(inbox_id)
    }

    pub fn uses_cookie(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }

    pub async fn me(&self, store: &DynStore) -> Result<Me, AppError> {
        let inbox_ids = match &self.scope {
            Scope::All => store
                .list_inboxes()
                .await?
                .into_iter()
                .map(|i| i.id)
                .collect(),
            Scope::Inboxes(ids) => ids.clone(),
        };
        Ok(Me {
            user: self.user.clone(),
            inbox_ids,
        })
    }
}

/// The inboxes a user may see: all for admins, their memberships otherwise.
pub async fn scope_for(store: &DynStore, user: &User) -> Result<Scope, AppError> {
    Ok(match user.role {
        Role::Admin => Scope::All,
        Role::Agent => Scope::Inboxes(store.user_inboxes(&user.id).await?),
    })
}
