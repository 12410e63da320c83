//! One message as a bubble: its content by type, media, reactions, ticks, and what went
//! wrong with a send and what to do about it.

use leptos::prelude::*;

use super::state::{InboxCtx, is_activity, is_local};
use super::status_icon::StatusIcon;
use super::time::{clock_time, list_time};
use crate::model::{
    Content, Direction, InteractiveSpec, Media, MediaState, Message, MessageKind, MessageStatus,
    TemplateCard, TemplateHeader, TemplateSpec,
};

/// Reactions an agent can add with one click.
const QUICK_REACTIONS: &[&str] = &["👍", "❤️", "😂", "😮", "🙏"];

/// `continued`: it follows its sender's previous message closely, so it is drawn close
/// under it, without a tail of its own.
#[component]
pub fn Bubble(m: Message, #[prop(optional, into)] continued: Signal<bool>) -> AnyView {
    let ctx = expect_context::<InboxCtx>();
    if is_activity(&m) {
        return view! {
            <p class="activity-line" data-testid="activity" role="note">
                <span>{m.text.clone().unwrap_or_default()}</span>
                <time>{move || list_time(m.timestamp, ctx.clock.get())}</time>
            </p>
        }
        .into_any();
    }
    if m.direction == Direction::Note {
        return view! { <NoteBubble m continued/> }.into_any();
    }
    let direction = m.direction.as_str();
    let ts = m.timestamp;
    let d = m.details.clone();
    let shows_text = matches!(
        m.kind,
        MessageKind::Text
            | MessageKind::Image
            | MessageKind::Video
            | MessageKind::Document
            | MessageKind::System
    );
    let body = m
        .text
        .clone()
        .filter(|t| shows_text && !t.is_empty() && !d.deleted);
    let kind_label = (!matches!(m.kind, MessageKind::Text | MessageKind::System)
        && d.media.is_none()
        && d.content.is_none())
    .then(|| m.kind.placeholder());
    let flags = [
        d.frequently_forwarded.then_some("↪↪ Forwarded many times"),
        (d.forwarded && !d.frequently_forwarded).then_some("↪ Forwarded"),
    ];
    let referral = d.referral.clone().map(|r| {
        let what = r
            .headline
            .or(r.body)
            .or(r.source_url)
            .unwrap_or_else(|| "an ad".into());
        view! { <p class="referral" data-testid="referral">"From ad: " {what}</p> }
    });
    let quote = match (&d.quote, &m.reply_to) {
        (Some(q), _) => Some(view! {
            <blockquote class="quote" data-testid="quote">
                <span class="who">{if q.direction == Direction::Out { "You" } else { "Customer" }}</span>
                {q.text.clone()}
            </blockquote>
        }.into_any()),
        (None, Some(_)) if m.kind != MessageKind::Reaction => Some(view! {
            <blockquote class="quote dangling" data-testid="quote">"Reply to an earlier message"</blockquote>
        }.into_any()),
        _ => None,
    };
    // A template's media is its header's file.
    let media_kind = match &d.content {
        Some(Content::Template(TemplateSpec {
            header: Some(h), ..
        })) => h.media().map_or(m.kind, |(kind, _)| kind),
        _ => m.kind,
    };
    let media = d
        .media
        .clone()
        .map(|md| view! { <MediaView message_id=m.id.clone() kind=media_kind media=md outbound=m.direction == Direction::Out/> });
    let content = d.content.clone().map(|c| content_view(c, m.text.clone()));
    let reactions: Vec<_> = d
        .reactions
        .iter()
        .filter(|r| !r.emoji.is_empty())
        .map(|r| {
            let who = if r.by == Direction::Out { "agent" } else { "customer" };
            view! { <span class="reaction" data-testid="reaction" data-by=who>{r.emoji.clone()}</span> }
        })
        .collect();
    let has_reactions = !reactions.is_empty();
    view! {
        // Focusable by a tap (not by Tab): on a phone the focus is what shows its actions.
        <article
            class=format!("bubble {direction}")
            class:continued=move || continued.get()
            tabindex="-1"
            data-testid="message"
            data-id=m.id.clone()
            data-kind=m.kind.as_str()
            data-direction=direction
            data-status=m.status.as_str()
        >
            {flags.into_iter().flatten().map(|f| view! { <p class="flag">{f}</p> }).collect_view()}
            {referral}
            {quote}
            {kind_label.map(|k| view! { <p class="kind">{k}</p> })}
            {media}
            {content}
            {d.deleted.then(|| view! { <p class="body deleted" data-testid="deleted">"This message was deleted"</p> })}
            {body.map(|b| view! { <p class="body">{b}</p> })}
            <footer class="meta">
                {m.sent_by.clone().map(|u| view! {
                    <span class="sent-by" data-testid="sent-by" title="Only your team sees who sent it">{u.name}</span>
                })}
                {d.edited.then(|| view! { <span class="edited">"edited"</span> })}
                <time>{move || clock_time(ts, ctx.clock.get())}</time>
                {(m.direction == Direction::Out).then(|| view! {
                    <StatusIcon status=m.status error=m.error.clone()/>
                })}
            </footer>
            {has_reactions.then(|| view! { <div class="reactions">{reactions}</div> })}
            <DeliveryNotes m=m.clone()/>
            <BubbleActions m=m.clone()/>
        </article>
    }
    // Erased: a bubble's full view type is deep enough to overflow the compiler's query
    // depth in the release WebAssembly build.
    .into_any()
}

