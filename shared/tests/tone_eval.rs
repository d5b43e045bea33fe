//! Evaluates `shared::tone::analyze` on two labelled sets:
//! - `tests/data/tone/eval.jsonl`, written with the analyzer (in-sample: the detectors and
//!   word lists were developed against it);
//! - `tests/data/tone/heldout.jsonl`, written after it and never used to change it.
//!
//! docs/tone.md states both confusion matrices and their figures in generated blocks: the
//! test fails when the analyzer moves any figure until the document says the new one.
//! `PARLEY_REGENERATE_DOCS=1 cargo test -p shared --test tone_eval` rewrites them (review
//! the diff); `cargo test -p shared --test tone_eval -- --nocapture` prints the misses.

mod support;

use shared::tone::{ConflictLevel, analyze};

const EVAL: &str = include_str!("../../tests/data/tone/eval.jsonl");
const HELD_OUT: &str = include_str!("../../tests/data/tone/heldout.jsonl");
const CONTEXTS: [&str; 3] = ["co-parenting", "customer-support", "chat-assistant"];

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    text: String,
    expected: ConflictLevel,
    context: String,
    #[serde(default)]
    note: Option<String>,
}

fn parse_set(name: &str, text: &str) -> Vec<Example> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1)))
        .collect()
}

fn examples() -> Vec<Example> {
    parse_set("eval.jsonl", EVAL)
}

fn held_out() -> Vec<Example> {
    parse_set("heldout.jsonl", HELD_OUT)
}

const LEVELS: [ConflictLevel; 3] = [ConflictLevel::Low, ConflictLevel::Medium, ConflictLevel::High];

fn index(level: ConflictLevel) -> usize {
    LEVELS.iter().position(|&l| l == level).unwrap_or(0)
}

fn name(level: ConflictLevel) -> &'static str {
    match level {
        ConflictLevel::Low => "low",
        ConflictLevel::Medium => "medium",
        ConflictLevel::High => "high",
    }
}

struct Report {
    matrix: [[usize; 3]; 3],
    /// For the test's output: each miss with its score and indicators.
    misclassified: Vec<String>,
    /// For the document: each miss as `expected → predicted: text`.
    misses: Vec<String>,
}

fn evaluate(examples: &[Example]) -> Report {
    let mut matrix = [[0usize; 3]; 3];
    let mut misclassified = Vec::new();
    let mut misses = Vec::new();
    for ex in examples {
        let a = analyze(&ex.text);
        matrix[index(ex.expected)][index(a.conflict_level)] += 1;
        if a.conflict_level != ex.expected {
            misses.push(format!("{} → {}: {:?}", name(ex.expected), name(a.conflict_level), ex.text));
            let kinds: Vec<String> = a.indicators.iter().map(|i| format!("{:?}({:?})", i.kind, i.text)).collect();
            misclassified.push(format!(
                "  expected {:<6} got {:<6} score {:>2} [{}] {:?}{} — {}",
                name(ex.expected),
                name(a.conflict_level),
                a.score,
                ex.context,
                ex.text,
                ex.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
                if kinds.is_empty() { "no indicators".to_owned() } else { kinds.join(", ") },
            ));
        }
    }
    Report { matrix, misclassified, misses }
}

