//! The detectors: each turns a tokenised message into weighted hits.
//!
//! Word-level detectors (insults, contempt and criticism words) first decide whom a word is
//! aimed at — the reader, the reader's people or things, or nobody in particular — with a
//! small grammar: a backward walk from the word to "you"/"your" over copulas and modifiers,
//! a few fixed shapes ("how stupid are you", "idiots like you", "don't be stupid", "stop
//! being an idiot") and vocatives (a clause that is only the insult: "Idiot.", "Shut up,
//! stupid bot"). Phrase-level detectors (threats, directed profanity, dismissals, contempt
//! phrases, blame, absolutes) already encode their target and carry a fixed weight.

use std::collections::BTreeMap;
use std::ops::Range;

use super::lexicon::{LEXICON, LexFlags, Lexicon, PatTok, Phrase, PhraseSet, Rewrite};
use super::text::{Break, Doc};
use super::weights::*;
use crate::tone::analysis::IndicatorKind;

/// Scoring groups; every group but `Uncapped` has a cap (see `weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Group {
    Uncapped,
    InsultWords,
    ContemptWords,
    ProfanityWords,
    ContemptPhrases,
    Blame,
    Absolute,
    Shouting,
    Punctuation,
}

/// What the neutral rewrite does with a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Keep,
    Delete,
    Phrase(&'static Rewrite),
    /// Remove the hit and the rest of its sentence (threats).
    Cut,
    /// Sentence-case the sentence (`None`: every sentence).
    Shout(Option<usize>),
    /// Replace the sentence with a request to talk (an accusation asked as a question).
    Talk,
    /// Delete; when the hit opens its clause and the clause goes on ("You're a disgrace to
    /// this team"), delete the whole clause.
    Drop,
    /// Replace an insulting noun with "person" (`true`: "people"): "that creep" → "that person".
    Person(bool),
    /// Delete from this word through the hit and on to the end of the clause ("your app is
    /// garbage").
    DropFrom(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub kind: IndicatorKind,
    pub span: [usize; 2],
    pub words: Range<usize>,
    pub weight: u32,
    pub group: Group,
    pub action: Action,
}

const SECOND_PERSON: &[&str] = &["you", "yourself", "yourselves", "thou", "ye"];
const POSSESSIVE: &[&str] = &["your", "yours"];
const NEGATORS: &[&str] = &["not", "never", "no", "hardly"];
/// Verbs that link "you" to what they are called.
#[rustfmt::skip]
const COPULAS: &[&str] = &[
    "are", "is", "am", "was", "were", "be", "being", "been", "sound", "sounds", "look", "looks", "seem", "seems", "act",
    "acting", "behave", "behaving", "become", "becoming", "get", "getting", "have", "has", "had", "must", "can",
    "could", "would", "will", "talk", "talking", "feel",
];
/// Copulas that make an imperative: "don't be", "stop being", "quit acting".
const BE_LIKE: &[&str] = &["be", "being", "act", "acting", "behaving"];
/// Verbs that "like" may follow in "you look like an idiot".
#[rustfmt::skip]
const LIKE_VERBS: &[&str] = &[
    "look", "looks", "sound", "sounds", "act", "acting", "seem", "seems", "behave", "behaving", "talk", "talking",
];
const DETERMINERS: &[&str] = &["a", "an", "the", "this", "that", "one", "some"];
/// Modifiers that may sit between "you" and what they are called.
#[rustfmt::skip]
const FILLERS: &[&str] = &[
    "so", "such", "really", "truly", "seriously", "honestly", "genuinely", "actually", "literally", "just", "still",
    "always", "constantly", "totally", "completely", "absolutely", "utterly", "entirely", "very", "too", "extremely",
    "incredibly", "unbelievably", "pretty", "quite", "kind", "kinda", "sort", "sorta", "of", "bit", "little", "big",
    "huge", "total", "complete", "absolute", "utter", "real", "proper", "massive", "bunch", "pack", "load", "piece",
    "and", "most", "even", "also", "all", "both", "guys", "people", "lot", "two", "lads", "folks", "officially",
    "clearly", "obviously", "sometimes", "now", "biggest", "worst", "dumbest", "same", "whole", "or",
];
/// Auxiliaries that make "you …" a question ("do you always…?").
#[rustfmt::skip]
const AUX: &[&str] = &[
    "do", "does", "did", "will", "would", "can", "could", "should", "have", "has", "are", "were", "is", "shall",
];
/// Words after which "your" is a misspelt "you're" ("your an idiot", "ur so dumb").
const YOURE_NEXT: &[&str] = &["a", "an", "so", "such", "being", "really", "literally", "just", "the", "not", "too"];
/// "<insult> are you": how stupid are you, how dumb can you be.
const POST_VERBS: &[&str] = &["are", "can", "could", "were", "must", "will", "would"];
/// Words that may open a vocative clause without changing it ("Hey idiot", "Thanks, genius").
#[rustfmt::skip]
const GREETINGS: &[&str] = &[
    "oh", "hey", "listen", "look", "well", "ok", "okay", "sure", "yeah", "yes", "thanks", "thank", "bye", "wow", "ugh",
    "god", "jesus",
];
#[rustfmt::skip]
const INTENSIFIERS: &[&str] = &[
    "absolute", "total", "complete", "utter", "little", "big", "such", "real", "proper", "you", "absolutely", "totally",
    "completely", "utterly", "just", "so", "really", "truly", "simply", "how",
];
/// Nouns that address someone ("stupid bot", "useless people").
#[rustfmt::skip]
const ADDRESSEES: &[&str] = &[
    "bot", "ai", "machine", "program", "computer", "chatbot", "assistant", "man", "dude", "mate", "buddy", "pal", "bro",
    "lady", "woman", "boy", "girl", "kid", "sir", "madam", "people", "guys", "company", "thing", "creature",
];
/// Intensifiers that may sit between the words of a phrase ("I will fucking hurt you").
#[rustfmt::skip]
const SKIPPABLE: &[&str] = &[
    "fucking", "fuckin", "fking", "fcking", "effing", "freaking", "freakin", "frigging", "friggin", "fricking",
    "bloody", "damn", "damned", "goddamn", "really", "just", "so", "all", "even", "actually", "seriously", "literally",
    "honestly", "truly", "totally", "completely", "absolutely", "absolute", "complete", "total", "utter",
];
const SUBJECTS: &[&str] = &["i", "we", "he", "she", "they"];
/// How far the walk from a word back to "you" may go, and how far "… and so are you" may be.
const LOOKBEHIND: usize = 12;
const LOOKAHEAD: usize = 8;
/// A vocative clause is short ("Listen, you absolute idiot").
const MAX_VOCATIVE_WORDS: usize = 8;
/// Absolutes that a positive cue turns into praise ("thank you for everything").
const HABITUAL: &[&str] = &["always", "every", "everything", "constantly", "forever", "all"];
/// Listed nouns that name stuff rather than people ("this shit", "what the fuck").
const MASS_NOUNS: &[&str] = &["fuck", "shit", "ass", "arse", "crap", "hell", "piss"];
/// Determiners before which an insulting noun can become "person" in the rewrite.
#[rustfmt::skip]
const NOUN_DETERMINERS: &[&str] = &[
    "a", "an", "the", "that", "this", "some", "my", "his", "her", "their", "our", "those", "these", "by", "of",
];

fn is(list: &[&str], key: &str) -> bool {
    list.contains(&key)
}

/// A phrase match over words `start..end`.
struct Match {
    start: usize,
    end: usize,
    phrase: &'static Phrase,
}

fn skippable(doc: &Doc, j: usize) -> Option<usize> {
    let w = &doc.words;
    let key = w[j].key.as_str();
    if is(SKIPPABLE, key) {
        return Some(1);
    }
    if key == "the"
        && j + 1 < w.len()
        && w[j + 1].break_before == Break::None
        && matches!(w[j + 1].key.as_str(), "fuck" | "hell" | "heck" | "f")
    {
        return Some(2);
    }
    None
}

fn match_at(doc: &Doc, i: usize, phrase: &Phrase, masked: Option<&[bool]>) -> Option<usize> {
    if masked.is_some_and(|m| m[i]) {
        return None;
    }
    match_rest(doc, &phrase.toks[1..], i + 1, phrase.anchor_end, masked)
}

/// Matches `toks` from word `j` on; returns the end of the match.
fn match_rest(doc: &Doc, toks: &[PatTok], j: usize, anchor_end: bool, masked: Option<&[bool]>) -> Option<usize> {
    let w = &doc.words;
    let Some((tok, rest)) = toks.split_first() else {
        return (!anchor_end || doc.break_after(j - 1) != Break::None).then_some(j);
    };
    if let PatTok::Gap(max) = tok {
        for extra in 0..=*max {
            if extra > 0 && (j + extra > w.len() || w[j + extra - 1].break_before != Break::None) {
                break;
            }
            if let Some(end) = match_rest(doc, rest, j + extra, anchor_end, masked) {
                return Some(end);
            }
        }
        return None;
    }
    let mut j = j;
    let mut skips = 0;
    loop {
        if j >= w.len() || w[j].break_before != Break::None {
            return None;
        }
        if tok.matches(&w[j].key) {
            break;
        }
        match skippable(doc, j) {
            Some(len) if skips < 2 => {
                j += len;
                skips += 1;
            }
            _ => return None,
        }
    }
    if masked.is_some_and(|m| m[j]) {
        return None;
    }
    match_rest(doc, rest, j + 1, anchor_end, masked)
}

/// Left-to-right, non-overlapping matches; the longest phrase wins at each position.
fn find(doc: &Doc, set: &'static PhraseSet, masked: Option<&[bool]>) -> Vec<Match> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < doc.words.len() {
        if !set.may_start(doc.words[i].starts) {
            i += 1;
            continue;
        }
        let found = set.starting_with(&doc.words[i].key).find_map(|p| match_at(doc, i, p, masked).map(|end| (end, p)));
        match found {
            Some((end, phrase)) => {
                out.push(Match { start: i, end, phrase });
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// True when one of the `window` words before `start` (same sentence) is in `list`.
fn before_in(doc: &Doc, start: usize, window: usize, list: &[&str]) -> bool {
    let sentence = doc.words.get(start).map_or(usize::MAX, |w| w.sentence);
    (start.saturating_sub(window)..start).any(|k| doc.words[k].sentence == sentence && is(list, &doc.words[k].key))
}

fn span_of(doc: &Doc, words: Range<usize>) -> [usize; 2] {
    [doc.words[words.start].span[0], doc.words[words.end - 1].span[1]]
}

fn phrase_hit(doc: &Doc, m: &Match, kind: IndicatorKind, weight: u32, group: Group, action: Action) -> Hit {
    Hit { kind, span: span_of(doc, m.start..m.end), words: m.start..m.end, weight, group, action }
}

fn is_positive(lex: &Lexicon, key: &str) -> bool {
    lex.positive.contains(key) || key.strip_suffix('s').is_some_and(|k| lex.positive.contains(k))
}

/// Every detector, in a deterministic order; hits sorted by span.
pub(crate) fn detect(doc: &Doc) -> Vec<Hit> {
    let lex: &'static Lexicon = &LEXICON;
    let n = doc.words.len();
    let mut hits = Vec::new();

    let mut masked = vec![false; n];
    for m in find(doc, &lex.allow, None) {
        masked[m.start..m.end].fill(true);
    }
    let sentences = doc.sentences.len();
    let mut positive = vec![false; sentences];
    let mut addressed = vec![false; sentences];
    for w in &doc.words {
        positive[w.sentence] |= is_positive(lex, &w.key);
        addressed[w.sentence] |= is(SECOND_PERSON, &w.key) || is(POSSESSIVE, &w.key);
    }

    let mut in_phrase = vec![false; n];
    for m in find(doc, &lex.threats, None) {
        if before_in(doc, m.start, 2, NEGATORS) {
            continue;
        }
        in_phrase[m.start..m.end].fill(true);
        hits.push(phrase_hit(doc, &m, IndicatorKind::Threat, THREAT, Group::Uncapped, Action::Cut));
    }
    let in_threat = in_phrase.clone();

    let drop_or = |rewrite: &'static Rewrite| match rewrite {
        Rewrite::Delete => Action::Drop,
        other => Action::Phrase(other),
    };
    let mut directed_profanity = vec![false; n];
    for m in find(doc, &lex.directed_profanity, Some(&masked)) {
        directed_profanity[m.start..m.end].fill(true);
        in_phrase[m.start..m.end].fill(true);
        let action = drop_or(&m.phrase.rewrite);
        hits.push(phrase_hit(doc, &m, IndicatorKind::Profanity, DIRECTED_PROFANITY, Group::Uncapped, action));
    }
    for (set, weight, group) in [
        (&lex.dismissals, DISMISSAL, Group::Uncapped),
        (&lex.contempt_phrases, CONTEMPT_PHRASE, Group::ContemptPhrases),
    ] {
        for m in find(doc, set, Some(&masked)) {
            if before_in(doc, m.start, 3, SUBJECTS) || in_threat[m.start..m.end].iter().any(|&t| t) {
                continue;
            }
            in_phrase[m.start..m.end].fill(true);
            let action = drop_or(&m.phrase.rewrite);
            hits.push(phrase_hit(doc, &m, IndicatorKind::Contempt, weight, group, action));
        }
    }
    for m in find(doc, &lex.blame, Some(&masked)) {
        if in_threat[m.start..m.end].iter().any(|&t| t) || before_in(doc, m.start, 3, NEGATORS) {
            continue;
        }
        let w = &doc.words;
        let inverted = w[m.start].key == "you"
            && m.start > 0
            && w[m.start].break_before == Break::None
            && is(AUX, &w[m.start - 1].key);
        let why = inverted && before_in(doc, m.start - 1, 4, &["why", "how"]);
        if inverted && !why {
            continue;
        }
        let habitual = m.phrase.toks.iter().any(|t| matches!(t, PatTok::Word(k) if k == "always" || k == "every"));
        if habitual && positive[w[m.start].sentence] {
            continue;
        }
        in_phrase[m.start..m.end].fill(true);
        let action = if why { Action::Talk } else { Action::Phrase(&m.phrase.rewrite) };
        hits.push(phrase_hit(doc, &m, IndicatorKind::Blame, BLAME, Group::Blame, action));
    }

    lexical(doc, &masked, &directed_profanity, &mut hits);

    for m in find(doc, &lex.absolutes, Some(&masked)) {
        let sentence = doc.words[m.start].sentence;
        let w = &doc.words;
        let asked = m.start >= 2 && is_you(&w[m.start - 1].key) && is(AUX, &w[m.start - 2].key);
        let habitual = m.phrase.toks.iter().any(|t| matches!(t, PatTok::Word(k) if is(HABITUAL, k)));
        let appreciative = habitual && positive[sentence];
        if in_phrase[m.start..m.end].iter().any(|&p| p) || !addressed[sentence] || appreciative || asked {
            continue;
        }
        let action = Action::Phrase(&m.phrase.rewrite);
        hits.push(phrase_hit(doc, &m, IndicatorKind::Absolute, ABSOLUTE, Group::Absolute, action));
    }

    shouting(doc, lex, &positive, &mut hits);
    punctuation(doc, &mut hits);

    hits.sort_by_key(|h| (h.span, h.kind as u8));
    hits.dedup_by(|a, b| a.span == b.span && a.kind == b.kind);
    hits
}

/// Whom a personal word is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Words `from..=to` address the reader; hits with the same `key` form one indicator.
    Reader {
        key: usize,
        from: usize,
        to: usize,
    },
    /// The reader's people or things ("your stupid rules", "your lawyer is a moron"); the
    /// "your" when the word is said of the thing ("your app is garbage"), not in front of it.
    Possession(Option<usize>),
    Undirected,
}

fn is_you(key: &str) -> bool {
    is(SECOND_PERSON, key)
}

fn target(doc: &Doc, i: usize, flags: LexFlags) -> Target {
    let w = &doc.words;
    let at_clause_end = doc.break_after(i) != Break::None;

    // 1. "how stupid are you", "idiots like you", "… a moron, and so are you".
    if i + 2 < w.len() && w[i + 1].break_before == Break::None && w[i + 2].break_before == Break::None {
        let (a, b) = (w[i + 1].key.as_str(), w[i + 2].key.as_str());
        if (is(POST_VERBS, a) || a == "like") && is_you(b) {
            return Target::Reader { key: i + 2, from: i, to: i + 2 };
        }
        // "what a liar you are"
        if is_you(a) && is(&["are", "were"], b) && doc.break_after(i + 2) != Break::None {
            return Target::Reader { key: i + 1, from: i, to: i + 2 };
        }
    }
    let mut k = i + 1;
    while k + 2 < w.len() && k <= i + LOOKAHEAD && w[k].sentence == w[i].sentence && w[k + 2].sentence == w[i].sentence
    {
        if is(&["so", "as"], &w[k].key) && is(&["are", "were"], &w[k + 1].key) && is_you(&w[k + 2].key) {
            return Target::Reader { key: k + 2, from: i, to: k + 2 };
        }
        k += 1;
    }

    // 2. Walk back towards "you"/"your".
    let mut j = i;
    let (mut copula, mut be_like, mut determiner, mut negated) = (false, false, false, false);
    let mut nouns = 0;
    let mut after_comma: Option<usize> = None;
    loop {
        if j == 0 || i - j >= LOOKBEHIND {
            break;
        }
        match w[j].break_before {
            Break::Sentence => break,
            Break::Clause => {
                // "you lazy, useless idiot" and "what are you, stupid?" cross a comma.
                let prev = &w[j - 1];
                let list = prev.lex.is_some_and(|f| f.personal());
                let bare_you = is_you(&prev.key) && at_clause_end && j == i;
                if !(list || (bare_you && after_comma.is_none())) {
                    break;
                }
                after_comma = Some(j);
            }
            Break::None => {}
        }
        j -= 1;
        let key = w[j].key.as_str();
        if is_you(key) {
            if nouns > 0 || negated {
                return Target::Undirected;
            }
            if determiner && !copula {
                let inverted = j > 0 && w[j].break_before == Break::None && is(&["are", "were", "is"], &w[j - 1].key);
                if !inverted {
                    return Target::Undirected;
                }
            }
            let from = match after_comma {
                Some(k) if is_you(&w[k - 1].key) && k - 1 == j => k,
                _ => j,
            };
            return Target::Reader { key: j, from, to: i };
        }
        if is(POSSESSIVE, key) {
            if negated {
                return Target::Undirected;
            }
            let next = &w[j + 1];
            let misspelt = nouns == 0 && is(YOURE_NEXT, &next.key);
            let bare = j + 1 == i && at_clause_end && !flags.insult_noun;
            if misspelt || bare {
                return Target::Reader { key: j, from: j, to: i };
            }
            return Target::Possession((j + 1 < i).then_some(j));
        }
        if is(NEGATORS, key) {
            if key == "not" && be_like && j > 0 && w[j - 1].key == "do" && w[j].break_before == Break::None {
                return Target::Reader { key: j - 1, from: j - 1, to: i };
            }
            negated = true;
            continue;
        }
        if (key == "stop" || key == "quit") && be_like {
            return Target::Reader { key: j, from: j, to: i };
        }
        if key == "like" {
            if j > 0 && is(LIKE_VERBS, &w[j - 1].key) {
                continue;
            }
            break;
        }
        if is(COPULAS, key) {
            copula = true;
            be_like |= is(BE_LIKE, key);
            continue;
        }
        if is(DETERMINERS, key) {
            determiner = true;
            continue;
        }
        if is(FILLERS, key) || w[j].lex.is_some() {
            continue;
        }
        // "your app is garbage": up to two plain words between "your" and a copula.
        if copula && nouns < 2 && key.chars().all(char::is_alphabetic) {
            nouns += 1;
            continue;
        }
        break;
    }

    // 3. Vocatives: a clause that is only the insult ("Idiot.", "Shut up, stupid bot"), but
    // not an exclamation ("Shit!", "Oh fuck").
    if is(MASS_NOUNS, &w[i].key) {
        return Target::Undirected;
    }
    if let Some((from, to, addressed)) = vocative(doc, i, flags) {
        if addressed || doc.sentences.len() <= 1 {
            return Target::Reader { key: from, from, to };
        }
        return Target::Possession(None);
    }
    Target::Undirected
}

/// `(from, to, addressed)` when word `i` stands alone in its clause, apart from greetings,
/// intensifiers, other listed words and one closing addressee noun.
fn vocative(doc: &Doc, i: usize, flags: LexFlags) -> Option<(usize, usize, bool)> {
    let w = &doc.words;
    let clause = doc.clause_of(i);
    if clause.len() > MAX_VOCATIVE_WORDS {
        return None;
    }
    let listed = |k: usize| w[k].lex.is_some_and(|f| f.personal() || f.profane()) && !w[k].name;
    let mut from = i;
    for k in (clause.start..i).rev() {
        if listed(k) || is(INTENSIFIERS, &w[k].key) {
            from = k;
        } else if !is(GREETINGS, &w[k].key) {
            return None;
        }
    }
    if (clause.start..from).any(|k| !is(GREETINGS, &w[k].key)) {
        return None;
    }
    let mut to = i;
    let mut addressed = flags.insult_noun;
    for (k, word) in w.iter().enumerate().take(clause.end).skip(i + 1) {
        if listed(k) {
            to = k;
            addressed |= word.lex.is_some_and(|f| f.insult_noun);
        } else if k + 1 == clause.end && is(ADDRESSEES, &word.key) {
            to = k;
            addressed = true;
        } else {
            return None;
        }
    }
    Some((from, to, addressed))
}

struct ReaderGroup {
    from: usize,
    to: usize,
    kind: IndicatorKind,
    weight: u32,
}

/// Insults, contempt and criticism words (aimed or not) and profanity words.
fn lexical(doc: &Doc, masked: &[bool], directed_profanity: &[bool], hits: &mut Vec<Hit>) {
    let w = &doc.words;
    let mut groups: BTreeMap<usize, ReaderGroup> = BTreeMap::new();
    for i in 0..w.len() {
        let Some(flags) = w[i].lex else { continue };
        if masked[i] || w[i].name {
            continue;
        }
        if flags.personal() {
            let base = if flags.insult() {
                INSULT
            } else if flags.contempt {
                CONTEMPT_WORD
            } else {
                CRITICISM_WORD
            };
            let noun_slot = i > 0
                && w[i].break_before == Break::None
                && is(NOUN_DETERMINERS, &w[i - 1].key)
                && !is(MASS_NOUNS, &w[i].key);
            let (kind, group, action) = if flags.insult() {
                let plural = doc.raws[w[i].raw].key != w[i].key && doc.raws[w[i].raw].key.ends_with('s');
                let action = if flags.insult_noun && noun_slot { Action::Person(plural) } else { Action::Delete };
                (IndicatorKind::Insult, Group::InsultWords, action)
            } else {
                (IndicatorKind::Contempt, Group::ContemptWords, Action::Keep)
            };
            let words = i..i + 1;
            let span = w[i].span;
            match target(doc, i, flags) {
                Target::Reader { key, from, to } => {
                    let kind = if flags.insult() { IndicatorKind::NameCalling } else { IndicatorKind::Contempt };
                    let weight = base * READER_MULTIPLIER;
                    match groups.get_mut(&key) {
                        Some(g) => {
                            g.from = g.from.min(from);
                            g.to = g.to.max(to);
                            g.weight = g.weight.max(weight);
                            if kind == IndicatorKind::NameCalling {
                                g.kind = kind;
                            }
                        }
                        None => {
                            groups.insert(key, ReaderGroup { from, to, kind, weight });
                        }
                    }
                    continue;
                }
                Target::Possession(said_of) => {
                    let weight = base * POSSESSION_MULTIPLIER;
                    let action = match (said_of, action) {
                        (Some(anchor), _) => Action::DropFrom(anchor),
                        (None, Action::Person(plural)) => Action::Person(plural),
                        (None, _) => Action::Delete,
                    };
                    hits.push(Hit { kind, span, words, weight, group, action });
                    continue;
                }
                Target::Undirected if !flags.profane() => {
                    hits.push(Hit { kind, span, words, weight: base, group, action });
                    continue;
                }
                Target::Undirected => {}
            }
        }
        if flags.profane() && !directed_profanity[i] {
            let weight = if flags.strong { PROFANITY_STRONG } else { PROFANITY_MILD };
            let noun_slot = i > 0
                && w[i].break_before == Break::None
                && is(NOUN_DETERMINERS, &w[i - 1].key)
                && !is(MASS_NOUNS, &w[i].key);
            let plural = doc.raws[w[i].raw].key != w[i].key && doc.raws[w[i].raw].key.ends_with('s');
            let action = match LEXICON.word_rewrite(&w[i].key) {
                Some(rewrite) => Action::Phrase(rewrite),
                None if flags.insult_noun && noun_slot => Action::Person(plural),
                None => Action::Delete,
            };
            hits.push(Hit {
                kind: IndicatorKind::Profanity,
                span: w[i].span,
                words: i..i + 1,
                weight,
                group: Group::ProfanityWords,
                action,
            });
        }
    }
    for g in groups.into_values() {
        let words = g.from..g.to + 1;
        hits.push(Hit {
            kind: g.kind,
            span: span_of(doc, words.clone()),
            words,
            weight: g.weight,
            group: Group::Uncapped,
            action: Action::Drop,
        });
    }
}

/// Letters of a raw token that count towards shouting: `(upper, lower)`, or `None` for
/// one-letter words, words with digits (flight numbers) and acronyms.
fn shout_letters(doc: &Doc, lex: &Lexicon, r: usize) -> Option<(usize, usize)> {
    let raw = &doc.raws[r];
    if raw.symbol {
        return None;
    }
    let text = &doc.chars[raw.start..raw.end];
    if text.iter().any(|c| c.is_numeric()) {
        return None;
    }
    let upper = text.iter().filter(|c| c.is_uppercase()).count();
    let lower = text.iter().filter(|c| c.is_lowercase()).count();
    let letters = upper + lower;
    if letters <= 1 {
        return None;
    }
    if lower == 0 && ((letters <= 3 && !lex.short_words.contains(&raw.key)) || lex.acronyms.contains(&raw.key)) {
        return None;
    }
    Some((upper, lower))
}

fn shouted(raws: impl Iterator<Item = (usize, usize, usize)>) -> Option<[usize; 2]> {
    let (mut upper, mut lower) = (0, 0);
    let mut span: Option<[usize; 2]> = None;
    for (r, u, l) in raws {
        upper += u;
        lower += l;
        if l == 0 {
            span = Some(match span {
                Some([s, _]) => [s, r],
                None => [r, r],
            });
        }
    }
    let letters = upper + lower;
    (letters >= SHOUT_MIN_LETTERS && upper * 100 >= SHOUT_PERCENT * letters).then_some(span).flatten()
}

/// Shouting, except in appreciative sentences ("THANK YOU SO MUCH").
fn shouting(doc: &Doc, lex: &Lexicon, positive: &[bool], hits: &mut Vec<Hit>) {
    let counted = |range: Range<usize>| {
        range.filter_map(move |r| shout_letters(doc, lex, r).map(|(u, l)| (r, u, l))).collect::<Vec<_>>()
    };
    let hit = |[first, last]: [usize; 2], sentence: Option<usize>| Hit {
        kind: IndicatorKind::Shouting,
        span: [doc.raws[first].start, doc.raws[last].end],
        words: 0..0,
        weight: SHOUTING,
        group: Group::Shouting,
        action: Action::Shout(sentence),
    };
    if !positive.iter().any(|&p| p)
        && let Some(raws) = shouted(counted(0..doc.raws.len()).into_iter())
    {
        hits.push(hit(raws, None));
        return;
    }
    for (k, s) in doc.sentences.iter().enumerate() {
        if positive[k] {
            continue;
        }
        if let Some(raws) = shouted(counted(s.raws.clone()).into_iter()) {
            hits.push(hit(raws, Some(k)));
        }
    }
}

pub(crate) fn is_bang(c: char) -> bool {
    matches!(c, '!' | '?' | '\u{203C}' | '\u{2049}' | '\u{FF01}' | '\u{FF1F}')
}

fn punctuation(doc: &Doc, hits: &mut Vec<Hit>) {
    let chars = &doc.chars;
    let mut i = 0;
    while i < chars.len() {
        if !is_bang(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut marks = 0;
        while i < chars.len() && is_bang(chars[i]) {
            marks += if matches!(chars[i], '\u{203C}' | '\u{2049}') { 2 } else { 1 };
            i += 1;
        }
        if marks >= PUNCTUATION_MIN_RUN {
            hits.push(Hit {
                kind: IndicatorKind::Punctuation,
                span: [start, i],
                words: 0..0,
                weight: PUNCTUATION,
                group: Group::Punctuation,
                action: Action::Keep,
            });
        }
    }
}
