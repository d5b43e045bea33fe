//! What a tone analysis says, whichever analyzer produced it (the local one or Claude).

/// How heated a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictLevel {
    Low,
    Medium,
    High,
}

/// What an indicator is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    Insult,
    Profanity,
    Threat,
    Contempt,
    Blame,
    Absolute,
    Shouting,
    Punctuation,
    NameCalling,
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// [start, end) in Unicode scalar values (chars) of the input
    pub span: [usize; 2],
    /// The input text of the span.
    pub text: String,
}

/// The result of [`analyze`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Analysis {
    pub is_hostile: bool,
    pub conflict_level: ConflictLevel,
    /// Sorted by span.
    pub indicators: Vec<Indicator>,
    /// A calmer wording, for Medium and High only; it always analyses as Low.
    pub neutral_rewrite: Option<String>,
    pub score: u32,
}
