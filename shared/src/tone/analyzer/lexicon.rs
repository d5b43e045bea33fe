//! The word lists in `shared/data/tone/`, compiled in with `include_str!` and parsed once.
//!
//! File format: one entry per line; blank lines and lines starting with `#` are ignored.
//! Phrase files may add `=> replacement` for the neutral rewrite (`=> ^text` replaces the
//! whole sentence, `=> ^` drops it), `*suffix` for "any word ending in suffix", and a
//! trailing `$` for "must end a clause". Phrases are tokenised exactly like messages, so
//! `you'll` in a file means `you will`.

// FxHash, not SipHash: these maps hold the checked-in lexicon only (input is looked up, never
// inserted), so there is nothing for a collision attack to grow, and lookups are the hot path.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::LazyLock;

use super::fold::{expand, normalize};

/// Which lists a word is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LexFlags {
    pub strong: bool,
    pub mild: bool,
    pub insult_noun: bool,
    pub insult_adj: bool,
    pub contempt: bool,
    pub criticism: bool,
    pub name: bool,
}

impl LexFlags {
    pub(crate) fn insult(&self) -> bool {
        self.insult_noun || self.insult_adj
    }

    /// Words that judge a person and can be aimed at the reader.
    pub(crate) fn personal(&self) -> bool {
        self.insult() || self.contempt || self.criticism
    }

    pub(crate) fn profane(&self) -> bool {
        self.strong || self.mild
    }

    fn any(&self) -> bool {
        self.profane() || self.personal()
    }
}

/// One word of a phrase pattern.
#[derive(Debug, Clone)]
pub(crate) enum PatTok {
    Word(String),
    Suffix(String),
    /// `...`: up to this many words of the same clause.
    Gap(usize),
}

impl PatTok {
    pub(crate) fn matches(&self, key: &str) -> bool {
        match self {
            PatTok::Word(w) => w == key,
            PatTok::Suffix(s) => key.len() > s.len() && key.ends_with(s.as_str()),
            PatTok::Gap(_) => true,
        }
    }
}

/// What the neutral rewrite does with a phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rewrite {
    Delete,
    Span(String),
    /// Replace the sentence; an empty text drops it.
    Sentence(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Phrase {
    pub toks: Vec<PatTok>,
    pub anchor_end: bool,
    pub rewrite: Rewrite,
}

/// Phrases indexed by their first word.
#[derive(Debug, Default)]
pub(crate) struct PhraseSet {
    pub phrases: Vec<Phrase>,
    by_first: HashMap<String, Vec<usize>>,
    /// This set's bit in [`Lexicon::phrase_starts`].
    bit: u8,
}

impl PhraseSet {
    /// Whether a word whose [`Lexicon::phrase_starts`] is `starts` can begin one of its phrases.
    pub(crate) fn may_start(&self, starts: u8) -> bool {
        starts & self.bit != 0
    }

    pub(crate) fn starting_with(&self, key: &str) -> impl Iterator<Item = &Phrase> {
        self.by_first.get(key).into_iter().flatten().map(|&i| &self.phrases[i])
    }
}

#[derive(Debug)]
pub(crate) struct Lexicon {
    words: HashMap<String, LexFlags>,
    /// `entry => replacement` lines of the word lists.
    word_rewrites: HashMap<String, Rewrite>,
    /// Candidates for `*` wildcards: profanity first, then the rest, each sorted.
    wildcard_order: Vec<String>,
    /// squeeze(entry) → entry, for stretched spellings.
    squeezed_entries: HashMap<String, String>,
    /// squeeze(word) → word over every word any list or the grammar mentions.
    squeezed_vocabulary: HashMap<String, String>,
    pub threats: PhraseSet,
    pub directed_profanity: PhraseSet,
    pub dismissals: PhraseSet,
    pub contempt_phrases: PhraseSet,
    pub blame: PhraseSet,
    pub absolutes: PhraseSet,
    pub allow: PhraseSet,
    pub positive: HashSet<String>,
    pub short_words: HashSet<String>,
    pub acronyms: HashSet<String>,
    symbols: HashSet<char>,
    /// First word of a phrase → the bits of the sets with a phrase that starts with it: one
    /// lookup per word tells the seven phrase searches where to look.
    phrase_starts: HashMap<String, u8>,
}

/// How many words `...` in a phrase may stand for.
const GAP_WORDS: usize = 4;

/// Words the detectors' grammar matches on; part of the phrase vocabulary so stretched
/// spellings ("youuu") squeeze to them.
pub(crate) const GRAMMAR_WORDS: &[&str] = &["you", "your", "are", "so", "such", "stop", "please", "no", "not", "why"];

pub(crate) static LEXICON: LazyLock<Lexicon> = LazyLock::new(Lexicon::load);

macro_rules! data {
    ($name:literal) => {
        include_str!(concat!("../../../data/tone/", $name))
    };
}

/// Entries of a list file: `(entry, rewrite)`.
fn entries(text: &'static str) -> impl Iterator<Item = (&'static str, Option<&'static str>)> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| match l.split_once("=>") {
        Some((entry, rewrite)) => (entry.trim(), Some(rewrite.trim())),
        None => (l, None),
    })
}

