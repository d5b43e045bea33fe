//! Character-level folding and word expansion: the lowest layer of the analyzer.
//!
//! Knows no word list and no detector, so everything above (the lexicon, the tokeniser)
//! can use it without a cycle: `fold` ← `lexicon` ← `text` ← `detect` ← `score` ← `rewrite`.

pub(crate) fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' | '\u{00B4}')
}

/// Characters that never split a word and never count: zero-width characters, the soft
/// hyphen, variation selectors and combining marks (so "s̷t̷u̷p̷i̷d̷" is one word).
pub(crate) fn is_joiner(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

fn fold_fullwidth(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn fold_diacritic(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ł' | 'ľ' | 'ĺ' | 'ļ' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' => 's',
        'ţ' | 'ť' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        _ => c,
    }
}

/// Cyrillic and Greek letters that look like Latin ones, used to disguise words ("іdіot").
fn fold_homoglyph(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'ӏ' => 'l',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' => 'u',
        'ν' => 'v',
        'х' | 'χ' => 'x',
        'у' => 'y',
        _ => c,
    }
}

fn fold_leet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        _ => c,
    }
}

/// The normalised key of a token (see the module doc).
pub(crate) fn normalize(chars: &[char]) -> String {
    let latin = chars.iter().any(|&c| fold_fullwidth(c).is_ascii_alphabetic());
    let lettered = chars.iter().any(|c| c.is_alphabetic());
    let mut out = String::with_capacity(chars.len());
    for &c in chars {
        if is_joiner(c) {
            continue;
        }
        let c = fold_fullwidth(c);
        let c = if is_apostrophe(c) { '\'' } else { c };
        for lc in c.to_lowercase() {
            if is_joiner(lc) {
                continue;
            }
            let mut lc = fold_diacritic(lc);
            if latin {
                lc = fold_homoglyph(lc);
            }
            if lettered {
                lc = fold_leet(lc);
            }
            out.push(lc);
        }
    }
    out
}

/// Subject pronouns whose `'s` means "is" rather than a possessive.
#[rustfmt::skip]
const IS_CONTRACTIONS: &[&str] = &[
    "it", "that", "he", "she", "there", "what", "who", "here", "where", "how", "this", "everything", "nothing",
    "everyone", "nobody", "someone", "something",
];

/// Contractions without apostrophes and chat slang.
const SLANG: &[(&str, &[&str])] = &[
    ("u", &["you"]),
    ("ya", &["you"]),
    ("yu", &["you"]),
    ("ur", &["your"]),
    ("yr", &["your"]),
    ("r", &["are"]),
    ("youre", &["you", "are"]),
    ("yall", &["you", "all"]),
    ("youll", &["you", "will"]),
    ("youve", &["you", "have"]),
    ("youd", &["you", "would"]),
    ("im", &["i", "am"]),
    ("ive", &["i", "have"]),
    ("dont", &["do", "not"]),
    ("doesnt", &["does", "not"]),
    ("didnt", &["did", "not"]),
    ("isnt", &["is", "not"]),
    ("arent", &["are", "not"]),
    ("wasnt", &["was", "not"]),
    ("werent", &["were", "not"]),
    ("cant", &["can", "not"]),
    ("cannot", &["can", "not"]),
    ("wont", &["will", "not"]),
    ("wouldnt", &["would", "not"]),
    ("shouldnt", &["should", "not"]),
    ("couldnt", &["could", "not"]),
    ("havent", &["have", "not"]),
    ("hasnt", &["has", "not"]),
    ("hadnt", &["had", "not"]),
    ("aint", &["is", "not"]),
    ("thats", &["that", "is"]),
    ("whats", &["what", "is"]),
    ("theyre", &["they", "are"]),
    ("gonna", &["going", "to"]),
    ("gotta", &["got", "to"]),
    ("wanna", &["want", "to"]),
    ("cuz", &["because"]),
    ("coz", &["because"]),
    ("cos", &["because"]),
    ("bc", &["because"]),
    ("ppl", &["people"]),
    ("pls", &["please"]),
    ("plz", &["please"]),
    ("thx", &["thanks"]),
    ("idk", &["i", "do", "not", "know"]),
];

/// Expands contractions and slang in a normalised key.
pub(crate) fn expand(key: &str) -> Vec<String> {
    if let Some((_, parts)) = SLANG.iter().find(|(k, _)| *k == key) {
        return parts.iter().map(|p| (*p).to_owned()).collect();
    }
    if !key.contains('\'') {
        return vec![key.to_owned()];
    }
    if key == "y'all" {
        return vec!["you".to_owned(), "all".to_owned()];
    }
    if let Some(base) = key.strip_suffix("n't") {
        let base = match base {
            "wo" => "will",
            "ca" => "can",
            "sha" => "shall",
            "ai" => "is",
            other => other,
        };
        return two(base, "not");
    }
    for (suffix, word) in [("'re", "are"), ("'ll", "will"), ("'ve", "have"), ("'d", "would"), ("'m", "am")] {
        if let Some(base) = key.strip_suffix(suffix)
            && !base.is_empty()
        {
            return two(base, word);
        }
    }
    if let Some(base) = key.strip_suffix("'s") {
        if base == "let" {
            return two("let", "us");
        }
        if IS_CONTRACTIONS.contains(&base) {
            return two(base, "is");
        }
        return vec![base.replace('\'', "")];
    }
    vec![key.replace('\'', "")]
}

fn two(a: &str, b: &str) -> Vec<String> {
    let a = a.replace('\'', "");
    if a.is_empty() { vec![b.to_owned()] } else { vec![a, b.to_owned()] }
}
