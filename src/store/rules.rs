//! The rules of the store, written once: both backends call these pure functions and
//! keep only their own reads, writes and transaction mechanics. The conformance suite
//! (`tests/it/conformance.rs`) runs every rule on both.

use crate::model::{
    Details, Direction, EarlierAttempt, ErrorInfo, MAX_EARLIER_ATTEMPTS, Message, MessageStatus,
};

use super::{Job, JobKind, MessageEdit, NewInbound, NewOutbound, StoreError, StoreResult};

/// Which inboxes a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Inboxes(Vec<String>),
}

impl Scope {
    pub fn allows(&self, inbox_id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Inboxes(ids) => ids.iter().any(|i| i == inbox_id),
        }
    }
}

/// New ids: time-ordered, so they also sort roughly by creation.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How long the instance that stores a new outbound message holds its send job while it
/// makes the first attempt itself: the job is written with the message, so a crash before
/// or during that attempt leaves it to whichever instance claims it once this runs out.
pub const SEND_LEASE_MS: i64 = 300_000;

/// The send job stored with a new (or retried) outbound message: held by its creator,
/// who runs the first attempt at once.
pub fn first_send_job(message_id: &str, now: i64) -> Job {
    Job::new(JobKind::Send, message_id, now + SEND_LEASE_MS, 0)
}

/// The `biz_opaque_callback_data` of a send: our message id, plus the agent's retry
/// number from the second attempt on, so a late receipt of an earlier attempt cannot
/// claim the new one.
pub fn callback_data(message_id: &str, attempt: i64) -> String {
    if attempt == 0 {
        message_id.to_string()
    } else {
        format!("{message_id}.{attempt}")
    }
}

/// The details an agent's retry of `m` starts from, or why it cannot be retried. Both
/// backends share this rule.
pub fn retry_details(m: &Message) -> StoreResult<Details> {
    if m.direction != Direction::Out || m.status != MessageStatus::Failed {
        return Err(StoreError::Conflict(
            "only a failed outbound message can be retried".into(),
        ));
    }
    let mut details = m.details.clone();
    // Its late receipts still find it, by the attempt in their callback data.
    details.earlier_attempts.push(EarlierAttempt {
        attempt: details.attempt,
        wamid: m.wamid.clone(),
        status: m.status,
        error: m.error.clone(),
    });
    let excess = details
        .earlier_attempts
        .len()
        .saturating_sub(MAX_EARLIER_ATTEMPTS);
    details.earlier_attempts.drain(..excess);
    details.attempt += 1;
    details.waiting = None;
    Ok(details)
}

/// Reads `callback_data` back into (message id, attempt).
pub fn parse_callback_data(data: &str) -> (&str, i64) {
    match data.rsplit_once('.') {
        Some((id, n)) => match n.parse() {
            Ok(n) => (id, n),
            Err(_) => (data, 0),
        },
        None => (data, 0),
    }
}

/// The outcome of applying one receipt to a message's delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    pub rank: i64,
    pub failed: bool,
    pub error: Option<ErrorInfo>,
}

impl DeliveryState {
    pub fn status(&self) -> MessageStatus {
        MessageStatus::displayed(self.rank, self.failed)
    }

    /// Folds one receipt in. Positive states only ever raise the rank; a failure is
    /// recorded and its error kept even if delivery is proven later.
    pub fn apply(&self, status: MessageStatus, error: Option<&ErrorInfo>) -> Self {
        let mut next = self.clone();
        if status == MessageStatus::Failed {
            next.failed = true;
            if let Some(e) = error {
                next.error = Some(e.clone());
            }
        } else {
            next.rank = next.rank.max(status.rank());
        }
        next
    }

    /// The rank a receipt of `status` raises the state to, if that is all it does: then
    /// it changes the state exactly when the state's rank is lower (so a store may apply
    /// it as one conditional write), and applying it again, or in any order with other
    /// receipts, leaves the same state. A failure keeps its error, so the order of two
    /// failures matters.
    pub fn raises_to(status: MessageStatus) -> Option<i64> {
        (status != MessageStatus::Failed).then(|| status.rank())
    }

