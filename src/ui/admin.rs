//! Administration: agents, inboxes and who works them, API tokens, outgoing webhooks.

use leptos::prelude::*;

use super::Interactive;
use crate::api::{
    create_api_token, create_inbox, create_user, list_api_tokens, list_inboxes, list_users,
    revoke_api_token, set_inbox_member, update_inbox, update_user,
};
use crate::error::ApiError;
use crate::model::{ApiTokenInfo, InboxInfo, Role, User};

/// One change an admin makes. Every change goes through one [`Action`]: its `version()`
/// reloads the lists, its value says how the last one went.
#[derive(Clone, Debug)]
enum Change {
    CreateUser {
        email: String,
        name: String,
        role: Role,
        password: String,
    },
    UpdateUser {
        id: String,
        role: Option<Role>,
        disabled: Option<bool>,
    },
    CreateInbox {
        phone_number_id: String,
        name: Option<String>,
        display: Option<String>,
        token: Option<String>,
        secret: Option<String>,
        verify: Option<String>,
    },
    SetCredentials {
        inbox_id: String,
        token: Option<String>,
        secret: Option<String>,
        verify: Option<String>,
    },
    SetMember {
        inbox_id: String,
        user_id: String,
        member: bool,
    },
    SetAssignment {
        inbox_id: String,
        auto_assign: Option<bool>,
        assign_on_reply: Option<bool>,
    },
    CreateToken {
        name: String,
        user_id: String,
    },
    RevokeToken {
        id: String,
    },
}

/// What a change that went through leaves for its form.
#[derive(Clone, Debug, PartialEq)]
enum Done {
    UserCreated,
    InboxCreated,
    /// A new API token's secret, shown once.
    TokenCreated(String),
    Changed,
}

impl Change {
    async fn run(self) -> Result<Done, ApiError> {
        Ok(match self {
            Self::CreateUser {
                email,
                name,
                role,
                password,
            } => {
                create_user(email, name, role, password).await?;
                Done::UserCreated
            }
            Self::UpdateUser { id, role, disabled } => {
                update_user(id, None, role, disabled, None).await?;
                Done::Changed
            }
            Self::CreateInbox {
                phone_number_id,
                name,
                display,
                token,
                secret,
                verify,
            } => {
                create_inbox(phone_number_id, name, display, token, secret, verify).await?;
                Done::InboxCreated
            }
            Self::SetCredentials {
                inbox_id,
                token,
                secret,
                verify,
            } => {
                update_inbox(inbox_id, None, None, token, secret, verify).await?;
                Done::Changed
            }
            Self::SetMember {
                inbox_id,
                user_id,
                member,
            } => {
                set_inbox_member(inbox_id, user_id, member).await?;
                Done::Changed
            }
            Self::SetAssignment {
                inbox_id,
                auto_assign,
                assign_on_reply,
            } => {
                crate::api::set_inbox_assignment(inbox_id, auto_assign, assign_on_reply).await?;
                Done::Changed
            }
            Self::CreateToken { name, user_id } => {
                Done::TokenCreated(create_api_token(name, user_id).await?.secret)
            }
            Self::RevokeToken { id } => {
                revoke_api_token(id).await?;
                Done::Changed
            }
        })
    }
}

type Changes = Action<Change, Result<Done, ApiError>>;

