//! Every number the score is made of. `docs/tone.md` explains them; change both together.
//!
//! The score is the sum, over scoring groups, of each group's hit weights, where a group
//! with a cap contributes at most its cap. Shouting and punctuation together ("raised
//! voice") contribute at most [`VOICE_CAP`].

/// Score at which a message becomes Medium (T1): `Low < 4 ≤ Medium`.
pub const MEDIUM_THRESHOLD: u32 = 4;
/// Score at which a message becomes High (T2): `Medium < 8 ≤ High`.
pub const HIGH_THRESHOLD: u32 = 8;

/// Multiplier for a word aimed at the reader ("you idiot", "you're pathetic").
pub const READER_MULTIPLIER: u32 = 4;
/// Multiplier for a word aimed at the reader's people or things ("your stupid rules").
pub const POSSESSION_MULTIPLIER: u32 = 2;

/// An insulting word (insult_nouns.txt, insult_adjectives.txt). Aimed at the reader it is
/// reported as name-calling: `INSULT × READER_MULTIPLIER` = 8.
pub const INSULT: u32 = 2;
/// A contempt word (contempt_words.txt): "useless", "pathetic".
pub const CONTEMPT_WORD: u32 = 2;
/// A criticism word (criticism_words.txt): "ridiculous", "selfish". Reported as contempt.
pub const CRITICISM_WORD: u32 = 1;
/// Strong profanity not aimed at anyone ("this is f*cking broken").
pub const PROFANITY_STRONG: u32 = 4;
/// Mild profanity ("damn", "hell").
pub const PROFANITY_MILD: u32 = 1;
/// Profanity aimed at the reader ("f off", "go to hell").
pub const DIRECTED_PROFANITY: u32 = 8;
/// A threat.
pub const THREAT: u32 = 10;
/// A dismissal ("shut up", "nobody asked you"). Reported as contempt.
pub const DISMISSAL: u32 = 8;
/// A contempt phrase ("whatever you say", "🙄").
pub const CONTEMPT_PHRASE: u32 = 4;
/// A blame phrase ("it's your fault", "you always…").
pub const BLAME: u32 = 4;
/// An absolute aimed at the reader ("you forget everything").
pub const ABSOLUTE: u32 = 2;
/// A shouted sentence (or message).
pub const SHOUTING: u32 = 4;
/// A run of three or more `!`/`?`.
pub const PUNCTUATION: u32 = 3;

/// Undirected and possession-directed insults together.
pub const INSULT_WORDS_CAP: u32 = 4;
/// Undirected and possession-directed contempt and criticism words together.
pub const CONTEMPT_WORDS_CAP: u32 = 4;
/// Profanity words (not directed phrases).
pub const PROFANITY_WORDS_CAP: u32 = 6;
/// Contempt phrases.
pub const CONTEMPT_PHRASES_CAP: u32 = 6;
/// Blame phrases.
pub const BLAME_CAP: u32 = 6;
/// Absolutes.
pub const ABSOLUTE_CAP: u32 = 4;
/// Shouting.
pub const SHOUTING_CAP: u32 = 4;
/// Punctuation.
pub const PUNCTUATION_CAP: u32 = 3;
/// Shouting and punctuation together.
pub const VOICE_CAP: u32 = 6;

/// Shouting needs at least this many counted letters…
pub const SHOUT_MIN_LETTERS: usize = 8;
/// …of which at least this percentage are capitals.
pub const SHOUT_PERCENT: usize = 70;
/// Punctuation needs a run of at least this many `!`/`?` (`‼` and `⁉` count two).
pub const PUNCTUATION_MIN_RUN: usize = 3;