    /// Folds receipts in, in the order they happened.
    pub fn fold(&self, steps: &[(MessageStatus, Option<ErrorInfo>)]) -> Self {
        steps.iter().fold(self.clone(), |s, (status, error)| {
            s.apply(*status, error.as_ref())
        })
    }
}

impl NewInbound {
    /// The message a new inbound delivery becomes; `seq` is the backend's next number.
    pub fn message(&self, conversation_id: String, seq: i64, created_at: i64) -> Message {
        Message {
            id: super::new_id(),
            wamid: Some(self.wamid.clone()),
            conversation_id,
            inbox_id: self.inbox_id.clone(),
            direction: Direction::In,
            kind: self.kind,
            text: self.text.clone(),
            status: MessageStatus::Received,
            error: None,
            timestamp: self.timestamp,
            created_at,
            client_id: None,
            seq,
            version: 1,
            reply_to: self.reply_to.clone(),
            details: self.details.clone(),
            sent_by: None,
        }
    }
}

impl NewOutbound {
    /// The message an agent's send becomes: pending, stamped with the time it was made.
    pub fn message(&self, inbox_id: String, seq: i64, created_at: i64) -> Message {
        Message {
            id: super::new_id(),
            wamid: None,
            conversation_id: self.conversation_id.clone(),
            inbox_id,
            direction: self.direction,
            kind: self.kind,
            text: self.text.clone(),
            // A note is never sent: it is as final as a received message.
            status: if self.direction == Direction::Note {
                MessageStatus::Received
            } else {
                MessageStatus::Pending
            },
            error: None,
            timestamp: created_at / 1000,
            created_at,
            client_id: Some(self.client_id.clone()),
            seq,
            version: 1,
            reply_to: self.reply_to.clone(),
            details: self.details.clone(),
            sent_by: self.sent_by.clone(),
        }
    }

    /// A send whose `client_id` is already stored is the same send again, answered with
    /// the stored message (`false`: nothing new), unless it names another conversation.
    pub fn repeated(&self, stored: Message) -> StoreResult<(Message, bool)> {
        if stored.conversation_id != self.conversation_id {
            return Err(StoreError::Conflict(
                "client_id was already used for a message in another conversation".into(),
            ));
        }
        Ok((stored, false))
    }
}

/// Whether Meta's accepted `wamid` must be written on `m`: not when it already has it; a
/// conflict when it has another.
pub fn wamid_to_set(m: &Message, wamid: &str) -> StoreResult<bool> {
    match &m.wamid {
        Some(w) if w == wamid => Ok(false),
        Some(w) => Err(StoreError::Conflict(format!(
            "message {} already has wamid {w}",
            m.id
        ))),
        None => Ok(true),
    }
}

/// Whether a receipt that beat the send response, and names `m` with `attempt` in its
/// callback data, belongs to `m`'s current attempt in `inbox_id` (so it may link its wamid).
pub fn receipt_claims(m: &Message, inbox_id: &str, attempt: i64) -> bool {
    m.inbox_id == inbox_id
        && m.direction == Direction::Out
        && m.wamid.is_none()
        && m.details.attempt == attempt
}

/// One stored receipt as a step of the delivery state: `None` for a status we do not
/// know. A failure without a title gets one.
pub fn receipt_step(
    status: &str,
    code: i64,
    title: Option<String>,
    detail: Option<String>,
) -> Option<(MessageStatus, Option<ErrorInfo>)> {
    let status = MessageStatus::from_wire(status)?;
    let error = (status == MessageStatus::Failed).then(|| ErrorInfo {
        code,
        title: title
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Message failed".into()),
        detail,
    });
    Some((status, error))
}

