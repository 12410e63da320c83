//! Scripted faults: each one is queued and consumed by the next send or customer message
//! it applies to.

use std::time::Duration;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// The send endpoint answers with Meta's error envelope, e.g. 429 + 130429.
    SendError { http_status: u16, code: i64 },
    /// The send is accepted, then a `failed` receipt with this code arrives.
    FailWith { code: i64 },
    /// Every webhook of the next send (or customer message) is delivered twice at once.
    DuplicateWebhooks,
    /// The next send's receipts arrive out of order.
    ShuffleReceipts,
    /// The next send's `sent` receipt arrives before the send's HTTP response.
    ReceiptBeforeResponse,
    /// The customer has read receipts turned off: no `read` follows.
    NoReadReceipt,
    /// No receipt at all follows the next send (it stays at the clock), so receipts can
    /// be posted by hand in any order.
    Silent,
    /// The next send is accepted (its receipts follow) but the HTTP answer comes only
    /// after the app's Graph timeout: the send whose answer was lost. With
    /// `receipts_after_ms`, its receipts also come late (the first that long after the
    /// send), as when WhatsApp is slow to confirm: an app that resends on a timeout
    /// delivers the message twice.
    Timeout {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipts_after_ms: Option<u64>,
    },
    /// The next media download URL has expired: the download answers 401 once.
    MediaUrlExpired,
    /// The next media download answers with this HTTP status (e.g. 503).
    MediaError { http_status: u16 },
    /// The next media id lookup answers 404, as for media older than its lifetime.
    MediaGone,
    /// The next media upload (`POST /{phone-number-id}/media`) answers with this HTTP
    /// status and Meta's 131016 "service unavailable".
    UploadError { http_status: u16 },
}

/// `POST /_sim/faults` accepts one fault or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FaultInput {
    One(Fault),
    Many(Vec<Fault>),
}

impl FaultInput {
    pub fn into_vec(self) -> Vec<Fault> {
        match self {
            Self::One(f) => vec![f],
            Self::Many(v) => v,
        }
    }
}

/// Meta's wording for the codes the simulator is most often asked for.
pub fn describe(code: i64) -> (&'static str, &'static str) {
    match code {
        1 | 2 => ("API service temporarily unavailable", "Retry later."),
        4 => (
            "Application request limit reached",
            "Too many calls from this app.",
        ),
        100 => ("Invalid parameter", "A parameter is invalid."),
        190 => (
            "Access token has expired",
            "Refresh or replace the system user token.",
        ),
        130429 => (
            "Rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number in a short period of time.",
        ),
        131000 => (
            "Something went wrong",
            "Message failed to send due to an unknown error.",
        ),
        131016 => (
            "Service unavailable",
            "A service is temporarily unavailable.",
        ),
        131026 => ("Message undeliverable", "Unable to deliver message."),
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        131056 => (
            "(Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
        ),
        _ => (
            "Simulated error",
            "The simulator was asked to fail this message.",
        ),
    }
}

pub struct ReceiptStep {
    pub delay: Duration,
    pub status: &'static str,
    pub error_code: Option<i64>,
}

/// How the receipts of one accepted send are played.
#[derive(Debug, Default)]
pub struct ReceiptPlan {
    pub fail_with: Option<i64>,
    pub duplicate: bool,
    pub shuffle: bool,
    pub early: bool,
    pub no_read: bool,
    pub silent: bool,
    /// Added before the first receipt.
    pub late_by: Duration,
}

impl ReceiptPlan {
    /// Consumes the queued faults that shape one send's receipts.
    pub fn from_faults(mut take: impl FnMut(&dyn Fn(&Fault) -> bool) -> Option<Fault>) -> Self {
        let mut plan = Self::default();
        if let Some(Fault::FailWith { code }) = take(&|f| matches!(f, Fault::FailWith { .. })) {
            plan.fail_with = Some(code);
        }
        plan.duplicate = take(&|f| matches!(f, Fault::DuplicateWebhooks)).is_some();
        plan.shuffle = take(&|f| matches!(f, Fault::ShuffleReceipts)).is_some();
        plan.early = take(&|f| matches!(f, Fault::ReceiptBeforeResponse)).is_some();
        plan.no_read = take(&|f| matches!(f, Fault::NoReadReceipt)).is_some();
        plan.silent = take(&|f| matches!(f, Fault::Silent)).is_some();
        plan
    }

