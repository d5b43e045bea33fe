//! The neutral rewrite offered for Medium and High messages.
//!
//! Insults, profanity, name-calling, aimed contempt, dismissals and contempt phrases are
//! deleted; threats are removed with the rest of their sentence (a sentence that is only a
//! threat, or a conditional like "if you … I'll …", is dropped); blame phrases and absolutes
//! are replaced by the softer wording in their list ("you always" → "it often feels like
//! you", "it's your fault" → "Can we talk about what happened?"); shouted sentences are
//! sentence-cased; runs of `!`/`?` collapse to one. After deletions, function words left
//! dangling before a boundary ("This is ___.") and connectors left at the start ("___ and
//! send the money") go too, and a sentence left with fewer than three words is dropped.
//!
//! The result is analysed again: if it is not Low, or nothing is left, the rewrite is
//! [`FALLBACK`].

use super::detect::{Action, Hit, is_bang};
use super::lexicon::{LEXICON, Rewrite};
use super::score::score_only;
use super::text::{Break, Doc, Sentence};
use super::weights::MEDIUM_THRESHOLD;

/// The calm sentence used when an edited message would not analyse as Low.
pub const FALLBACK: &str = "I'm frustrated about this. Can we talk about it?";
/// What an accusation asked as a question becomes ("why do you always…?").
const TALK: &str = "Can we talk about what happened?";

#[rustfmt::skip]
const DANGLING: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "am", "be", "been", "being", "so", "such", "of", "and", "or", "but",
    "to", "like", "really", "just", "total", "complete", "absolute", "utter", "little", "big", "this", "that", "with",
    "for", "at", "in", "on", "your", "as", "too", "very", "what", "how", "from", "by", "about", "into", "onto", "than",
    "over", "my",
];
/// Words that cannot open a sentence left over after a deletion ("___ is whoever…").
const COPULAS: &[&str] = &["is", "are", "was", "were", "am"];
const CONNECTORS: &[&str] = &["and", "or", "but", "so", "then", "also", "plus", "because", "else"];
const SUBORDINATORS: &[&str] = &["if", "when", "unless", "once", "until", "because", "since", "whenever", "next"];
/// A sentence that lost words must keep at least this many.
const MIN_WORDS: usize = 3;
/// How many words a deletion may extend to reach the end of its clause.
const MAX_CLAUSE_REST: usize = 24;

struct Tok {
    gap: String,
    text: String,
    key: String,
    word: bool,
    /// Something was deleted between the previous kept token and this one.
    cut_before: bool,
}

pub(crate) fn rewrite(doc: &Doc, hits: &[Hit]) -> String {
    let text = build(doc, hits);
    if text.split_whitespace().count() < MIN_WORDS || score_only(&text) >= MEDIUM_THRESHOLD {
        return FALLBACK.to_owned();
    }
    text
}

struct Plan<'a> {
    deleted: Vec<bool>,
    /// Deleted because an earlier raw token carries the replacement for both.
    absorbed: Vec<bool>,
    replaced: Vec<Option<&'a str>>,
    shout: Vec<bool>,
    /// First word key of each raw token.
    keys: Vec<&'a str>,
}