/// A private note: the team's own words in the thread, never sent to the customer.
#[component]
fn NoteBubble(m: Message, continued: Signal<bool>) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let ts = m.timestamp;
    let text = m.text.clone().unwrap_or_default();
    let mentions: Vec<String> = m.details.mentions.iter().map(|u| u.name.clone()).collect();
    let failed = m.status == MessageStatus::Failed;
    let author = m
        .sent_by
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "You".into());
    view! {
        <article class="bubble note" class:continued=move || continued.get()
            data-testid="message" data-id=m.id.clone() data-kind="note"
            data-direction="note" data-status=m.status.as_str()>
            <p class="note-label">
                <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
                    <path d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z" fill="currentColor"/>
                </svg>
                " Note · only your team sees this"
            </p>
            <p class="body">{highlight_mentions(&text, &mentions)}</p>
            <footer class="meta">
                <span class="sent-by" data-testid="sent-by">{author}</span>
                <time>{move || clock_time(ts, ctx.clock.get())}</time>
            </footer>
            {failed.then(|| view! {
                <p class="error" role="alert">{m.error.clone().map(|e| e.title).unwrap_or_default()}</p>
            })}
        </article>
    }
}

/// The note's text with each `@mention` of a teammate marked.
fn highlight_mentions(text: &str, names: &[String]) -> Vec<AnyView> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // Lower-casing moved byte offsets (a few scripts do): show the text plain.
        return vec![text.to_string().into_any()];
    }
    let mut parts = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find('@').map(|i| at + i) {
        let rest = &lower[found + 1..];
        // The longest teammate name (or first name, or email) written after the `@`.
        let len = names
            .iter()
            .flat_map(|n| {
                let n = n.to_lowercase();
                let first = n.split_whitespace().next().unwrap_or("").to_string();
                [n, first]
            })
            .filter(|n| !n.is_empty() && rest.starts_with(n.as_str()))
            .map(|n| n.len())
            .max();
        match len {
            Some(len) if text.is_char_boundary(found + 1 + len) => {
                // An empty text would render as nothing on the server but as a node in
                // the browser, and hydration would stop on the difference.
                if found > at {
                    parts.push(text[at..found].to_string().into_any());
                }
                let mention = text[found..found + 1 + len].to_string();
                parts.push(
                    view! { <mark class="mention" data-testid="mention">{mention}</mark> }
                        .into_any(),
                );
                at = found + 1 + len;
            }
            _ => {
                parts.push(text[at..found + 1].to_string().into_any());
                at = found + 1;
            }
        }
    }
    if at < text.len() || parts.is_empty() {
        parts.push(text[at..].to_string().into_any());
    }
    parts
}

