//! The indexes, unique ones included: they carry the once-only rules (one message per
//! wamid, one send per client id) that a transaction carries in SQLite.

use super::*;

impl MongoStore {
    pub(super) async fn create_indexes(&self) -> StoreResult<()> {
        let unique = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_string())
                        .build(),
                )
                .build()
        };
        let unique_when_string = |keys: Document, field: &str, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_string())
                        .partial_filter_expression(doc! { field: { "$type": "string" } })
                        .build(),
                )
                .build()
        };
        // Marker fields exist only while there is work to finish, so a sparse index holds
        // just the flagged documents and the repair pass never scans a collection.
        let marker = |field: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(
                    IndexOptions::builder()
                        .sparse(true)
                        .name(field.to_string())
                        .build(),
                )
                .build()
        };
        let plain = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build()
        };
        let plan: Vec<(&str, Vec<IndexModel>)> = vec![
            (
                "canned_responses",
                vec![unique(doc! { "shortcut": 1 }, "by_shortcut")],
            ),
            (
                "inboxes",
                vec![unique(doc! { "phone_number_id": 1 }, "by_phone_number_id")],
            ),
            (
                "contacts",
                vec![
                    unique_when_string(doc! { "inbox_id": 1, "wa_id": 1 }, "wa_id", "by_wa_id"),
                    unique_when_string(
                        doc! { "inbox_id": 1, "user_id": 1 },
                        "user_id",
                        "by_user_id",
                    ),
                    // Not with `_id`: see the conformance suite on compound `_id` indexes.
                    plain(doc! { "inbox_id": 1 }, "by_inbox"),
                    marker(COPY_STALE),
                ],
            ),
            (
                "conversations",
                vec![
                    unique(doc! { "contact_id": 1 }, "by_contact"),
                    plain(doc! { "last_activity_at": -1 }, "by_activity"),
                    plain(
                        doc! { "inbox_id": 1, "last_activity_at": -1 },
                        "by_inbox_activity",
                    ),
                    marker("unpublished"),
                    plain(
                        doc! { "assignee.id": 1, "last_activity_at": -1 },
                        "by_assignee_activity",
                    ),
                    // A known customer's message finds its conversation by the contact's
                    // copy (see `record_inbound`).
                    plain(
                        doc! { "inbox_id": 1, "contact.user_id": 1 },
                        "by_contact_user_id",
                    ),
                    plain(
                        doc! { "inbox_id": 1, "contact.wa_id": 1 },
                        "by_contact_wa_id",
                    ),
                ],
            ),
            (
                "activities",
                vec![plain(
                    doc! { "conversation_id": 1, "at": -1 },
                    "by_conversation",
                )],
            ),
            (
                "audit_log",
                vec![
                    plain(doc! { "actor": 1, "at": -1 }, "by_actor"),
                    plain(doc! { "action": 1, "at": -1 }, "by_action"),
                ],
            ),
            ("events", vec![unique(doc! { "seq": 1 }, "by_seq")]),
            (
                "messages",
                vec![
                    // Inbound idempotency: an inbox is one phone_number_id.
                    unique_when_string(doc! { "inbox_id": 1, "wamid": 1 }, "wamid", "by_wamid"),
                    unique_when_string(
                        doc! { "inbox_id": 1, "client_id": 1 },
                        "client_id",
                        "by_client_id",
                    ),
                    // History pages: (conversation, timestamp, seq), as one sortable key.
                    plain(doc! { "conversation_id": 1, "sort_key": 1 }, "history"),
                    plain(doc! { "inbox_id": 1, "reply_to": 1 }, "by_reply_to"),
                    // Search: a word start, then newest first (see `search_messages`).
                    plain(doc! { "terms": 1, "sort_key": -1 }, "search"),
                    marker("unpublished"),
                ],
            ),
            (
                "status_events",
                vec![
                    plain(doc! { "inbox_id": 1, "wamid": 1 }, "by_wamid"),
                    marker("pending"),
                    plain(doc! { "received_at": 1 }, "by_received"),
                ],
            ),
            (
                "webhooks",
                vec![
                    plain(doc! { "processed_at": 1, "received_at": 1 }, "unfinished"),
                    plain(doc! { "received_at": 1 }, "by_received"),
                ],
            ),
            ("users", vec![unique(doc! { "email": 1 }, "by_email")]),
            (
                "jobs",
                vec![
                    plain(doc! { "due_at": 1 }, "by_due"),
                    plain(doc! { "kind": 1, "due_at": 1 }, "by_kind_due"),
                ],
            ),
            ("sessions", vec![plain(doc! { "user_id": 1 }, "by_user")]),
            (
                "api_tokens",
                vec![unique(doc! { "token_hash": 1 }, "by_hash")],
            ),
            (
                "inbox_members",
                vec![
                    plain(doc! { "user_id": 1 }, "by_user"),
                    plain(doc! { "inbox_id": 1 }, "by_inbox"),
                ],
            ),
        ];
        for (collection, indexes) in plan {
            self.db
                .collection::<Document>(collection)
                .create_indexes(indexes)
                .await
                .map_err(map_err)?;
        }
        self.add_search_terms().await
    }

    /// Messages stored before search terms existed get theirs, a batch at a time. Each
    /// write sets what any instance would compute, so instances starting together agree.
    async fn add_search_terms(&self) -> StoreResult<()> {
        let mut added = 0u64;
        loop {
            let docs = self
                .find_all(
                    "messages",
                    doc! { "terms": { "$exists": false } },
                    None,
                    Some(500),
                )
                .await?;
            if docs.is_empty() {
                break;
            }
            for d in &docs {
                // A document this build cannot read is left unsearchable, not a reason
                // to refuse to start.
                let terms = message_from_doc(d).map_or_else(
                    |e| {
                        tracing::warn!(id = ?d.get("_id"), error = %e, "message not indexed for search");
                        Vec::new()
                    },
                    |m| message_terms(&m),
                );
                self.coll("messages")
                    .update_one(
                        doc! { "_id": d.get("_id"), "terms": { "$exists": false } },
                        doc! { "$set": { "terms": terms } },
                    )
                    .await
                    .map_err(map_err)?;
            }
            added += docs.len() as u64;
        }
        if added > 0 {
            tracing::info!(messages = added, "added search terms to older messages");
        }
        Ok(())
    }
}
