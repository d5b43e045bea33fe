//! Turning a message into words the detectors can match.
//!
//! A message becomes *raw tokens* (maximal runs of letters, digits and the characters people
//! use to disguise words: `* $ @`, an apostrophe inside a word, a `!` between two letters,
//! zero-width joiners and combining marks) and single-character *symbol tokens* (emoji that a
//! phrase list mentions). Every raw token keeps its `[start, end)` span in chars of the input.
//!
//! Each raw token gets a normalised key: lowercase, fullwidth and accented Latin letters and
//! Cyrillic/Greek look-alikes folded (when the token also has ASCII letters), zero-width and
//! combining characters dropped, and leetspeak folded (`0→o 1→i 3→e 4→a 5→s 7→t @→a $→s !→i`)
//! when the token has at least one letter. Runs of single letters separated by spaces, dots or
//! dashes (`s t u p i d`, `i.d.i.o.t`) are merged when together they spell a listed word, and
//! so are two halves split by one space or hyphen (`bull shit`, `a-hole`).
//!
//! Raw tokens then become *words*: contractions and chat slang expand (`you're` → `you are`,
//! `u` → `you`, `gonna` → `going to`), a word that resolves to a lexicon entry (through
//! wildcards, stretching or a plural) takes the entry as its key, and a stretched word
//! (`youuu`) takes the phrase-vocabulary word it squeezes to. Expanded words share the span of
//! their raw token.
//!
//! Boundaries between raw tokens are classified from the characters between them: `. ! ? ; :`
//! and newlines end a sentence (a `.` only when not followed by a letter or digit), commas,
//! brackets, quotes and dashes end a clause.

use std::ops::Range;

use super::fold::{expand, is_apostrophe, is_joiner, normalize};
use super::lexicon::{LexFlags, Lexicon};

/// What separates a word from the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Break {
    None,
    Clause,
    Sentence,
}

/// A maximal run of word characters (or one symbol) in the input.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub start: usize,
    pub end: usize,
    /// Normalised form before contraction expansion.
    pub key: String,
    /// Lexicon entry when the raw token was built by merging pieces.
    pub merged: Option<String>,
    pub break_before: Break,
    pub sentence: usize,
    pub symbol: bool,
}

/// One word after contraction expansion.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    /// The key phrases are matched against: a lexicon entry when the word resolved to one.
    pub key: String,
    pub lex: Option<LexFlags>,
    pub raw: usize,
    pub span: [usize; 2],
    pub break_before: Break,
    pub sentence: usize,
    /// A listed word written as a proper name ("Dick Van Dyke", "ask Dick").
    pub name: bool,
    /// Which phrase sets have a phrase starting with `key` ([`Lexicon::phrase_starts`]).
    pub starts: u8,
}

#[derive(Debug, Clone)]
pub(crate) struct Sentence {
    pub words: Range<usize>,
    pub raws: Range<usize>,
    pub chars: Range<usize>,
}

/// A tokenised message.
#[derive(Debug)]
pub(crate) struct Doc {
    pub chars: Vec<char>,
    pub raws: Vec<Raw>,
    pub words: Vec<Word>,
    pub sentences: Vec<Sentence>,
    /// `[start, end)` of the clause of each word.
    clauses: Vec<[usize; 2]>,
}

/// The longest run of single letters considered for merging (`s t u p i d`).
const MAX_SPACED_RUN: usize = 24;