fn build(doc: &Doc, hits: &[Hit]) -> String {
    let nr = doc.raws.len();
    let ns = doc.sentences.len();
    let mut keys = vec![""; nr];
    for w in doc.words.iter().rev() {
        keys[w.raw] = w.key.as_str();
    }
    let mut plan = Plan {
        deleted: vec![false; nr],
        absorbed: vec![false; nr],
        replaced: vec![None; nr],
        shout: vec![false; ns],
        keys,
    };
    let mut sentence_text: Vec<Option<&str>> = vec![None; ns];
    let mut cut: Vec<Option<usize>> = vec![None; ns];
    for h in hits {
        let raws = (!h.words.is_empty())
            .then(|| doc.words[h.words.start].raw..doc.words[h.words.end - 1].raw + 1)
            .filter(|r| r.end <= nr);
        let sentence = doc.words.get(h.words.start).map(|w| w.sentence).filter(|_| !h.words.is_empty());
        match (h.action, raws, sentence) {
            (Action::Delete | Action::Phrase(Rewrite::Delete), Some(r), _) => plan.deleted[r].fill(true),
            (Action::Drop, Some(r), _) => {
                // A hit that opens its clause (or follows "and"/"but") takes the clause with it.
                let start = h.words.start;
                let after_connector = start > 0
                    && doc.words[start].break_before == Break::None
                    && CONNECTORS.contains(&doc.words[start - 1].key.as_str());
                let opens = doc.words[start].break_before != Break::None || after_connector;
                let from = if after_connector { doc.words[start - 1].raw } else { r.start };
                let end = if opens { doc.words[clause_rest(doc, h.words.end) - 1].raw + 1 } else { r.end };
                plan.deleted[from..end.max(r.end)].fill(true);
            }
            (Action::DropFrom(anchor), Some(r), _) if anchor < h.words.start => {
                let end = doc.words[clause_rest(doc, h.words.end) - 1].raw + 1;
                plan.deleted[doc.words[anchor].raw..end.max(r.end)].fill(true);
            }
            (Action::Person(plural), Some(r), _) => {
                plan.replaced[r.start] = Some(if plural { "people" } else { "person" });
                plan.absorbed[r.start + 1..r.end].fill(true);
            }
            (Action::Phrase(Rewrite::Span(text)), Some(r), _) => {
                if text.is_empty() {
                    plan.deleted[r].fill(true);
                } else {
                    plan.replaced[r.start] = Some(text.as_str());
                    plan.absorbed[r.start + 1..r.end].fill(true);
                }
            }
            (Action::Phrase(Rewrite::Sentence(text)), _, Some(s)) => {
                sentence_text[s].get_or_insert(text.as_str());
            }
            (Action::Talk, _, Some(s)) => {
                sentence_text[s].get_or_insert(TALK);
            }
            (Action::Cut, Some(r), Some(s)) => cut[s] = Some(cut[s].map_or(r.start, |c| c.min(r.start))),
            (Action::Shout(None), _, _) => plan.shout.fill(true),
            (Action::Shout(Some(s)), _, _) if s < ns => plan.shout[s] = true,
            _ => {}
        }
    }
    // "what the fuck is" → "what is".
    for r in 1..nr {
        if plan.deleted[r]
            && matches!(plan.keys[r], "fuck" | "hell" | "heck" | "f")
            && plan.keys[r - 1] == "the"
            && doc.raws[r].break_before == Break::None
        {
            plan.deleted[r - 1] = true;
        }
    }

    let mut out = String::new();
    let mut last_sentence_text: Option<&str> = None;
    for (k, s) in doc.sentences.iter().enumerate() {
        if let Some(c) = cut[k] {
            let mut kept = (s.raws.start..c).filter(|&r| !plan.deleted[r] && !doc.raws[r].symbol);
            let first = kept.next();
            let count = first.map_or(0, |_| 1 + kept.count());
            let mut clause_start = c;
            while clause_start > s.raws.start && doc.raws[clause_start].break_before == Break::None {
                clause_start -= 1;
            }
            let conditional = SUBORDINATORS.contains(&plan.keys[clause_start])
                || first.is_some_and(|r| SUBORDINATORS.contains(&plan.keys[r]));
            if count < MIN_WORDS || conditional {
                continue;
            }
            plan.deleted[c..s.raws.end].fill(true);
        }
        let text = match sentence_text[k] {
            Some(t) if last_sentence_text == Some(t) => continue,
            Some(t) => {
                last_sentence_text = Some(t);
                if t.is_empty() {
                    continue;
                }
                t.to_owned()
            }
            None => match sentence(doc, s, &plan) {
                Some(t) => {
                    last_sentence_text = None;
                    t
                }
                None => continue,
            },
        };
        if !out.is_empty() {
            out.push(if newline_before(doc, s) { '\n' } else { ' ' });
        }
        out.push_str(&text);
    }
    out.trim().to_owned()
}

/// The end (exclusive) of the clause that word `end` continues, stopping before a connector;
/// `end` itself when that is more than `MAX_CLAUSE_REST` words away.
fn clause_rest(doc: &Doc, end: usize) -> usize {
    let w = &doc.words;
    let mut k = end;
    while k < w.len() && w[k].break_before == Break::None && !CONNECTORS.contains(&w[k].key.as_str()) {
        k += 1;
        if k - end > MAX_CLAUSE_REST {
            return end;
        }
    }
    k
}

/// True when the text just before this sentence's first token has a line break.
fn newline_before(doc: &Doc, s: &Sentence) -> bool {
    let start = doc.raws[s.raws.start].start;
    let from = if s.raws.start == 0 { 0 } else { doc.raws[s.raws.start - 1].end };
    doc.chars[from..start].contains(&'\n')
}