    /// Receipts that start `late_by` after the send.
    pub fn late(mut self, late_by: Duration) -> Self {
        self.late_by = late_by;
        self
    }

    /// The receipts to send after the response, with the wait before each.
    pub fn steps(&self, delays: &[Duration; 3]) -> Vec<ReceiptStep> {
        if self.silent {
            return Vec::new();
        }
        if let Some(code) = self.fail_with {
            return vec![ReceiptStep {
                delay: delays[0] + self.late_by,
                status: "failed",
                error_code: Some(code),
            }];
        }
        let mut statuses: Vec<&'static str> = Vec::new();
        if !self.early {
            statuses.push("sent");
        }
        statuses.push("delivered");
        if !self.no_read {
            statuses.push("read");
        }
        if self.shuffle && statuses.len() > 1 {
            let natural = statuses.clone();
            let mut rng = rand::rng();
            while statuses == natural {
                statuses.shuffle(&mut rng);
            }
        }
        let mut previous = Duration::ZERO;
        let mut first = true;
        statuses
            .into_iter()
            .enumerate()
            .map(|(i, status)| {
                let at = delays[i.min(2)];
                let late = if std::mem::take(&mut first) {
                    self.late_by
                } else {
                    Duration::ZERO
                };
                let step = ReceiptStep {
                    delay: at.saturating_sub(previous) + late,
                    status,
                    error_code: None,
                };
                previous = at;
                step
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAYS: [Duration; 3] = [
        Duration::from_millis(10),
        Duration::from_millis(20),
        Duration::from_millis(30),
    ];

    #[test]
    fn normal_plan_is_sent_delivered_read() {
        let steps = ReceiptPlan::default().steps(&DELAYS);
        let s: Vec<_> = steps.iter().map(|s| s.status).collect();
        assert_eq!(s, ["sent", "delivered", "read"]);
    }

    #[test]
    fn a_late_plan_delays_only_its_first_receipt() {
        let steps = ReceiptPlan::default()
            .late(Duration::from_secs(5))
            .steps(&DELAYS);
        let d: Vec<_> = steps.iter().map(|s| s.delay.as_millis()).collect();
        assert_eq!(d, [5010, 10, 10]);
        let f: FaultInput = serde_json::from_str(r#"{"fault":"timeout"}"#).unwrap();
        assert_eq!(
            f.into_vec(),
            vec![Fault::Timeout {
                receipts_after_ms: None
            }]
        );
    }

    #[test]
    fn shuffled_plan_is_never_the_natural_order() {
        for _ in 0..20 {
            let plan = ReceiptPlan {
                shuffle: true,
                ..Default::default()
            };
            let s: Vec<_> = plan.steps(&DELAYS).iter().map(|s| s.status).collect();
            assert_ne!(s, ["sent", "delivered", "read"]);
            assert_eq!(s.len(), 3);
        }
    }

    #[test]
    fn faults_parse_from_json() {
        let f: FaultInput =
            serde_json::from_str(r#"{"fault":"send_error","http_status":429,"code":130429}"#)
                .unwrap();
        assert_eq!(
            f.into_vec(),
            vec![Fault::SendError {
                http_status: 429,
                code: 130429
            }]
        );
        let f: FaultInput = serde_json::from_str(
            r#"[{"fault":"shuffle_receipts"},{"fault":"fail_with","code":131047}]"#,
        )
        .unwrap();
        assert_eq!(f.into_vec().len(), 2);
        assert!(serde_json::from_str::<FaultInput>(r#"{"fault":"meteor"}"#).is_err());
    }
}