impl Doc {
    pub(crate) fn new(text: &str, lex: &Lexicon) -> Doc {
        let chars: Vec<char> = text.chars().collect();
        let spans = scan(&chars, lex);
        let mut raws: Vec<Raw> = spans
            .into_iter()
            .map(|(start, end, symbol)| Raw {
                start,
                end,
                key: if symbol { chars[start].to_string() } else { normalize(&chars[start..end]) },
                merged: None,
                break_before: Break::None,
                sentence: 0,
                symbol,
            })
            .collect();
        merge_spaced(&chars, &mut raws, lex);
        merge_halves(&chars, &mut raws, lex);

        let mut sentence = 0;
        for i in 0..raws.len() {
            let b = if i == 0 { Break::Sentence } else { classify_gap(&chars, raws[i - 1].end, raws[i].start) };
            if i > 0 && b == Break::Sentence {
                sentence += 1;
            }
            raws[i].break_before = b;
            raws[i].sentence = sentence;
        }

        let mut words = Vec::with_capacity(raws.len() + raws.len() / 4);
        for (ri, raw) in raws.iter().enumerate() {
            let span = [raw.start, raw.end];
            let mut first = true;
            let mut push = |key: String, lex_flags: Option<LexFlags>| {
                words.push(Word {
                    starts: lex.phrase_starts(&key),
                    key,
                    lex: lex_flags,
                    raw: ri,
                    span,
                    break_before: if first { raw.break_before } else { Break::None },
                    sentence: raw.sentence,
                    name: false,
                });
                first = false;
            };
            if let Some(entry) = &raw.merged {
                push(entry.clone(), lex.flags(entry));
                continue;
            }
            if raw.symbol {
                push(raw.key.clone(), None);
                continue;
            }
            // A whole token that resolves (a$$, f*ck, stuuupid) is not expanded further.
            if let Some(entry) = lex.resolve(&raw.key) {
                push(entry.to_owned(), lex.flags(entry));
                continue;
            }
            for part in expand(&raw.key) {
                // A part that is the whole token was resolved just above, in vain.
                let resolved = if part == raw.key { None } else { lex.resolve(&part) };
                match resolved {
                    Some(entry) => push(entry.to_owned(), lex.flags(entry)),
                    None => {
                        let key = lex.vocabulary_word(&part).map(str::to_owned).unwrap_or(part);
                        push(key, None);
                    }
                }
            }
        }
        mark_names(&chars, &raws, &mut words);

        let mut sentences: Vec<Sentence> = Vec::new();
        for (wi, w) in words.iter().enumerate() {
            if sentences.len() <= w.sentence {
                sentences.push(Sentence { words: wi..wi + 1, raws: w.raw..w.raw + 1, chars: 0..0 });
            } else if let Some(s) = sentences.last_mut() {
                s.words.end = wi + 1;
                s.raws.end = w.raw + 1;
            }
        }
        let count = sentences.len();
        for k in 0..count {
            let start = if k == 0 { 0 } else { raws[sentences[k].raws.start].start };
            let end = if k + 1 < count { raws[sentences[k + 1].raws.start].start } else { chars.len() };
            sentences[k].chars = start..end;
        }
        let mut clauses = vec![[0, 0]; words.len()];
        let mut start = 0;
        for i in 0..words.len() {
            if words[i].break_before != Break::None {
                start = i;
            }
            clauses[i][0] = start;
        }
        let mut end = words.len();
        for i in (0..words.len()).rev() {
            clauses[i][1] = end;
            if words[i].break_before != Break::None {
                end = i;
            }
        }
        Doc { chars, raws, words, sentences, clauses }
    }

    /// The break after word `i` (a sentence break after the last word).
    pub(crate) fn break_after(&self, i: usize) -> Break {
        self.words.get(i + 1).map_or(Break::Sentence, |w| w.break_before)
    }

    /// The word range of the clause that holds word `i`.
    pub(crate) fn clause_of(&self, i: usize) -> Range<usize> {
        let [start, end] = self.clauses[i];
        start..end
    }

    pub(crate) fn text(&self, span: [usize; 2]) -> String {
        self.chars[span[0]..span[1]].iter().collect()
    }
}