fn sentence(doc: &Doc, s: &Sentence, plan: &Plan) -> Option<String> {
    let mut toks: Vec<Tok> = Vec::new();
    let mut gap = String::new();
    let mut cut_pending = false;
    let mut edited = false;
    let mut pos = doc.raws[s.raws.start].start;
    for r in s.raws.clone() {
        let raw = &doc.raws[r];
        gap.extend(&doc.chars[pos..raw.start]);
        pos = raw.end;
        if plan.deleted[r] {
            cut_pending = true;
            edited = true;
            continue;
        }
        if plan.absorbed[r] {
            gap.clear();
            continue;
        }
        let text = match plan.replaced[r] {
            Some(t) => t.to_owned(),
            None if plan.shout[raw.sentence] => calm_case(doc, r),
            None => doc.chars[raw.start..raw.end].iter().collect(),
        };
        toks.push(Tok {
            gap: std::mem::take(&mut gap),
            text,
            key: plan.keys[r].to_owned(),
            word: !raw.symbol,
            cut_before: cut_pending,
        });
        cut_pending = false;
    }
    gap.extend(&doc.chars[pos..s.chars.end]);
    let mut tail = Tok { gap, text: String::new(), key: String::new(), word: false, cut_before: cut_pending };

    // Function words left dangling before a deletion that reached a boundary, right to left
    // so that one removal can expose the next ("are ___ ." → "___ .").
    let mut kept: Vec<Tok> = Vec::with_capacity(toks.len());
    for tok in toks.into_iter().rev() {
        let next = kept.last_mut().unwrap_or(&mut tail);
        let is_tail = next.text.is_empty() && !next.word;
        let at_boundary =
            next.cut_before && (is_tail || has_punctuation(&next.gap) || CONNECTORS.contains(&next.key.as_str()));
        if at_boundary && DANGLING.contains(&tok.key.as_str()) {
            next.gap.insert_str(0, &tok.gap);
            next.cut_before = true;
        } else {
            kept.push(tok);
        }
    }
    kept.reverse();
    // Connectors left at the start after a deletion.
    let leading = kept.iter().take_while(|t| t.cut_before && CONNECTORS.contains(&t.key.as_str())).count();
    let mut toks: Vec<Tok> = kept.split_off(leading);
    match toks.first_mut() {
        Some(first) if leading > 0 => first.cut_before = true,
        _ => {}
    }

    let words: usize = toks.iter().filter(|t| t.word).map(|t| t.text.split_whitespace().count()).sum();
    let headless = edited && toks.first().is_some_and(|t| COPULAS.contains(&t.key.as_str()));
    if words == 0 || (edited && words < MIN_WORDS) || headless {
        return None;
    }
    let mut out = String::new();
    for (i, t) in toks.iter().enumerate() {
        if i > 0 {
            out.push_str(&calm_gap(&t.gap, t.cut_before));
        }
        // "a ___ answer" → "an answer".
        let next_vowel = toks
            .get(i + 1)
            .filter(|n| n.cut_before)
            .and_then(|n| n.text.chars().next())
            .map(|c| matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u'));
        match (t.text.as_str(), next_vowel) {
            ("a", Some(true)) => out.push_str("an"),
            ("an", Some(false)) => out.push('a'),
            (text, _) => out.push_str(text),
        }
    }
    let end = calm_gap(&tail.gap, tail.cut_before);
    let end = end.trim_end();
    out.push_str(if end == "," { "." } else { end });
    Some(capitalize(out.trim_start()))
}

fn has_punctuation(gap: &str) -> bool {
    gap.chars().any(|c| matches!(c, ',' | '.' | ';' | ':') || is_bang(c))
}

/// A gap with runs of `!`/`?` collapsed to one mark; a gap that spans a deletion keeps only
/// its strongest punctuation and one space.
fn calm_gap(gap: &str, cut: bool) -> String {
    if cut {
        let terminal = if gap.contains('?') {
            "?"
        } else if gap.contains('!') {
            "!"
        } else if gap.contains('.') {
            "."
        } else if gap.contains(';') || gap.contains(':') || gap.contains(',') {
            ","
        } else {
            ""
        };
        let space = if gap.chars().any(char::is_whitespace) { " " } else { "" };
        return format!("{terminal}{space}");
    }
    let mut out = String::with_capacity(gap.len());
    let mut run = String::new();
    for c in gap.chars().chain(std::iter::once('\0')) {
        if is_bang(c) {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            out.push(if run.contains('?') || run.contains('\u{FF1F}') || run.contains('\u{2049}') { '?' } else { '!' });
            run.clear();
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// A shouted token in ordinary case: acronyms and codes stay, "I" stays capital.
fn calm_case(doc: &Doc, r: usize) -> String {
    let raw = &doc.raws[r];
    let text: String = doc.chars[raw.start..raw.end].iter().collect();
    let lex = &*LEXICON;
    let has_digit = text.chars().any(char::is_numeric);
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let acronym =
        (letters <= 3 && letters > 1 && !lex.short_words.contains(&raw.key)) || lex.acronyms.contains(&raw.key);
    if has_digit || acronym {
        return text;
    }
    let lower = text.to_lowercase();
    if raw.key == "i" || raw.key.starts_with("i'") {
        return capitalize(&lower);
    }
    lower
}

fn capitalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut done = false;
    for c in s.chars() {
        if !done && c.is_alphabetic() {
            out.extend(c.to_uppercase());
            done = true;
        } else {
            if !done && c.is_alphanumeric() {
                done = true;
            }
            out.push(c);
        }
    }
    out
}