/// Where delivery stands when there is more to say than the ticks: waiting for a retry, an
/// earlier attempt's failure, a message that may have arrived twice, and why it failed.
#[component]
fn DeliveryNotes(m: Message) -> impl IntoView {
    let d = &m.details;
    let failed = m.status == MessageStatus::Failed;
    let reason = m.error.clone().filter(|_| failed);
    let advice = reason.as_ref().and_then(|e| e.advice());
    // After an agent's retry the old error stays in view until the new attempt resolves.
    let previous = m
        .error
        .clone()
        .filter(|_| m.status == MessageStatus::Pending && d.attempt > 0);
    // A replaced attempt that reached the customer after all: they may have it twice.
    let twice = d.earlier_attempt_delivered().map(|a| {
        format!(
            "Attempt {} was {} too, after all: the customer may have this message twice.",
            a.attempt + 1,
            a.status.as_str()
        )
    });
    let attempts = (!d.earlier_attempts.is_empty()).then(|| {
        d.earlier_attempts
            .iter()
            .map(|a| {
                let error = a.error.as_ref().map(|e| format!(": {}", e.title));
                view! {
                    <li data-testid="earlier-attempt" data-status=a.status.as_str()>
                        {format!("Attempt {}: {}", a.attempt + 1, a.status.as_str())}
                        {error}
                    </li>
                }
            })
            .collect_view()
    });
    let waiting = d
        .waiting
        .clone()
        .filter(|_| m.status == MessageStatus::Pending);
    view! {
        {waiting.map(|w| view! { <p class="waiting" data-testid="waiting">{w.reason}</p> })}
        {previous.map(|e| view! {
            <p class="previous-failure" data-testid="previous-failure">"Last attempt failed: " {e.title}</p>
        })}
        {twice.map(|t| view! { <p class="twice" role="status" data-testid="delivered-twice">"⚠ " {t}</p> })}
        {attempts.map(|list| view! {
            <details class="attempts">
                <summary>"Earlier attempts"</summary>
                <ul>{list}</ul>
            </details>
        })}
        {reason.map(|e| view! {
            <div class="failure" data-testid="failure">
                <p class="reason" data-testid="failure-reason">
                    {e.title.clone()}
                    {(e.code != 0).then(|| format!(" (#{})", e.code))}
                </p>
                {advice.map(|a| view! { <p class="advice" data-testid="failure-advice">{a}</p> })}
            </div>
        })}
    }
    .into_any()
}

/// What an agent can do with a bubble: retry a failed send, reply, react.
#[component]
fn BubbleActions(m: Message) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    let d = &m.details;
    let retry = (m.status == MessageStatus::Failed).then(|| m.clone());
    let can_react = m.direction == Direction::In && m.wamid.is_some() && !d.deleted;
    // Only a message WhatsApp knows (it has a wamid) can be replied to.
    let reply_target = (m.wamid.is_some() && !d.deleted && !is_local(&m)).then(|| m.clone());
    let picking = RwSignal::new(false);
    let target_id = m.id.clone();
    let conversation_id = m.conversation_id.clone();
    view! {
        {retry.map(|failed| view! {
            <button class="retry" data-testid="retry" on:click=move |_| {
                if is_local(&failed) {
                    ctx.deliver(failed.clone());
                } else {
                    ctx.retry(failed.clone());
                }
            }>
                "Retry"
            </button>
        })}
        // Shown when the bubble is hovered or holds the focus (a tap, on a phone), so the
        // thread reads as messages, not rows of buttons.
        <div class="bubble-actions">
        {reply_target.map(|target| view! {
            <button class="reply-to" data-testid="reply" aria-label="Reply to this message"
                title="Reply" on:click=move |_| ctx.replying.set(Some(target.clone()))><super::icons::ReplyIcon/></button>
        })}
        {can_react.then(|| view! {
            <div class="react">
                <button class="react-toggle" data-testid="react" aria-label="React"
                    on:click=move |_| picking.update(|p| *p = !*p)><super::icons::SmileIcon/></button>
                <Show when=move || picking.get()>
                    {QUICK_REACTIONS.iter().map(|e| {
                        let emoji = e.to_string();
                        let target = target_id.clone();
                        let conversation = conversation_id.clone();
                        view! {
                            <button class="react-pick" data-testid="react-pick" on:click=move |_| {
                                picking.set(false);
                                ctx.react(conversation.clone(), target.clone(), emoji.clone());
                            }>{*e}</button>
                        }
                    }).collect_view()}
                </Show>
            </div>
        })}
        </div>
    }
    .into_any()
}