fn is_wordish(chars: &[char], i: usize, lex: &Lexicon) -> bool {
    let c = chars[i];
    if lex.is_symbol(c) {
        return false;
    }
    c.is_alphanumeric()
        || matches!(c, '$' | '@' | '*')
        || is_apostrophe(c)
        || is_joiner(c)
        || (c == '!' && i > 0 && i + 1 < chars.len() && chars[i - 1].is_alphabetic() && chars[i + 1].is_alphabetic())
}

/// Raw token spans `(start, end, is_symbol)`.
fn scan(chars: &[char], lex: &Lexicon) -> Vec<(usize, usize, bool)> {
    let n = chars.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if lex.is_symbol(chars[i]) {
            out.push((i, i + 1, true));
            i += 1;
            continue;
        }
        if !is_wordish(chars, i, lex) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && is_wordish(chars, i, lex) {
            i += 1;
        }
        let (s, e) = trim(chars, start, i);
        if s < e && chars[s..e].iter().any(|c| c.is_alphanumeric()) {
            out.push((s, e, false));
        }
    }
    out
}

/// Strips quotes and markdown emphasis around a token, keeping disguising stars inside it
/// (`f**k`, `f***`) but not a single star after a longer word (`roll*`).
fn trim(chars: &[char], start: usize, end: usize) -> (usize, usize) {
    let lead_star = chars[start] == '*';
    let mut s = start;
    let mut e = end;
    while s < e && (chars[s] == '*' || is_apostrophe(chars[s]) || is_joiner(chars[s])) {
        s += 1;
    }
    while e > s && (is_apostrophe(chars[e - 1]) || is_joiner(chars[e - 1])) {
        e -= 1;
    }
    let stars = chars[s..e].iter().rev().take_while(|&&c| c == '*').count();
    let letters_before = chars[s..e - stars].iter().filter(|c| c.is_alphanumeric()).count();
    if stars > 0 && (lead_star || (stars == 1 && letters_before >= 3)) {
        e -= stars;
    }
    (s, e)
}

/// Separators allowed between the letters of a spaced-out word.
fn is_spacing(c: char) -> bool {
    matches!(c, ' ' | '.' | '-' | '_' | '*' | ',' | '/' | '|' | '\u{00B7}' | '\u{2022}' | '+' | '~')
}

fn single_char(chars: &[char], raw: &Raw) -> bool {
    !raw.symbol && raw.end - raw.start == 1 && chars[raw.start].is_alphanumeric()
}

/// Merges runs of single letters that spell a listed word: `s t u p i d`, `i.d.i.o.t`, `f-u-c-k`.
fn merge_spaced(chars: &[char], raws: &mut Vec<Raw>, lex: &Lexicon) {
    let mut out: Vec<Raw> = Vec::with_capacity(raws.len());
    let mut i = 0;
    while i < raws.len() {
        // The run of single characters starting at i.
        let mut j = i;
        while j < raws.len() && single_char(chars, &raws[j]) {
            if j > i {
                let gap = &chars[raws[j - 1].end..raws[j].start];
                if gap.is_empty() || gap.len() > 3 || !gap.iter().all(|&c| is_spacing(c)) {
                    break;
                }
            }
            j += 1;
            if j - i >= MAX_SPACED_RUN {
                break;
            }
        }
        if j - i < 3 {
            out.push(raws[i].clone());
            i += 1;
            continue;
        }
        // Longest listed word starting at each position of the run.
        let mut k = i;
        while k < j {
            let mut merged = false;
            for e in (k + 3..=j).rev() {
                let letters: Vec<char> = raws[k..e].iter().map(|r| chars[r.start]).collect();
                if let Some(entry) = lex.resolve(&normalize(&letters)) {
                    // "f.u.c.k." keeps its last dot: it belongs to the spelling, not the sentence.
                    let mut end = raws[e - 1].end;
                    let dotted = (k + 1..e).all(|m| chars[raws[m - 1].end..raws[m].start] == ['.']);
                    if dotted && chars.get(end) == Some(&'.') {
                        end += 1;
                    }
                    out.push(Raw {
                        start: raws[k].start,
                        end,
                        key: entry.to_owned(),
                        merged: Some(entry.to_owned()),
                        break_before: Break::None,
                        sentence: 0,
                        symbol: false,
                    });
                    k = e;
                    merged = true;
                    break;
                }
            }
            if !merged {
                out.push(raws[k].clone());
                k += 1;
            }
        }
        i = j;
    }
    *raws = out;
}

