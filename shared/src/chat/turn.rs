//! One chat turn, the same however the message arrives (`POST /v1/chat/messages` or an
//! inbound SMS): the tone policy first, then the person's message and the quote assistant's
//! answer appended to the conversation's chain in the caller's transaction.
//!
//! Guarantees: a refused message is decided before any transaction opens, so it stores
//! nothing; the message and its answer are appended together (room for two is checked
//! before the first), so a conversation never ends on an unanswered message.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::chain::Sender;
use super::messages::{self, Limit, Message, NewMessage};
use crate::commerce::assistant;
use crate::commerce::quotes::QuoteRules;
use crate::platform::config::{self, ConfigError, Source};
use crate::platform::db::Tx;
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;
use crate::tone::service::{Decision, TonePolicy, ToneResult, ToneService};

pub const DEFAULT_MAX_MESSAGES: u32 = 1000;

/// What a chat turn needs, read once per cold start.
#[derive(Clone)]
pub struct ChatSettings {
    pub tone: ToneService,
    pub tone_policy: TonePolicy,
    pub quote_rules: QuoteRules,
    pub max_messages: u32,
}

/// A message that passed (or was refused by) the tone policy.
pub struct Screened {
    pub tone: ToneResult,
    pub decision: Decision,
}

impl Screened {
    /// The policy refuses the message: nothing may be stored.
    pub fn refused(&self) -> bool {
        self.decision == Decision::Refuse
    }
}

/// The person's message and the assistant's answer, as stored.
pub struct Turn {
    pub message: Message,
    pub reply: Message,
}

impl ChatSettings {
    /// Reads `PARLEY_CHAT_MAX_MESSAGES` (at least 2: a message and its reply), the quote
    /// rules and the tone settings.
    pub fn from_env(src: &impl Source, aws: &crate::platform::aws::SdkConfig) -> Result<Self, ConfigError> {
        let max_messages: u32 = config::parsed_or(src, "PARLEY_CHAT_MAX_MESSAGES", DEFAULT_MAX_MESSAGES)?;
        if max_messages < 2 {
            return Err(ConfigError::new("PARLEY_CHAT_MAX_MESSAGES", "must be at least 2 (a message and its reply)"));
        }
        Ok(Self {
            tone: ToneService::from_env(src, aws)?,
            tone_policy: TonePolicy::from_env(src)?,
            quote_rules: QuoteRules::from_env(src)?,
            max_messages,
        })
    }

    /// Analyses `content`'s tone (the provider answers, or falls back, before `deadline`)
    /// and applies the deployment's policy.
    pub async fn screen(&self, content: &str, deadline: SystemTime) -> Screened {
        let tone = self.tone.analyze(content, deadline).await;
        let decision = self.tone_policy.decide(tone.analysis.conflict_level);
        Screened { tone, decision }
    }

    /// Appends `content` (already screened and not refused) from `caller` to
    /// `conversation_id`, or to a new conversation when `None`, then the assistant's answer.
    /// 404 for a conversation the caller cannot see; 409 when it has no room for both.
    pub async fn append_turn(
        &self,
        tx: &Tx,
        caller: &Caller,
        conversation_id: Option<Uuid>,
        content: &str,
        screened: &Screened,
        now: DateTime<Utc>,
    ) -> Result<Turn, ApiError> {
        debug_assert!(!screened.refused(), "a refused message is never appended");
        let sender = messages::sender_of(caller).ok_or_else(|| ApiError::unauthorized("credentials required"))?;
        let limit = |room| Limit { max_messages: self.max_messages, room };
        let user_message = NewMessage {
            role: "user",
            sender,
            content,
            ui_elements: serde_json::json!([]),
            tone: Some(screened.tone.stored()),
        };
        let message = messages::append(tx, conversation_id, sender, &user_message, limit(2)).await?;
        let answer = assistant::reply(tx, caller, content, &self.quote_rules, now).await?;
        let reply_message = NewMessage {
            role: "assistant",
            sender: Sender::Assistant,
            content: &answer.content,
            ui_elements: answer.ui_elements,
            tone: None,
        };
        let reply = messages::append(tx, Some(message.conversation_id), sender, &reply_message, limit(1)).await?;
        Ok(Turn { message, reply })
    }
}
