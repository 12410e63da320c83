//! The ChatBox: one conversation's history, live ticks, and the reply composer.

use leptos::prelude::*;

use super::Interactive;
use super::state::InboxCtx;
use super::structured::StructuredComposer;
use super::template_form::TemplateForm;
use super::thread_view::ThreadView;
use super::upload::{upload_action, upload_problem, uploading_name};
use crate::api::{
    DEFAULT_PAGE, get_conversation, load_activity, load_messages, mark_conversation_read,
};
use crate::model::Conversation;

/// The routed pane: a fresh ChatBox per open conversation.
#[component]
pub fn ChatPane() -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    move || {
        ctx.open
            .get()
            .map(|id| view! { <ChatBox conversation_id=id/> })
    }
}

#[component]
pub fn ChatBox(conversation_id: String) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    // `?at=<message id>`: open at that message (a search result), not at the newest.
    let query = leptos_router::hooks::use_query_map();
    let at = Memo::new(move |_| query.read().get("at"));
    let id = conversation_id.clone();
    // The newest page (or the one around `at`), and the assignment and status lines that
    // fall within it.
    let history = Resource::new(
        move || (ctx.epoch.get(), at.get()),
        move |(_, at)| {
            let id = id.clone();
            async move {
                let around = match at {
                    Some(at) => load_messages(id.clone(), None, Some(DEFAULT_PAGE), None, Some(at))
                        .await
                        .ok(),
                    None => None,
                };
                // A message gone since it was found opens the conversation at its newest.
                let page = match around {
                    Some(page) => page,
                    None => load_messages(id.clone(), None, Some(DEFAULT_PAGE), None, None).await?,
                };
                let lines = load_activity(id).await.unwrap_or_default();
                let bound = |edge: Option<&crate::model::Message>, more: bool| {
                    edge.filter(|_| more).map(|m| m.timestamp)
                };
                let oldest = bound(page.messages.last(), page.next.is_some()).unwrap_or(0);
                let newest = bound(page.messages.first(), page.newer.is_some()).unwrap_or(i64::MAX);
                let lines: Vec<_> = lines
                    .into_iter()
                    .filter(|l| (oldest..=newest).contains(&(l.at / 1000)))
                    .collect();
                Ok::<_, crate::error::ApiError>((page, lines))
            }
        },
    );
    let id = conversation_id.clone();
    let conversation = Memo::new(move |_| ctx.conversation(&id));
    // One beyond the loaded part of the list (opened from a search result, a link or a
    // notification) is fetched by itself once the list is in, so the header, controls
    // and composer know it; it joins the list as a conversation an event brings does.
    // In the browser only: drawn by the server too, the list would hydrate differently.
    let fetch_one = Action::new(move |id: &String| {
        let id = id.clone();
        super::sendable(async move {
            match get_conversation(id).await {
                Ok(c) => ctx.keep(c),
                Err(e) => leptos::logging::warn!("conversation not loaded: {}", e.message),
            }
        })
    });
    let id = conversation_id.clone();
    // `base_seq` is set once, when the first list is in: this looks once, then.
    Effect::new(move |_| {
        if ctx.base_seq.get().is_some() && conversation.with_untracked(Option::is_none) {
            fetch_one.dispatch(id.clone());
        }
    });

    // Events for this conversation are kept from now on, even before its history loads.
    ctx.thread.change_thread(|t| t.open(&conversation_id));

    // Seen by an agent: clear the unread count while the page is visible. The effect
    // watches `pending`, so a message arriving mid-request is cleared once it returns.
    let marking = Action::new(move |id: &String| {
        let id = id.clone();
        super::sendable(async move {
            if let Ok(c) = mark_conversation_read(id).await {
                ctx.keep(c);
            }
        })
    });
    let id = conversation_id.clone();
    Effect::new(move |_| {
        let unread = conversation
            .read()
            .as_ref()
            .map(|c| c.unread_count)
            .unwrap_or(0);
        if unread > 0 && ctx.visible.get() && !marking.pending().get() {
            marking.dispatch(id.clone());
        }
    });

    let id = conversation_id.clone();
    let section_id = conversation_id.clone();
    view! {
        <section class="chatbox" data-testid="chatbox" data-conversation=section_id>
            <header class="chat-header">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let _ = ctx.conversations_loaded().await;
                        view! {
                            {move || conversation.get().map(|c| view! {
                                <div class="title">
                                    <h1 data-testid="chat-title">{c.contact.display_name()}</h1>
                                    <span class="contact-id">
                                        {c.contact.wa_id.map(|w| format!("+{w}")).or(c.contact.user_id)}
                                    </span>
                                </div>
                            })}
                            <super::controls::ConversationControls conversation/>
                        }
                    })}
                </Suspense>
            </header>
            <Transition fallback=|| view! { <div class="thread"><p class="hint">"Loading messages…"</p></div> }>
                {
                    let id = id.clone();
                    move || {
                        let id = id.clone();
                        Suspend::new(async move {
                            match history.await {
                                Ok((page, lines)) => {
                                    ctx.thread.change_thread(|t| t.set_page(&id, page));
                                    // Added once the page is live (an effect runs only in the
                                    // browser, after hydration): drawn on the server too, they
                                    // made the thread hydrate against a different order.
                                    Effect::new(move |_| {
                                        for line in &lines {
                                            ctx.thread.upsert(super::state::activity_entry(line));
                                        }
                                    });
                                    let target = at.get_untracked();
                                    view! { <ThreadView conversation_id=id target/> }.into_any()
                                }
                                Err(e) => view! {
                                    <div class="thread">
                                        <p class="error" role="alert">"Could not load messages: " {e.message}</p>
                                    </div>
                                }.into_any(),
                            }
                        })
                    }
                }
            </Transition>
            // After the list, as the header: what the composer shows depends on the
            // conversation, so the server and the browser must both draw it with the list in.
            <Suspense fallback=|| ()>
                {move || {
                    let conversation_id = conversation_id.clone();
                    Suspend::new(async move {
                        let _ = ctx.conversations_loaded().await;
                        view! { <Composer conversation_id conversation/> }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// The file types WhatsApp takes (the server checks them again, with sizes).
const ACCEPTED_FILES: &str = "image/jpeg,image/png,image/webp,video/mp4,video/3gpp,audio/aac,\
    audio/amr,audio/mpeg,audio/mp4,audio/ogg,application/pdf,text/plain,application/msword,\
    application/vnd.ms-excel,application/vnd.ms-powerpoint,\
    application/vnd.openxmlformats-officedocument.wordprocessingml.document,\
    application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,\
    application/vnd.openxmlformats-officedocument.presentationml.presentation";

/// How the 24-hour window stands, as the composer shows it.
fn window_text(left_secs: i64) -> String {
    let hours = left_secs / 3600;
    let minutes = (left_secs % 3600) / 60;
    if hours > 0 {
        format!("{hours} h {minutes} min left to reply freely")
    } else {
        format!("{minutes} min left to reply freely")
    }
}

#[component]
fn Composer(conversation_id: String, conversation: Memo<Option<Conversation>>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let text = RwSignal::new(String::new());
    // Reply (to the customer) or Note (to the team): a note goes whatever the window.
    let noting = RwSignal::new(false);
    // Seconds left in the window; None until the conversation is known.
    let window_left = Memo::new(move |_| {
        let now = ctx.clock.get().now_secs;
        conversation.get().map(|c| c.window_left(now))
    });
    let closed = move || window_left.get() == Some(0) && !noting.get();
    // Where in the thread this reply was begun, and who replied to the customer since
    // (shown once: the next Send sends anyway).
    let begun = StoredValue::new(None::<i64>);
    let replied = RwSignal::new(None::<String>);
    let navigate = leptos_router::hooks::use_navigate();
    let send = {
        let conversation_id = conversation_id.clone();
        move || {
            let body = text.get_untracked().trim().to_string();
            if body.is_empty() || body.chars().count() > crate::model::MAX_TEXT_LEN {
                return;
            }
            if !noting.get_untracked() && replied.get_untracked().is_none() {
                let me = ctx.me.get_untracked();
                let other = begun.get_value().and_then(|since| {
                    ctx.thread
                        .thread
                        .with_untracked(|t| t.replied_since(&me, since))
                });
                if other.is_some() {
                    replied.set(other);
                    return;
                }
            }
            replied.set(None);
            begun.set_value(None);
            text.set(String::new());
            // Opened at an old message: a reply belongs under the newest, so go there.
            if ctx.thread.thread.with_untracked(|t| t.newer.is_some()) {
                navigate(&format!("/c/{conversation_id}"), Default::default());
            }
            if noting.get_untracked() {
                ctx.add_note(conversation_id.clone(), body);
            } else {
                ctx.send(conversation_id.clone(), body);
            }
        }
    };
    let too_long = move || text.read().chars().count() > crate::model::MAX_TEXT_LEN;
    let send_on_enter = send.clone();
    // `/shortcut`: a canned response, its placeholders filled for this contact.
    let canned = super::canned::CannedPicker::default();
    let offered = Signal::derive(move || canned.suggestions(&text.read()));
    let use_canned = move |r: crate::model::CannedResponse| {
        let contact = conversation
            .with_untracked(|c| c.as_ref().map(|c| c.contact.display_name()))
            .unwrap_or_default();
        text.set(super::canned::fill(&r, &contact));
    };
    // The file being uploaded, and why the last one was refused.
    let upload = {
        let conversation_id = conversation_id.clone();
        upload_action(move |info| {
            // The text typed so far becomes the caption.
            if ctx.send_upload(conversation_id.clone(), info, text.get_untracked()) {
                text.set(String::new());
            }
        })
    };
    let uploading = move || uploading_name(upload);
    let upload_error = move || upload_problem(upload);
    let file_input = NodeRef::<leptos::html::Input>::new();
    // Where the browser does not size fields to their content (`field-sizing`: Firefox
    // and Safari today), the composer is sized to its text here, as it changes.
    let field = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        text.track();
        #[cfg(feature = "hydrate")]
        if let Some(el) = field.get_untracked() {
            // After the frame's layout, so a text set by code (a send, a canned response)
            // is in the field first.
            request_animation_frame(move || fit_to_text(&el));
        }
    });
    let attach = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(input) = file_input.get_untracked()
            && let Some(file) = input.files().and_then(|list| list.get(0))
        {
            // Cleared, so picking the same file again is a new change.
            input.set_value("");
            upload.dispatch(send_wrapper::SendWrapper::new(file));
        }
    };
    let reply_here = {
        let conversation_id = conversation_id.clone();
        move || {
            ctx.replying
                .get()
                .filter(|m| m.conversation_id == conversation_id)
        }
    };
    // "typing…" for the customer, refreshed at most every 20 s (WhatsApp keeps it 25 s).
    let last_typing = StoredValue::new(0i64);
    let typing_id = conversation_id.clone();
    let tell_typing = Action::new(|id: &String| {
        let id = id.clone();
        super::sendable(async move {
            let _ = crate::api::show_typing(id).await;
        })
    });
    let typing = move || {
        let now = super::state::now_secs();
        if now - last_typing.get_value() < 20 {
            return;
        }
        last_typing.set_value(now);
        tell_typing.dispatch(typing_id.clone());
    };
    let structured_id = conversation_id.clone();
    let team_id = conversation_id.clone();
    let notice_id = conversation_id.clone();
    let mode = move |note: bool, label: &'static str| {
        view! {
            <button type="button" role="tab" class="tab" aria-selected=move || (noting.get() == note).to_string()
                data-testid=if note { "mode-note" } else { "mode-reply" }
                on:click=move |_| noting.set(note)>{label}</button>
        }
    };
    view! {
        <super::team::TypingNotice conversation_id=notice_id/>
        <div class="composer-mode" role="tablist" aria-label="Write a">
            {mode(false, "Reply")}
            {mode(true, "Note")}
        </div>
        <Show when=move || matches!(window_left.get(), Some(left) if left > 0) && !noting.get()>
            <p class="window-left" data-testid="window-left">
                {move || window_left.get().map(window_text)}
            </p>
        </Show>
        <Show
            when=closed
            fallback=move || {
                let send = send.clone();
                let send_on_enter = send_on_enter.clone();
                let reply_here = reply_here.clone();
                let structured_id = structured_id.clone();
                let typing = typing.clone();
                let team_id = team_id.clone();
                view! {
                    <Show when=move || !noting.get()>
                        <StructuredComposer conversation_id=structured_id.clone()/>
                    </Show>
                    {move || reply_here().map(|m| view! {
                        <div class="replying" data-testid="replying">
                            <span class="who">{if m.direction == crate::model::Direction::Out { "You" } else { "Customer" }}</span>
                            <span class="text">{crate::model::Quote::of(&m).text}</span>
                            <button type="button" class="cancel" aria-label="Cancel the reply"
                                data-testid="cancel-reply" on:click=move |_| ctx.replying.set(None)><super::icons::CloseIcon/></button>
                        </div>
                    })}
                    <Show when=move || uploading().is_some()>
                        <p class="uploading" data-testid="uploading" role="status">
                            "Uploading " {move || uploading().unwrap_or_default()} "…"
                        </p>
                    </Show>
                    <Show when=move || upload_error().is_some()>
                        <p class="error" role="alert" data-testid="upload-error">
                            "Not attached: " {move || upload_error().unwrap_or_default()}
                        </p>
                    </Show>
                    {move || replied.get().map(|who| view! {
                        <p class="replied-since" role="alert" data-testid="replied-since">
                            {format!("{who} replied to the customer since you began. Read it first; Send again sends yours.")}
                        </p>
                    })}
                    <form class=move || if noting.get() { "composer noting" } else { "composer" } on:submit=move |ev| {
                        ev.prevent_default();
                        send();
                    }>
                        <Interactive>
                            <label class="attach" title="Attach a photo, video, audio or document">
                                <super::icons::AttachIcon/>
                                <span class="visually-hidden">"Attach a file"</span>
                                <input type="file" data-testid="attach" node_ref=file_input
                                    accept=ACCEPTED_FILES on:change=attach
                                    disabled=move || uploading().is_some()/>
                            </label>
                            <textarea
                                node_ref=field
                                data-testid="composer"
                                aria-label=move || if noting.get() { "Note" } else { "Reply" }
                                rows="2"
                                placeholder=move || if noting.get() {
                                    "A note for your team (the customer never sees it) — @name mentions a teammate"
                                } else {
                                    "Type a reply — Enter sends, Shift+Enter adds a line"
                                }
                                prop:value=move || text.get()
                                on:input=move |ev| {
                                    let typed = event_target_value(&ev);
                                    if typed.trim().is_empty() {
                                        begun.set_value(None);
                                    } else if begun.get_value().is_none() {
                                        let at = ctx.thread.thread.with_untracked(|t| t.last_seq());
                                        begun.set_value(Some(at));
                                    }
                                    canned.typed(&typed);
                                    text.set(typed);
                                    // Teammates hear of replies and notes alike.
                                    ctx.team.typed(&team_id);
                                    if !noting.get_untracked() {
                                        typing();
                                    }
                                }
                                on:keydown=move |ev| {
                                    if ev.is_composing() {
                                        return;
                                    }
                                    let (handled, chosen) = canned.key(&ev.key(), &offered.get_untracked());
                                    if handled {
                                        ev.prevent_default();
                                        if let Some(r) = chosen {
                                            use_canned(r);
                                        }
                                        return;
                                    }
                                    if ev.key() == "Enter" && !ev.shift_key() {
                                        ev.prevent_default();
                                        send_on_enter();
                                    }
                                }
                            ></textarea>
                            <super::canned::CannedMenu shown=offered active=canned.active() pick=use_canned/>
                            <button type="submit" data-testid="send" disabled=too_long>
                                {move || if noting.get() { "Add note" } else { "Send" }}
                            </button>
                            <Show when=too_long>
                                <p class="error" role="alert">"WhatsApp allows 4096 characters per message."</p>
                            </Show>
                        </Interactive>
                    </form>
                }
            }
        >
            <TemplateForm conversation_id=conversation_id.clone()
                opted_out=Signal::derive(move || conversation.read().as_ref().is_some_and(|c| c.contact.opted_out))/>
        </Show>
    }
}

/// Sizes the composer to its text (up to its CSS `max-height`), unless the browser does.
#[cfg(feature = "hydrate")]
fn fit_to_text(el: &web_sys::HtmlTextAreaElement) {
    let sized_by_browser = window()
        .get_computed_style(el)
        .ok()
        .flatten()
        .and_then(|style| style.get_property_value("field-sizing").ok())
        .is_some_and(|v| v == "content");
    if sized_by_browser {
        return;
    }
    let style = web_sys::HtmlElement::style(el);
    // Its natural height first, so it also shrinks when text goes.
    let _ = style.set_property("height", "auto");
    let borders = el.offset_height() - el.client_height();
    let _ = style.set_property("height", &format!("{}px", el.scroll_height() + borders));
}