/// A file: shown inline once stored, otherwise where fetching it stands.
#[component]
fn MediaView(message_id: String, kind: MessageKind, media: Media, outbound: bool) -> impl IntoView {
    let ctx = expect_context::<InboxCtx>();
    // Outbound media by link is shown from its link; everything else from our copy.
    let src = match (&media.link, media.media_id.is_none()) {
        (Some(link), true) => link.clone(),
        _ => format!("/media/{message_id}"),
    };
    let name = media
        .filename
        .clone()
        .unwrap_or_else(|| kind.placeholder().to_string());
    match media.state {
        MediaState::Stored => match kind {
            MessageKind::Image | MessageKind::Sticker => {
                let href = src.clone();
                view! {
                    <a href=href target="_blank" rel="noopener" class="media">
                        <img src=src alt=name data-testid="media-image" loading="lazy"/>
                    </a>
                }
                .into_any()
            }
            MessageKind::Video => {
                view! { <video class="media" controls src=src data-testid="media-video"></video> }
                    .into_any()
            }
            MessageKind::Audio => view! {
                <p class="kind">{if media.voice { "🎤 Voice message" } else { "🎵 Audio" }}</p>
                <audio controls src=src data-testid="media-audio"></audio>
            }
            .into_any(),
            _ => view! {
                <a class="media document" href=src target="_blank" rel="noopener" data-testid="media-document">
                    "📄 " {name}
                </a>
            }
            .into_any(),
        },
        MediaState::Pending => view! {
            <p class="media-state" data-testid="media-state" data-state="pending">
                {kind.placeholder()} {if outbound { " — sending…" } else { " — downloading…" }}
            </p>
        }
        .into_any(),
        MediaState::Failed | MediaState::Unavailable => {
            let state = media.state;
            let retrying = media.error.as_deref().is_some_and(|e| e.ends_with("(retrying)"));
            let error = media.error.clone().unwrap_or_default();
            view! {
                <p class="media-state error" data-testid="media-state" data-state=state.as_str()>
                    {kind.placeholder()}
                    {if state == MediaState::Unavailable { " unavailable: " } else { " could not be downloaded: " }}
                    {error}
                </p>
                {(state == MediaState::Failed && !retrying).then(|| view! {
                    <button class="retry" data-testid="refetch" on:click=move |_| {
                        ctx.refetch(message_id.clone());
                    }>"Download again"</button>
                })}
            }
            .into_any()
        }
    }
}

/// A carousel's cards as the customer swipes through them: each card's file (from its
/// public link, as outbound media by link is shown) above its text.
fn carousel_view(cards: Vec<TemplateCard>) -> AnyView {
    let card = |c: TemplateCard| {
        let link = c.header.media().and_then(|(_, f)| f.link.clone());
        let file = link.map(|l| match c.header {
            TemplateHeader::Video(_) => view! {
                <video src=l controls preload="metadata"></video>
            }
            .into_any(),
            _ => view! { <img src=l alt="" loading="lazy"/> }.into_any(),
        });
        // A card sent unchecked has only its values.
        let text = c.text.unwrap_or_else(|| c.params.join(" · "));
        view! {
            <li class="card" data-testid="template-card">
                {file}
                <p class="body">{text}</p>
            </li>
        }
    };
    view! {
        <ol class="carousel" data-testid="template-cards">
            {cards.into_iter().map(card).collect_view()}
        </ol>
    }
    .into_any()
}

