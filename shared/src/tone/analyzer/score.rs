//! Summing the detectors' hits into a score, and the score into a level.

use super::detect::{self, Group, Hit};
use super::lexicon::LEXICON;
use super::text::Doc;
use super::weights::*;
use crate::tone::analysis::ConflictLevel;

/// The level a score maps to.
pub fn level(score: u32) -> ConflictLevel {
    if score >= HIGH_THRESHOLD {
        ConflictLevel::High
    } else if score >= MEDIUM_THRESHOLD {
        ConflictLevel::Medium
    } else {
        ConflictLevel::Low
    }
}

/// The score alone (used to check rewrites without rewriting them again).
pub(crate) fn score_only(text: &str) -> u32 {
    score(&detect::detect(&Doc::new(text, &LEXICON)))
}

pub(crate) fn score(hits: &[Hit]) -> u32 {
    let sum = |group: Group| hits.iter().filter(|h| h.group == group).map(|h| h.weight).fold(0u32, u32::saturating_add);
    let shouting = sum(Group::Shouting).min(SHOUTING_CAP);
    let punctuation = sum(Group::Punctuation).min(PUNCTUATION_CAP);
    [
        sum(Group::Uncapped),
        sum(Group::InsultWords).min(INSULT_WORDS_CAP),
        sum(Group::ContemptWords).min(CONTEMPT_WORDS_CAP),
        sum(Group::ProfanityWords).min(PROFANITY_WORDS_CAP),
        sum(Group::ContemptPhrases).min(CONTEMPT_PHRASES_CAP),
        sum(Group::Blame).min(BLAME_CAP),
        sum(Group::Absolute).min(ABSOLUTE_CAP),
        (shouting + punctuation).min(VOICE_CAP),
    ]
    .into_iter()
    .fold(0, u32::saturating_add)
}
