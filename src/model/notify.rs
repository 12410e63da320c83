//! What an agent wants to be told of, kept with their account.

use serde::{Deserialize, Serialize};

/// Each switch on by default; the browser also needs the agent's permission for desktop
/// notifications (asked on a click, never on page load).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSettings {
    /// Desktop notifications (the Notification API).
    pub desktop: bool,
    /// A short sound.
    pub sound: bool,
    /// Customer messages in unassigned conversations of my inboxes.
    pub unassigned: bool,
    /// Customer messages in conversations assigned to me.
    pub assigned_to_me: bool,
    /// Notes that @mention me.
    pub mentions: bool,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            desktop: true,
            sound: true,
            unassigned: true,
            assigned_to_me: true,
            mentions: true,
        }
    }
}

/// The settings key an agent's notification settings are kept under.
pub fn notification_settings_key(user_id: &str) -> String {
    format!("notify:{user_id}")
}