/// The block docs/tone.md shows for a set: its shape, the confusion matrix, accuracy, and
/// precision and recall per class.
fn render(file: &str, examples: &[Example], report: &Report) -> String {
    let total = examples.len();
    let count = |level| examples.iter().filter(|e| e.expected == level).count();
    let contexts: Vec<String> =
        CONTEXTS.iter().map(|c| format!("{} {c}", examples.iter().filter(|e| e.context == *c).count())).collect();
    let obfuscated = examples.iter().filter(|e| e.note.as_deref().is_some_and(|n| n.contains("obfuscation"))).count();
    let m = &report.matrix;
    let ratio = |num: usize, den: usize| if den == 0 { 1.0 } else { num as f64 / den as f64 };
    let correct: usize = (0..3).map(|i| m[i][i]).sum();
    let mut out = String::from("\n```\n");
    out.push_str(&format!(
        "{file}: {total} messages ({} low, {} medium, {} high; {}; {obfuscated} obfuscated)\n",
        count(ConflictLevel::Low),
        count(ConflictLevel::Medium),
        count(ConflictLevel::High),
        contexts.join(", ")
    ));
    out.push_str("rows = expected, columns = predicted\n");
    out.push_str("            low  medium    high\n");
    for (i, row) in m.iter().enumerate() {
        out.push_str(&format!("{:<8}{:>7} {:>7} {:>7}\n", name(LEVELS[i]), row[0], row[1], row[2]));
    }
    out.push_str(&format!(
        "accuracy {:.3} ({correct} of {total}); misclassified {}\n",
        ratio(correct, total),
        total - correct
    ));
    for (i, level) in LEVELS.iter().enumerate() {
        let predicted: usize = (0..3).map(|r| m[r][i]).sum();
        let labelled: usize = m[i].iter().sum();
        out.push_str(&format!(
            "{:<8} precision {:.3} ({} of {predicted})  recall {:.3} ({} of {labelled}){}\n",
            name(*level),
            ratio(m[i][i], predicted),
            m[i][i],
            ratio(m[i][i], labelled),
            m[i][i],
            if *level == ConflictLevel::High { "  (hostile)" } else { "" }
        ));
    }
    out.push_str("```\n");
    out
}

#[test]
fn docs_tone_md_states_the_in_sample_figures() {
    let examples = examples();
    let report = evaluate(&examples);
    println!("in-sample misclassified ({}):\n{}", report.misclassified.len(), report.misclassified.join("\n"));
    support::check_generated("docs/tone.md", "tone-eval-in-sample", &render("eval.jsonl", &examples, &report));
}

#[test]
fn docs_tone_md_states_the_held_out_figures() {
    let examples = held_out();
    let report = evaluate(&examples);
    println!("held-out misclassified ({}):\n{}", report.misclassified.len(), report.misclassified.join("\n"));
    let mut block = render("heldout.jsonl", &examples, &report);
    block.push_str(&format!("\nThe {} held-out messages it gets wrong (label → analyzer):\n\n", report.misses.len()));
    for miss in &report.misses {
        block.push_str(&format!("- {miss}\n"));
    }
    support::check_generated("docs/tone.md", "tone-eval-held-out", &block);
}

#[test]
fn the_set_has_the_promised_shape() {
    let examples = examples();
    let count = |level| examples.iter().filter(|e| e.expected == level).count();
    assert!(examples.len() >= 300, "{} messages", examples.len());
    assert!(count(ConflictLevel::Low) >= 120, "low {}", count(ConflictLevel::Low));
    assert!(count(ConflictLevel::Medium) >= 60, "medium {}", count(ConflictLevel::Medium));
    assert!(count(ConflictLevel::High) >= 100, "high {}", count(ConflictLevel::High));
    for context in CONTEXTS {
        let n = examples.iter().filter(|e| e.context == context).count();
        assert!(n >= 80, "{context}: {n}");
    }
    let obfuscated = examples.iter().filter(|e| e.note.as_deref().is_some_and(|n| n.contains("obfuscation"))).count();
    assert!(obfuscated >= 30, "{obfuscated} obfuscated messages");
    let mut texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), examples.len(), "duplicate texts");
}

