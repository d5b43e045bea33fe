//! Splitting text into the words and marks the flight and date grammars read.

/// A word (a run of ASCII letters and digits) or a single punctuation mark, with its byte span so we can
/// tell `"24/12"` (touching) from `"24 / 12"`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tok<'a> {
    pub(super) text: &'a str,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Tok<'_> {
    pub(super) fn is_word(&self) -> bool {
        self.text.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// The text if this token is a word.
    pub(super) fn word(&self) -> Option<&str> {
        self.is_word().then_some(self.text)
    }

    /// Case-insensitive comparison with a word or mark.
    pub(super) fn is(&self, s: &str) -> bool {
        self.text.eq_ignore_ascii_case(s)
    }

    /// The value if this token is 1 to `max_len` digits.
    pub(super) fn digits(&self, max_len: usize) -> Option<u32> {
        let ok = (1..=max_len).contains(&self.text.len()) && self.text.bytes().all(|b| b.is_ascii_digit());
        if ok { self.text.parse().ok() } else { None }
    }
}

/// Splits text into words and punctuation marks; whitespace separates and is dropped. `"->"` and `"=>"`
/// become one arrow token.
pub(super) fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let mut end = start + c.len_utf8();
        if c.is_ascii_alphanumeric() {
            while let Some(&(i, next)) = chars.peek() {
                if !next.is_ascii_alphanumeric() {
                    break;
                }
                end = i + next.len_utf8();
                chars.next();
            }
        } else if c.is_whitespace() {
            continue;
        } else if (c == '-' || c == '=') && chars.peek().is_some_and(|&(_, next)| next == '>') {
            chars.next();
            end += 1;
        }
        toks.push(Tok { text: &text[start..end], start, end });
    }
    toks
}

/// Whether `toks[i]` starts right where `toks[i - 1]` ends (no whitespace between).
pub(super) fn touches_previous(toks: &[Tok], i: usize) -> bool {
    i > 0 && i < toks.len() && toks[i - 1].end == toks[i].start
}