fn key_of(entry: &str) -> String {
    let chars: Vec<char> = entry.chars().collect();
    normalize(&chars)
}

/// Collapses every run of a repeated character to one.
pub(crate) fn squeeze(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = None;
    for c in s.chars() {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

/// True when some character repeats three times in a row (a stretched spelling).
pub(crate) fn stretched(s: &str) -> bool {
    let mut last = None;
    let mut run = 0;
    for c in s.chars() {
        if Some(c) == last {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 1;
        }
        last = Some(c);
    }
    false
}

impl Lexicon {
    fn load() -> Lexicon {
        let mut words: HashMap<String, LexFlags> = HashMap::default();
        let mut word_rewrites = HashMap::default();
        type List = (&'static str, fn(&mut LexFlags));
        let lists: [List; 6] = [
            (data!("profanity_strong.txt"), |f| f.strong = true),
            (data!("profanity_mild.txt"), |f| f.mild = true),
            (data!("insult_nouns.txt"), |f| f.insult_noun = true),
            (data!("insult_adjectives.txt"), |f| f.insult_adj = true),
            (data!("contempt_words.txt"), |f| f.contempt = true),
            (data!("criticism_words.txt"), |f| f.criticism = true),
        ];
        for (text, set) in lists {
            for (entry, rewrite) in entries(text) {
                set(words.entry(key_of(entry)).or_default());
                if let Some(r) = rewrite {
                    word_rewrites.insert(key_of(entry), Rewrite::Span(r.to_owned()));
                }
            }
        }
        for (entry, _) in entries(data!("proper_names.txt")) {
            if let Some(flags) = words.get_mut(&key_of(entry)) {
                flags.name = true;
            }
        }

        let mut sorted: Vec<&String> = words.keys().collect();
        sorted.sort();
        let mut wildcard_order: Vec<String> =
            sorted.iter().filter(|w| words[w.as_str()].profane()).map(|w| (*w).clone()).collect();
        wildcard_order.extend(sorted.iter().filter(|w| !words[w.as_str()].profane()).map(|w| (*w).clone()));
        let mut squeezed_entries = HashMap::default();
        for w in &sorted {
            squeezed_entries.entry(squeeze(w)).or_insert_with(|| (*w).clone());
        }

        let mut lex = Lexicon {
            words,
            word_rewrites,
            wildcard_order,
            squeezed_entries,
            squeezed_vocabulary: HashMap::default(),
            threats: PhraseSet::default(),
            directed_profanity: PhraseSet::default(),
            dismissals: PhraseSet::default(),
            contempt_phrases: PhraseSet::default(),
            blame: PhraseSet::default(),
            absolutes: PhraseSet::default(),
            allow: PhraseSet::default(),
            positive: entries(data!("positive_cues.txt")).map(|(e, _)| key_of(e)).collect(),
            short_words: entries(data!("short_words.txt")).map(|(e, _)| key_of(e)).collect(),
            acronyms: entries(data!("acronyms.txt")).map(|(e, _)| key_of(e)).collect(),
            symbols: HashSet::default(),
            phrase_starts: HashMap::default(),
        };
        lex.threats = lex.phrases(data!("threats.txt"), 1);
        lex.directed_profanity = lex.phrases(data!("directed_profanity.txt"), 1 << 1);
        lex.dismissals = lex.phrases(data!("dismissals.txt"), 1 << 2);
        lex.contempt_phrases = lex.phrases(data!("contempt_phrases.txt"), 1 << 3);
        lex.blame = lex.phrases(data!("blame.txt"), 1 << 4);
        lex.absolutes = lex.phrases(data!("absolutes.txt"), 1 << 5);
        lex.allow = lex.phrases(data!("allow.txt"), 1 << 6);
        let mut phrase_starts: HashMap<String, u8> = HashMap::default();
        for set in lex.phrase_sets() {
            for first in set.by_first.keys() {
                *phrase_starts.entry(first.clone()).or_default() |= set.bit;
            }
        }
        lex.phrase_starts = phrase_starts;

        let mut vocabulary: Vec<String> = lex.words.keys().cloned().collect();
        for set in lex.phrase_sets() {
            for phrase in &set.phrases {
                for tok in &phrase.toks {
                    if let PatTok::Word(w) = tok {
                        vocabulary.push(w.clone());
                    }
                }
            }
        }
        vocabulary.extend(GRAMMAR_WORDS.iter().map(|w| (*w).to_owned()));
        vocabulary.sort();
        vocabulary.dedup();
        for w in vocabulary {
            lex.squeezed_vocabulary.entry(squeeze(&w)).or_insert(w);
        }
        lex
    }

    /// Every phrase set, in the order their bits were given.
    fn phrase_sets(&self) -> [&PhraseSet; 7] {
        [
            &self.threats,
            &self.directed_profanity,
            &self.dismissals,
            &self.contempt_phrases,
            &self.blame,
            &self.absolutes,
            &self.allow,
        ]
    }

    fn phrases(&mut self, text: &'static str, bit: u8) -> PhraseSet {
        let mut set = PhraseSet { bit, ..PhraseSet::default() };
        for (entry, rewrite) in entries(text) {
            let mut toks = Vec::new();
            let mut anchor_end = false;
            let pieces: Vec<&str> = entry.split_whitespace().collect();
            for (i, piece) in pieces.iter().enumerate() {
                if *piece == "$" && i + 1 == pieces.len() {
                    anchor_end = true;
                } else if *piece == "..." {
                    toks.push(PatTok::Gap(GAP_WORDS));
                } else if let Some(suffix) = piece.strip_prefix('*').filter(|s| !s.is_empty()) {
                    toks.push(PatTok::Suffix(suffix.to_owned()));
                } else {
                    let mut chars = piece.chars();
                    if let (Some(c), None) = (chars.next(), chars.next())
                        && !c.is_alphanumeric()
                    {
                        self.symbols.insert(c);
                        toks.push(PatTok::Word(c.to_string()));
                        continue;
                    }
                    let key = key_of(piece);
                    match self.resolve_exact(&key) {
                        Some(entry) => toks.push(PatTok::Word(entry.to_owned())),
                        None => {
                            for part in expand(&key) {
                                let part = self.resolve_exact(&part).map(str::to_owned).unwrap_or(part);
                                toks.push(PatTok::Word(part));
                            }
                        }
                    }
                }
            }
            let Some(PatTok::Word(first)) = toks.first().cloned() else { continue };
            let rewrite = match rewrite {
                None => Rewrite::Delete,
                Some(r) => match r.strip_prefix('^') {
                    Some(sentence) => Rewrite::Sentence(sentence.trim().to_owned()),
                    None => Rewrite::Span(r.to_owned()),
                },
            };
            set.by_first.entry(first).or_default().push(set.phrases.len());
            set.phrases.push(Phrase { toks, anchor_end, rewrite });
        }
        // Longest phrases first, so the first match at a position is the longest.
        for ids in set.by_first.values_mut() {
            let phrases = &set.phrases;
            ids.sort_by_key(|&i| std::cmp::Reverse(phrases[i].toks.len()));
        }
        set
    }

    /// The replacement a word list gives an entry (`wtf => what`).
    pub(crate) fn word_rewrite(&self, entry: &str) -> Option<&Rewrite> {
        self.word_rewrites.get(entry)
    }

    pub(crate) fn is_symbol(&self, c: char) -> bool {
        self.symbols.contains(&c)
    }

    /// The bits of the phrase sets with a phrase that starts with `key` ([`PhraseSet::may_start`]).
    pub(crate) fn phrase_starts(&self, key: &str) -> u8 {
        self.phrase_starts.get(key).copied().unwrap_or(0)
    }

    pub(crate) fn flags(&self, entry: &str) -> Option<LexFlags> {
        self.words.get(entry).copied().filter(LexFlags::any)
    }

    /// The entry a key spells exactly or as a plural.
    pub(crate) fn resolve_exact(&self, key: &str) -> Option<&str> {
        if let Some((k, _)) = self.words.get_key_value(key) {
            return Some(k);
        }
        if key.chars().count() >= 4 {
            for suffix in ["s", "es"] {
                if let Some(stem) = key.strip_suffix(suffix)
                    && let Some((k, _)) = self.words.get_key_value(stem)
                {
                    return Some(k);
                }
            }
        }
        None
    }

    /// The entry a key spells, allowing `*` wildcards, stretched letters and a plural.
    pub(crate) fn resolve(&self, key: &str) -> Option<&str> {
        if let Some(k) = self.resolve_exact(key) {
            return Some(k);
        }
        if key.contains('*') {
            return self.wildcard(key);
        }
        if stretched(key) {
            let len = key.chars().count();
            let candidates = [Some(key), key.strip_suffix('s')];
            for candidate in candidates.into_iter().flatten() {
                if let Some(entry) = self.squeezed_entries.get(&squeeze(candidate))
                    && entry.chars().count() < len
                {
                    return Some(entry);
                }
            }
        }
        None
    }

    fn wildcard(&self, key: &str) -> Option<&str> {
        let pattern: Vec<char> = key.chars().collect();
        let letters = pattern.iter().filter(|c| c.is_alphabetic()).count();
        if pattern.len() < 3 || letters == 0 || pattern[0] == '*' {
            return None;
        }
        self.wildcard_order
            .iter()
            .find(|w| w.chars().count() == pattern.len() && w.chars().zip(&pattern).all(|(c, &p)| p == '*' || p == c))
            .map(String::as_str)
    }

    /// The phrase or grammar word a stretched spelling squeezes to ("youuu" → "you").
    pub(crate) fn vocabulary_word(&self, key: &str) -> Option<&str> {
        if !stretched(key) {
            return None;
        }
        self.squeezed_vocabulary.get(&squeeze(key)).map(String::as_str)
    }
}