#[test]
fn the_held_out_set_is_large_varied_and_shares_no_text_with_the_in_sample_set() {
    let held_out = held_out();
    let count = |level| held_out.iter().filter(|e| e.expected == level).count();
    assert!(held_out.len() >= 100, "{} messages", held_out.len());
    for level in LEVELS {
        assert!(count(level) >= 30, "{}: {}", name(level), count(level));
    }
    for context in CONTEXTS {
        assert!(held_out.iter().filter(|e| e.context == context).count() >= 30, "{context}");
    }
    let traps = held_out.iter().filter(|e| e.note.as_deref().is_some_and(|n| n.starts_with("trap"))).count();
    assert!(traps >= 15, "{traps} tricky benign messages");
    let in_sample: std::collections::BTreeSet<String> = examples().into_iter().map(|e| e.text.to_lowercase()).collect();
    let mut seen = std::collections::BTreeSet::new();
    for ex in &held_out {
        assert!(!in_sample.contains(&ex.text.to_lowercase()), "in both sets: {:?}", ex.text);
        assert!(seen.insert(ex.text.to_lowercase()), "twice: {:?}", ex.text);
    }
}

#[test]
fn every_rewrite_of_a_hostile_message_analyses_as_low() {
    let mut failures = Vec::new();
    for ex in examples().iter().chain(&held_out()).filter(|e| e.expected == ConflictLevel::High) {
        let a = analyze(&ex.text);
        let Some(rewrite) = &a.neutral_rewrite else {
            assert_eq!(a.conflict_level, ConflictLevel::Low, "{:?}", ex.text);
            continue;
        };
        let again = analyze(rewrite);
        if again.conflict_level != ConflictLevel::Low {
            failures.push(format!("{:?} → {rewrite:?} ({:?}, {:?})", ex.text, again.conflict_level, again.indicators));
        }
    }
    assert!(failures.is_empty(), "rewrites that are not low:\n{}", failures.join("\n"));
}

#[test]
fn rewrites_exist_exactly_for_medium_and_high() {
    for ex in examples().iter().chain(&held_out()) {
        let a = analyze(&ex.text);
        assert_eq!(a.neutral_rewrite.is_some(), a.conflict_level != ConflictLevel::Low, "{:?}", ex.text);
        assert_eq!(a.is_hostile, a.conflict_level == ConflictLevel::High, "{:?}", ex.text);
        let len = ex.text.chars().count();
        for i in &a.indicators {
            assert!(i.span[0] < i.span[1] && i.span[1] <= len, "{:?}: {i:?}", ex.text);
            let text: String = ex.text.chars().skip(i.span[0]).take(i.span[1] - i.span[0]).collect();
            assert_eq!(text, i.text, "{:?}", ex.text);
        }
    }
}

/// Prints the analysis of each line of `$TONE_TEXT` (or of the file `$TONE_FILE`) and checks
/// the invariants on it:
/// `TONE_TEXT='one message per line' cargo test -p shared --test tone_eval explain -- --ignored --nocapture`
#[test]
#[ignore]
fn explain() {
    let text = match std::env::var("TONE_FILE") {
        Ok(path) => std::fs::read_to_string(path).unwrap_or_default(),
        Err(_) => std::env::var("TONE_TEXT").unwrap_or_default(),
    };
    for line in text.lines() {
        let started = std::time::Instant::now();
        let a = analyze(line);
        let elapsed = started.elapsed();
        assert_eq!(a.neutral_rewrite.is_some(), a.conflict_level != ConflictLevel::Low, "{line:?}");
        if let Some(rewrite) = &a.neutral_rewrite {
            assert_eq!(analyze(rewrite).conflict_level, ConflictLevel::Low, "{line:?} → {rewrite:?}");
        }
        let chars: Vec<char> = line.chars().collect();
        for i in &a.indicators {
            assert_eq!(chars[i.span[0]..i.span[1]].iter().collect::<String>(), i.text, "{line:?}");
        }
        println!(
            "{line}\n  => {:?} score {} rewrite {:?} ({} µs)",
            a.conflict_level,
            a.score,
            a.neutral_rewrite,
            elapsed.as_micros()
        );
        for i in &a.indicators {
            println!("     {:?} {:?} {:?}", i.kind, i.span, i.text);
        }
    }
}