/// Runs `effect` each time a change ends in `done` (a form clears itself after success).
fn on_done(changes: Changes, done: impl Fn(&Done) -> bool + 'static, effect: impl Fn() + 'static) {
    Effect::new(move |_| {
        if changes
            .value()
            .with(|v| matches!(v, Some(Ok(d)) if done(d)))
        {
            effect();
        }
    });
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let changes: Changes = Action::new(|change: &Change| super::sendable(change.clone().run()));
    let users = Resource::new(move || changes.version().get(), |_| list_users());
    let inboxes = Resource::new(move || changes.version().get(), |_| list_inboxes());
    let tokens = Resource::new(move || changes.version().get(), |_| list_api_tokens());
    let problem = move || super::action_error(changes);
    // Outside the lists, which are rebuilt after every change: a new token's secret must
    // survive the reload that follows its creation, and later changes.
    let fresh = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(Done::TokenCreated(secret))) = changes.value().get() {
            fresh.set(Some(secret));
        }
    });
    view! {
        <section class="admin" data-testid="admin">
            <h1>"Administration"</h1>
            {move || problem().map(|p| view! { <p class="error" role="alert" data-testid="admin-error">{p}</p> })}
            <Transition fallback=|| view! { <p class="hint">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match (users.await, inboxes.await, tokens.await) {
                        (Ok(users), Ok(inboxes), Ok(tokens)) => view! {
                            <Agents users=users.clone() changes/>
                            <Inboxes inboxes=inboxes.clone() users=users.clone() changes/>
                            <Tokens tokens users=users.clone() fresh changes/>
                            <super::webhooks::Webhooks inboxes/>
                            <super::audit::AuditLog users/>
                        }.into_any(),
                        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => view! {
                            <p class="error" role="alert">{e.message}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Agents(users: Vec<User>, changes: Changes) -> impl IntoView {
    let team = expect_context::<super::state::InboxCtx>().team;
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new("agent".to_string());
    let password = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changes.dispatch(Change::CreateUser {
            email: email.get_untracked(),
            name: name.get_untracked(),
            role: Role::parse(&role.get_untracked()).unwrap_or(Role::Agent),
            password: password.get_untracked(),
        });
    };
    on_done(
        changes,
        |d| *d == Done::UserCreated,
        move || {
            for field in [email, name, password] {
                field.set(String::new());
            }
        },
    );
    view! {
        <h2>"Agents"</h2>
        <super::TableScroll label="Agents"><table data-testid="agents">
            <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Status"</th><th>"Presence"</th><th></th></tr></thead>
            <tbody>
                {users.into_iter().map(|u| {
                    let id = u.id.clone();
                    let id2 = u.id.clone();
                    let other_role = if u.role == Role::Admin { Role::Agent } else { Role::Admin };
                    let disabled = u.disabled;
                    view! {
                        <tr data-testid="agent-row" data-email=u.email.clone()>
                            <td>{u.name.clone()}</td>
                            <td>{u.email.clone()}</td>
                            <td>{u.role.as_str()}</td>
                            <td>{if u.disabled { "disabled" } else { "active" }}</td>
                            <td>{
                                let id = u.id.clone();
                                let status = Memo::new(move |_| team.status_of(&id).as_str());
                                view! {
                                    <span class=move || format!("presence {}", status.get()) data-testid="agent-presence"
                                        data-status=status>
                                        <span class="dot" aria-hidden="true"></span>{status}
                                    </span>
                                }
                            }</td>
                            <td class="actions">
                                <button class="link" on:click=move |_| {
                                    changes.dispatch(Change::UpdateUser { id: id.clone(), role: Some(other_role), disabled: None });
                                }>
                                    {format!("Make {}", other_role.as_str())}
                                </button>
                                <button class="link" on:click=move |_| {
                                    changes.dispatch(Change::UpdateUser { id: id2.clone(), role: None, disabled: Some(!disabled) });
                                }>
                                    {if disabled { "Enable" } else { "Disable" }}
                                </button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></super::TableScroll>
        <form class="inline-form" on:submit=add data-testid="add-agent">
            <Interactive>
                <input type="email" placeholder="email" required bind:value=email aria-label="Email"/>
                <input type="text" placeholder="name" required bind:value=name aria-label="Name"/>
                <select aria-label="Role" on:change=move |ev| role.set(event_target_value(&ev))>
                    <option value="agent" selected>"agent"</option>
                    <option value="admin">"admin"</option>
                </select>
                <input type="password" placeholder="initial password (10+ characters)" required
                    bind:value=password aria-label="Initial password" autocomplete="new-password"/>
                <button type="submit">"Add agent"</button>
            </Interactive>
        </form>
    }
}

#[component]
fn Inboxes(inboxes: Vec<InboxInfo>, users: Vec<User>, changes: Changes) -> impl IntoView {
    let pnid = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let display = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let verify = RwSignal::new(String::new());
    let opt = |s: RwSignal<String>| Some(s.get_untracked()).filter(|v| !v.trim().is_empty());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changes.dispatch(Change::CreateInbox {
            phone_number_id: pnid.get_untracked(),
            name: opt(name),
            display: opt(display),
            token: opt(token),
            secret: opt(secret),
            verify: opt(verify),
        });
    };
    on_done(
        changes,
        |d| *d == Done::InboxCreated,
        move || {
            for field in [pnid, name, display, token, secret, verify] {
                field.set(String::new());
            }
        },
    );
    let agents: Vec<User> = users
        .into_iter()
        .filter(|u| u.role == Role::Agent)
        .collect();
    view! {
        <h2>"Inboxes"</h2>
        <p class="hint">"Admins see every inbox. Agents see the inboxes they are members of."</p>
        <super::TableScroll label="Inboxes"><table data-testid="inboxes">
            <thead><tr><th>"Inbox"</th><th>"Phone number id"</th><th>"Credentials"</th><th>"Members"</th><th>"Assignment"</th></tr></thead>
            <tbody>
                {inboxes.into_iter().map(|inbox| {
                    let inbox_id = inbox.id.clone();
                    let label = inbox.name.clone()
                        .or(inbox.display_phone_number.clone().map(|d| format!("+{d}")))
                        .unwrap_or_else(|| "Unnamed".into());
                    view! {
                        <tr data-testid="inbox-row" data-phone-number-id=inbox.phone_number_id.clone()>
                            <td>{label}</td>
                            <td><code>{inbox.phone_number_id.clone()}</code></td>
                            <td>
                                {if inbox.own_credentials { "own" } else { "from the environment" }}
                                <CredentialsForm inbox_id=inbox.id.clone() changes/>
                            </td>
                            <td class="members">
                                {agents.iter().map(|a| {
                                    let member = inbox.member_ids.contains(&a.id);
                                    let (inbox_id, user_id) = (inbox_id.clone(), a.id.clone());
                                    view! {
                                        <label class="member">
                                            <input type="checkbox" checked=member
                                                on:change=move |_| {
                                                    changes.dispatch(Change::SetMember { inbox_id: inbox_id.clone(), user_id: user_id.clone(), member: !member });
                                                }/>
                                            {a.name.clone()}
                                        </label>
                                    }
                                }).collect_view()}
                            </td>
                            <td class="assignment">
                                {
                                    let (round_robin, on_reply) = (inbox.auto_assign, inbox.assign_on_reply);
                                    let (a, b) = (inbox_id.clone(), inbox_id.clone());
                                    view! {
                                        <label class="member" title="New conversations go in turn to the inbox's members who are online">
                                            <input type="checkbox" data-testid="auto-assign" checked=round_robin
                                                on:change=move |_| {
                                                    changes.dispatch(Change::SetAssignment { inbox_id: a.clone(), auto_assign: Some(!round_robin), assign_on_reply: None });
                                                }/>
                                            "Round-robin to online members"
                                        </label>
                                        <label class="member" title="Replying to an unassigned conversation makes it yours">
                                            <input type="checkbox" data-testid="assign-on-reply" checked=on_reply
                                                on:change=move |_| {
                                                    changes.dispatch(Change::SetAssignment { inbox_id: b.clone(), auto_assign: None, assign_on_reply: Some(!on_reply) });
                                                }/>
                                            "A reply assigns it"
                                        </label>
                                    }
                                }
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></super::TableScroll>
        <form class="inline-form" on:submit=add data-testid="add-inbox">
            <Interactive>
                <input type="text" inputmode="numeric" placeholder="phone number id" required bind:value=pnid
                    aria-label="Phone number id"/>
                <input type="text" placeholder="name" bind:value=name aria-label="Inbox name"/>
                <input type="text" placeholder="display number" bind:value=display aria-label="Display number"/>
                <input type="password" placeholder="access token (optional)" bind:value=token
                    aria-label="Access token" autocomplete="off"/>
                <input type="password" placeholder="app secret (optional)" bind:value=secret
                    aria-label="App secret" autocomplete="off"/>
                <input type="password" placeholder="verify token (optional)" bind:value=verify
                    aria-label="Verify token" autocomplete="off"/>
                <button type="submit">"Add inbox"</button>
            </Interactive>
        </form>
    }
}

/// Replaces an inbox's credentials; a field left blank keeps the current value.
#[component]
fn CredentialsForm(inbox_id: String, changes: Changes) -> impl IntoView {
    let open = RwSignal::new(false);
    let token = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let verify = RwSignal::new(String::new());
    let opt = |s: RwSignal<String>| Some(s.get_untracked()).filter(|v| !v.is_empty());
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        open.set(false);
        changes.dispatch(Change::SetCredentials {
            inbox_id: inbox_id.clone(),
            token: opt(token),
            secret: opt(secret),
            verify: opt(verify),
        });
    };
    view! {
        <button class="link" on:click=move |_| open.update(|o| *o = !*o)>"Change"</button>
        <Show when=move || open.get()>
            <form class="stacked" on:submit=save.clone()>
                <input type="password" placeholder="new access token" bind:value=token autocomplete="off"/>
                <input type="password" placeholder="new app secret" bind:value=secret autocomplete="off"/>
                <input type="password" placeholder="new verify token" bind:value=verify autocomplete="off"/>
                <button type="submit">"Save"</button>
            </form>
        </Show>
    }
}

#[component]
fn Tokens(
    tokens: Vec<ApiTokenInfo>,
    users: Vec<User>,
    fresh: RwSignal<Option<String>>,
    changes: Changes,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let user = RwSignal::new(users.first().map(|u| u.id.clone()).unwrap_or_default());
    let names: Vec<(String, String)> = users
        .iter()
        .map(|u| (u.id.clone(), u.email.clone()))
        .collect();
    let owners = names.clone();
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changes.dispatch(Change::CreateToken {
            name: name.get_untracked(),
            user_id: user.get_untracked(),
        });
    };
    on_done(
        changes,
        |d| matches!(d, Done::TokenCreated(_)),
        move || name.set(String::new()),
    );
    view! {
        <h2>"API tokens"</h2>
        <p class="hint">"A token acts as the user it belongs to, with the same inboxes. Send it as "
            <code>"Authorization: Bearer …"</code>" to the server functions and to /ws."</p>
        {move || fresh.get().map(|secret| view! {
            <p class="secret" data-testid="new-token">
                "New token (shown once — copy it now): " <code>{secret}</code>
            </p>
        })}
        <super::TableScroll label="API tokens"><table data-testid="tokens">
            <thead><tr><th>"Name"</th><th>"Acts as"</th><th>"Status"</th><th></th></tr></thead>
            <tbody>
                {tokens.into_iter().map(|t| {
                    let id = t.id.clone();
                    let owner = owners.iter().find(|(uid, _)| *uid == t.user_id)
                        .map(|(_, e)| e.clone()).unwrap_or_default();
                    view! {
                        <tr>
                            <td>{t.name.clone()}</td>
                            <td>{owner}</td>
                            <td>{if t.revoked { "revoked" } else { "active" }}</td>
                            <td>{(!t.revoked).then(|| view! {
                                <button class="link" on:click=move |_| {
                                    changes.dispatch(Change::RevokeToken { id: id.clone() });
                                }>"Revoke"</button>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></super::TableScroll>
        <form class="inline-form" on:submit=create data-testid="add-token">
            <Interactive>
                <input type="text" placeholder="token name, e.g. crm-sync" required bind:value=name aria-label="Token name"/>
                <select aria-label="Acts as" on:change=move |ev| user.set(event_target_value(&ev))>
                    {names.into_iter().map(|(id, email)| view! { <option value=id>{email}</option> }).collect_view()}
                </select>
                <button type="submit">"Create token"</button>
            </Interactive>
        </form>
    }
}