/// `text` is the message's text: for a template, its body as the customer read it.
fn content_view(c: Content, text: Option<String>) -> AnyView {
    match c {
        Content::Location {
            latitude,
            longitude,
            name,
            address,
            ..
        } => {
            let map = format!(
                "https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}#map=16/{latitude}/{longitude}"
            );
            view! {
                <div class="location" data-testid="location">
                    <p class="kind">"📍 " {name.unwrap_or_else(|| "Shared location".into())}</p>
                    {address.map(|a| view! { <p class="body">{a}</p> })}
                    <a href=map target="_blank" rel="noopener">{format!("{latitude:.5}, {longitude:.5}")}</a>
                </div>
            }
            .into_any()
        }
        Content::Contacts { cards } => view! {
            <ul class="cards" data-testid="contacts">
                {cards.into_iter().map(|c| view! {
                    <li>
                        <strong>"👤 " {c.name}</strong>
                        {c.org.map(|o| view! { <span class="org">{o}</span> })}
                        {c.phones.into_iter().map(|p| view! { <span class="phone">{p}</span> }).collect_view()}
                        {c.emails.into_iter().map(|e| view! { <span class="email">{e}</span> }).collect_view()}
                    </li>
                }).collect_view()}
            </ul>
        }
        .into_any(),
        Content::Choice {
            via,
            title,
            description,
            response,
            ..
        } => {
            let how = match via.as_str() {
                "list_reply" => "Picked from the list",
                "nfm_reply" => "Completed a form",
                _ => "Tapped",
            };
            view! {
                <div class="choice" data-testid="choice">
                    <p class="kind">{how}</p>
                    <p class="body">"“" {title} "”"</p>
                    {description.map(|d| view! { <p class="hint">{d}</p> })}
                    {response.map(|r| view! { <pre class="response">{r}</pre> })}
                </div>
            }
            .into_any()
        }
        Content::Order { note, items, .. } => view! {
            <div class="order" data-testid="order">
                <p class="kind">"🛒 Order"</p>
                <ul>
                    {items.into_iter().map(|i| view! {
                        <li>
                            {format!("{} × {}", i.quantity, i.sku)}
                            {i.price.map(|p| format!(" — {p:.2} {}", i.currency.unwrap_or_default()))}
                        </li>
                    }).collect_view()}
                </ul>
                {note.map(|n| view! { <p class="body">{n}</p> })}
            </div>
        }
        .into_any(),
        Content::Template(TemplateSpec {
            name,
            language,
            params,
            header,
            offer_expires_at_ms,
            cards,
            ..
        }) => {
            let offer = offer_expires_at_ms.zip(use_context::<InboxCtx>()).map(|(ms, ctx)| {
                let ends = move || {
                    let (secs, clock) = (ms / 1000, ctx.clock.get());
                    match (list_time(secs, clock), clock_time(secs, clock)) {
                        (day, time) if day == time => time,
                        (day, time) => format!("{day}, {time}"),
                    }
                };
                view! { <p class="hint" data-testid="template-offer">"⏳ Offer ends " {ends}</p> }
            });
            let place = match header {
                Some(TemplateHeader::Location {
                    latitude,
                    longitude,
                    name,
                    address,
                }) => Some(view! {
                    <p class="kind" data-testid="template-location">
                        "📍 " {[name, address].into_iter().flatten().collect::<Vec<_>>().join(", ")}
                        " (" {format!("{latitude:.5}, {longitude:.5}")} ")"
                    </p>
                }),
                _ => None,
            };
            // A template sent while its approved text was unknown has only its values.
            let body = text
                .filter(|t| *t != crate::model::unrendered_text(&name, &params))
                .or_else(|| (!params.is_empty()).then(|| params.join(" · ")));
            view! {
                <div class="template" data-testid="template">
                    <p class="kind">"📋 Template " <code>{name}</code> " (" {language} ")"</p>
                    {place}
                    {body.map(|b| view! { <p class="body">{b}</p> })}
                    {offer}
                    {(!cards.is_empty()).then(|| carousel_view(cards))}
                </div>
            }
            .into_any()
        }
        Content::Interactive(InteractiveSpec {
            header,
            body,
            footer,
            button,
            options,
        }) => view! {
            <div class="interactive" data-testid="interactive">
                {header.map(|h| view! { <p class="kind">{h}</p> })}
                <p class="body">{body}</p>
                {footer.map(|f| view! { <p class="hint">{f}</p> })}
                {button.map(|b| view! { <p class="list-button">"☰ " {b}</p> })}
                <ul class="options">
                    {options.into_iter().map(|o| view! { <li>{o.title}</li> }).collect_view()}
                </ul>
            </div>
        }
        .into_any(),
        Content::Unsupported { wire_type, reason } => view! {
            <p class="kind unsupported" data-testid="unsupported">
                "Unsupported message (" {wire_type} ")"
                {reason.map(|r| format!(" — {r}"))}
            </p>
        }
        .into_any(),
        Content::System { .. } | Content::Reaction { .. } | Content::Unknown => ().into_any(),
    }
}
