//! Conversations: their messages ([`messages`], re-exported here), the tamper-evident chain
//! ([`chain`]) and a whole chat turn — tone policy, message, the assistant's answer
//! ([`turn`]).

pub mod chain;
pub mod messages;
pub mod turn;

pub use messages::*;