/// `before` after an edit, or `None` when the edit declines or changes nothing visible.
pub fn edited(before: &Message, edit: &MessageEdit) -> Option<Message> {
    let mut after = before.clone();
    let changed =
        edit(&mut after) && (after.text != before.text || after.details != before.details);
    changed.then_some(after)
}

/// An API token's last use is recorded at most this often, so a busy script does not
/// turn every request into a write.
pub const TOKEN_USE_RESOLUTION_MS: i64 = 60_000;

/// Whether a token last used at `last_used_at` should be stamped again at `now`.
pub fn token_use_due(last_used_at: Option<i64>, now: i64) -> bool {
    last_used_at.is_none_or(|t| now - t > TOKEN_USE_RESOLUTION_MS)
}

/// The data of an `InboxUpdated` event: whether the inbox's sending is paused, and why.
pub fn inbox_status(inbox_id: &str, paused: Option<&str>) -> StoreResult<String> {
    to_json(&crate::model::InboxStatus {
        id: inbox_id.to_string(),
        sending_paused: paused.map(str::to_string),
    })
}

/// Serialises an event's data or a stored column; failure means a bug, not bad input.
pub fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MessageKind;

    fn err(code: i64) -> ErrorInfo {
        ErrorInfo {
            code,
            title: "t".into(),
            detail: None,
        }
    }

    #[test]
    fn callback_data_round_trips_with_the_attempt() {
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(parse_callback_data(&callback_data(id, 0)), (id, 0));
        assert_eq!(parse_callback_data(&callback_data(id, 3)), (id, 3));
        assert_eq!(parse_callback_data("local.x"), ("local.x", 0));
    }

    #[test]
    fn receipts_in_any_order_end_at_the_highest_state() {
        use MessageStatus::*;
        let orders = [
            vec![Sent, Read, Delivered],
            vec![Read, Sent],
            vec![Delivered, Sent],
            vec![Sent, Delivered, Read],
        ];
        for order in orders {
            let mut s = DeliveryState::default_pending();
            for st in &order {
                s = s.apply(*st, None);
            }
            let expected = order.iter().map(|s| s.rank()).max().unwrap();
            assert_eq!(s.rank, expected, "{order:?}");
        }
    }

    #[test]
    fn a_receipt_that_only_raises_the_rank_changes_a_lower_state_and_lands_the_same_in_any_order() {
        use MessageStatus::*;
        let all = [Received, Pending, Sent, Delivered, Read, Played, Failed];
        let starts = [
            DeliveryState::default_pending(),
            DeliveryState::default_pending().apply(Failed, Some(&err(1))),
            DeliveryState::default_pending().apply(Delivered, None),
        ];
        for a in all {
            let Some(rank) = DeliveryState::raises_to(a) else {
                continue;
            };
            for b in all {
                let e = (b == Failed).then(|| err(2));
                for s in &starts {
                    let once = s.apply(a, None);
                    assert_eq!(once != *s, s.rank < rank, "{a:?} changes {s:?}");
                    assert_eq!(once.apply(a, None), once, "{a:?} twice");
                    assert_eq!(
                        once.apply(b, e.as_ref()),
                        s.apply(b, e.as_ref()).apply(a, None),
                        "{a:?} then {b:?}"
                    );
                }
            }
        }
        // Two failures keep the later one's error: their order matters.
        let start = DeliveryState::default_pending();
        assert_eq!(DeliveryState::raises_to(Failed), None);
        assert_ne!(
            start
                .apply(Failed, Some(&err(1)))
                .apply(Failed, Some(&err(2))),
            start
                .apply(Failed, Some(&err(2)))
                .apply(Failed, Some(&err(1)))
        );
    }

    #[test]
    fn failure_is_shown_until_delivery_and_its_error_is_kept() {
        use MessageStatus::*;
        let s = DeliveryState::default_pending().apply(Failed, Some(&err(131047)));
        assert_eq!(s.status(), Failed);
        let late_sent = s.apply(Sent, None);
        assert_eq!(
            late_sent.status(),
            Failed,
            "a late sent must not clear failed"
        );
        let delivered = late_sent.apply(Delivered, None);
        assert_eq!(delivered.status(), Delivered);
        assert_eq!(delivered.error.unwrap().code, 131047);

        let read_then_failed = DeliveryState::default_pending()
            .apply(Read, None)
            .apply(Failed, Some(&err(131026)));
        assert_eq!(read_then_failed.status(), Read);
    }

    impl DeliveryState {
        fn default_pending() -> Self {
            Self {
                rank: 0,
                failed: false,
                error: None,
            }
        }
    }

    fn send() -> NewOutbound {
        NewOutbound {
            direction: crate::model::Direction::Out,
            sent_by: None,
            conversation_id: "c1".into(),
            client_id: "k1".into(),
            kind: MessageKind::Text,
            text: Some("hi".into()),
            reply_to: None,
            details: Details::default(),
        }
    }

    fn outbound() -> Message {
        send().message("i1".into(), 7, 1_700_000_000_123)
    }

    #[test]
    fn a_repeated_client_id_is_the_same_send_only_in_its_own_conversation() {
        let stored = outbound();
        let mut again = send();
        assert_eq!(again.repeated(stored.clone()), Ok((stored.clone(), false)));
        again.conversation_id = "c2".into();
        assert!(matches!(
            again.repeated(stored),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn an_accepted_wamid_is_written_once_and_never_replaced() {
        let mut m = outbound();
        assert_eq!(m.timestamp, 1_700_000_000);
        assert_eq!(wamid_to_set(&m, "wamid.A"), Ok(true));
        m.wamid = Some("wamid.A".into());
        assert_eq!(wamid_to_set(&m, "wamid.A"), Ok(false));
        assert!(matches!(
            wamid_to_set(&m, "wamid.B"),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn a_receipt_links_only_the_current_attempt_of_an_unaccepted_send() {
        let mut m = outbound();
        assert!(receipt_claims(&m, "i1", 0));
        assert!(!receipt_claims(&m, "i1", 1), "an earlier attempt's receipt");
        assert!(!receipt_claims(&m, "other", 0));
        m.wamid = Some("wamid.A".into());
        assert!(!receipt_claims(&m, "i1", 0));
    }

    #[test]
    fn a_failed_receipt_without_a_title_still_says_it_failed() {
        let (status, error) = receipt_step("failed", 131047, None, None).unwrap();
        assert_eq!(status, MessageStatus::Failed);
        assert_eq!(error.unwrap().title, "Message failed");
        assert_eq!(
            receipt_step("delivered", 0, None, None),
            Some((MessageStatus::Delivered, None))
        );
        assert_eq!(receipt_step("deleted", 0, None, None), None);
    }

    #[test]
    fn an_edit_that_changes_nothing_visible_is_no_edit() {
        let m = outbound();
        let same: MessageEdit = std::sync::Arc::new(|m: &mut Message| {
            m.version += 1;
            true
        });
        assert_eq!(edited(&m, &same), None);
        let declined: MessageEdit = std::sync::Arc::new(|m: &mut Message| {
            m.text = Some("x".into());
            false
        });
        assert_eq!(edited(&m, &declined), None);
        let real: MessageEdit = std::sync::Arc::new(|m: &mut Message| {
            m.text = Some("edited".into());
            true
        });
        assert_eq!(edited(&m, &real).unwrap().text.as_deref(), Some("edited"));
    }

    #[test]
    fn a_token_use_is_stamped_at_most_once_a_minute() {
        assert!(token_use_due(None, 0));
        assert!(!token_use_due(Some(1_000), 1_000 + TOKEN_USE_RESOLUTION_MS));
        assert!(token_use_due(Some(1_000), 1_001 + TOKEN_USE_RESOLUTION_MS));
    }
}