/// Joins two halves of a listed word split by one space or hyphen (`bull shit`, `a-hole`).
/// A half shorter than three letters needs the hyphen, so "a hole" stays two words.
fn merge_halves(chars: &[char], raws: &mut Vec<Raw>, lex: &Lexicon) {
    let mut out: Vec<Raw> = Vec::with_capacity(raws.len());
    let mut i = 0;
    while i < raws.len() {
        if i + 1 < raws.len() {
            let (a, b) = (&raws[i], &raws[i + 1]);
            let gap = &chars[a.end..b.start];
            let plain = |r: &Raw| !r.symbol && r.merged.is_none() && r.key.chars().all(char::is_alphabetic);
            if gap.len() == 1
                && (gap[0] == ' ' || gap[0] == '-')
                && plain(a)
                && plain(b)
                && (gap[0] == '-' || (a.key.chars().count() >= 3 && b.key.chars().count() >= 3))
            {
                let joined = format!("{}{}", a.key, b.key);
                if let Some(entry) = lex.resolve_exact(&joined)
                    && entry.chars().count() >= 5
                {
                    out.push(Raw {
                        start: a.start,
                        end: b.end,
                        key: entry.to_owned(),
                        merged: Some(entry.to_owned()),
                        break_before: Break::None,
                        sentence: 0,
                        symbol: false,
                    });
                    i += 2;
                    continue;
                }
            }
        }
        out.push(raws[i].clone());
        i += 1;
    }
    *raws = out;
}

/// Classifies the characters between two tokens.
fn classify_gap(chars: &[char], from: usize, to: usize) -> Break {
    let mut b = Break::None;
    let mut space = false;
    let mut hyphen = false;
    for k in from..to {
        match chars[k] {
            '!' | '?' | ';' | '\n' | '\r' | '\u{2026}' | '\u{3002}' | '\u{FF01}' | '\u{FF1F}' | '\u{203C}'
            | '\u{2049}' => return Break::Sentence,
            '.' | ':' if k + 1 >= chars.len() || !chars[k + 1].is_alphanumeric() => return Break::Sentence,
            ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | '\u{201C}' | '\u{201D}' | '\u{00AB}' | '\u{00BB}'
            | '\u{2013}' | '\u{2014}' | '/' => b = Break::Clause,
            '-' => hyphen = true,
            c if c.is_whitespace() => space = true,
            _ => {}
        }
    }
    if hyphen && space { Break::Clause } else { b }
}

/// Marks listed words written as names: Title-case, in proper_names.txt, and not preceded by
/// a word that makes them a noun phrase aimed at someone.
fn mark_names(chars: &[char], raws: &[Raw], words: &mut [Word]) {
    const NOT_NAME_AFTER: &[&str] = &[
        "you", "a", "an", "the", "such", "what", "your", "little", "big", "fucking", "total", "complete", "absolute",
        "being", "stupid", "bloody",
    ];
    for i in 0..words.len() {
        let Some(flags) = words[i].lex else { continue };
        if !flags.name {
            continue;
        }
        let raw = &raws[words[i].raw];
        let text = &chars[raw.start..raw.end];
        let title = text.first().is_some_and(|c| c.is_uppercase())
            && text.len() > 1
            && text[1..].iter().all(|c| !c.is_uppercase());
        let after_determiner = i > 0 && NOT_NAME_AFTER.contains(&words[i - 1].key.as_str());
        words[i].name = title && !after_determiner;
    }
}
