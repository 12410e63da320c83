//! The agent's own settings: what they are told of, and how.

use leptos::prelude::*;

use super::Interactive;
use super::state::InboxCtx;
use crate::model::NotificationSettings;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let notify = expect_context::<InboxCtx>().notify;
    // Edited here, saved on "Save"; starts from what the account has.
    let draft = RwSignal::new(NotificationSettings::default());
    Effect::new(move |_| draft.set(notify.settings.get()));
    // The browser's answer; read once hydrated (the server cannot know it).
    let permission = RwSignal::new("default");
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| permission.set(super::notify::permission()));
    let ask = move |_| {
        #[cfg(feature = "hydrate")]
        super::notify::ask_permission(move |answer| permission.set(answer));
    };
    let toggle = move |label: &'static str,
                       hint: &'static str,
                       get: fn(&NotificationSettings) -> bool,
                       set: fn(&mut NotificationSettings, bool)| {
        view! {
            <label class="setting">
                <input type="checkbox" prop:checked=move || get(&draft.get())
                    on:change=move |ev| draft.update(|d| set(d, event_target_checked(&ev)))/>
                <span>
                    <span class="setting-name">{label}</span>
                    <span class="hint">{hint}</span>
                </span>
            </label>
        }
    };
    let saved = move || {
        !notify.save.pending().get()
            && matches!(notify.save.value().get(), Some(Ok(s)) if s == draft.get())
    };
    let problem = move || match notify.save.value().get() {
        Some(Err(e)) => Some(e.message),
        _ => None,
    };
    view! {
        <section class="settings" data-testid="settings">
            <h1>"Settings"</h1>
            <h2>"Notifications"</h2>
            <p class="hint">"Kept with your account, so every tab and device follows them. Nothing is "
                "sent for your own messages or for the conversation you are looking at."</p>
            <div class="permission" data-testid="notification-permission" data-permission=move || permission.get()>
                {move || match permission.get() {
                    "granted" => view! { <p>"Desktop notifications are allowed in this browser."</p> }.into_any(),
                    "denied" => view! { <p class="error">"This browser blocks notifications from Switchboard; allow them in the site settings."</p> }.into_any(),
                    "unsupported" => view! { <p class="hint">"This browser cannot show desktop notifications."</p> }.into_any(),
                    _ => view! {
                        <button class="primary" data-testid="allow-notifications" on:click=ask>
                            "Allow desktop notifications"
                        </button>
                    }.into_any(),
                }}
            </div>
            <form on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                notify.save.dispatch(draft.get_untracked());
            }>
                <Interactive>
                    {toggle("Desktop notifications", "A notification per conversation, replaced as new messages come.",
                        |s| s.desktop, |s, v| s.desktop = v)}
                    {toggle("Sound", "A short chime, once however many tabs are open.", |s| s.sound, |s, v| s.sound = v)}
                    {toggle("Unassigned conversations", "Customer messages in my inboxes that nobody owns yet.",
                        |s| s.unassigned, |s, v| s.unassigned = v)}
                    {toggle("Assigned to me", "Customer messages in conversations I own.",
                        |s| s.assigned_to_me, |s, v| s.assigned_to_me = v)}
                    {toggle("Mentions", "Notes where a teammate @mentions me.", |s| s.mentions, |s, v| s.mentions = v)}
                    <div class="actions">
                        <button type="submit" class="primary" data-testid="save-settings">"Save"</button>
                        <Show when=saved><span class="hint" data-testid="settings-saved">"Saved"</span></Show>
                    </div>
                </Interactive>
            </form>
            {move || problem().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <h2>"Keyboard"</h2>
            <p class="hint">"Press " <kbd>"?"</kbd> " anywhere in the inbox (outside a text field) for the shortcuts."</p>
        </section>
    }
}
