//! The local tone analyzer: deterministic, explainable, no network, no model.
//!
//! [`analyze`] tokenises a message (`text`), runs word- and phrase-level detectors
//! (`detect`) over word lists compiled in from `shared/data/tone/` (`lexicon`), sums the
//! weights of what it found into a score, maps the score to a [`ConflictLevel`] and, for
//! Medium and High, offers a neutral rewrite (`rewrite`). Every point of the score is an
//! [`Indicator`] with its kind and the span of input it came from.
//!
//! Guarantees:
//! - pure and deterministic: the same text always gives the same [`Analysis`] (no clocks,
//!   randomness, I/O or hash-order dependence);
//! - never panics on any UTF-8 input; spans are `[start, end)` in chars (Unicode scalar
//!   values) of the input and always lie inside it;
//! - `is_hostile == (conflict_level == High)`;
//! - `neutral_rewrite` is `Some` exactly for Medium and High, and the rewrite itself always
//!   analyses as Low (otherwise it is [`rewrite::FALLBACK`]).
//!
//! # Scoring
//!
//! | indicator | weight | when |
//! |---|---|---|
//! | `threat` | 10 | "I'll make you regret", "watch your back", "or else." |
//! | `name_calling` | 2 × 4 = 8 | an insult aimed at the reader: "you idiot", "you're an idiot", "Idiot." |
//! | `profanity` (directed) | 8 | "f*ck off", "go to hell", "screw you" |
//! | `contempt` (dismissal) | 8 | "shut up", "nobody asked you", "waste of space" |
//! | `contempt` (word at reader) | 2 × 4 = 8 | "you're pathetic", a message that is just "Useless." |
//! | `contempt` (criticism at reader) | 1 × 4 = 4 | "you're being ridiculous" |
//! | `contempt` (phrase) | 4, group cap 6 | "whatever you say", "as if you'd understand", "🙄" |
//! | `blame` | 4, cap 6 | "you always…", "you never…", "it's your fault", "because of you" |
//! | `shouting` | 4, cap 4 | ≥ 8 counted letters, ≥ 70 % capitals (acronyms and codes ignored) |
//! | `profanity` (word) | strong 4 / mild 1, cap 6 | "this is f*cking broken", "damn" |
//! | `punctuation` | 3, cap 3 | a run of ≥ 3 `!`/`?` |
//! | `insult` | 2 undirected, 2 × 2 at the reader's things, cap 4 | "the stupid printer", "your stupid rules" |
//! | `contempt` (word, not at reader) | 2 (criticism 1), × 2 at the reader's things, cap 4 | "this app is useless" |
//! | `absolute` | 2, cap 4 | always/never/everything/nothing in a sentence that says "you" |
//!
//! Shouting and punctuation together count at most 6. Levels: **Low < 4 ≤ Medium < 8 ≤
//! High** (`weights::MEDIUM_THRESHOLD`, `weights::HIGH_THRESHOLD`). So one threat, one
//! name-calling or one directed swear is High on its own; blame, contempt, shouting or an
//! undirected strong swear is Medium on its own; an insult aimed at a thing ("the stupid
//! printer jammed") or mild swearing stays Low; two Medium signals of different kinds make
//! High ("YOU NEVER LISTEN!!!" = blame 4 + shouting and punctuation 6).
//!
//! Matching is on whole words after folding case, leetspeak, `*` wildcards, stretched,
//! spaced and dotted letters and look-alike characters, so "Scunthorpe", "cockpit" and
//! "class assignment" never match, and an allow list covers whole-word collisions ("Dick
//! Van Dyke"). `docs/tone.md` has the details, the evaluation and the known limitations.

mod detect;
mod fold;
mod lexicon;
pub mod rewrite;
mod score;
mod text;
pub mod weights;

#[cfg(test)]
mod tests;

pub use score::level;

use lexicon::LEXICON;
use text::Doc;

use crate::tone::analysis::{Analysis, ConflictLevel, Indicator};

/// Analyses the tone of one message.
pub fn analyze(text: &str) -> Analysis {
    let doc = Doc::new(text, &LEXICON);
    let hits = detect::detect(&doc);
    let score = score::score(&hits);
    let conflict_level = level(score);
    let indicators = hits.iter().map(|h| Indicator { kind: h.kind, span: h.span, text: doc.text(h.span) }).collect();
    let neutral_rewrite = (conflict_level != ConflictLevel::Low).then(|| rewrite::rewrite(&doc, &hits));
    Analysis { is_hostile: conflict_level == ConflictLevel::High, conflict_level, indicators, neutral_rewrite, score }
}
