//! Evaluates `shared::tone::analyze` on the labelled set in `tests/data/tone/eval.jsonl`.
//!
//! `cargo test -p shared --test tone_eval -- --nocapture` prints the confusion matrix.

use shared::tone::{ConflictLevel, analyze};

const EVAL: &str = include_str!("../../tests/data/tone/eval.jsonl");
const MIN_PRECISION: f64 = 0.90;
const MIN_RECALL: f64 = 0.90;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    text: String,
    expected: ConflictLevel,
    context: String,
    #[serde(default)]
    note: Option<String>,
}

fn examples() -> Vec<Example> {
    EVAL.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("eval.jsonl line {}: {e}", i + 1)))
        .collect()
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
    precision: f64,
    recall: f64,
    misclassified: Vec<String>,
}

fn evaluate(examples: &[Example]) -> Report {
    let mut matrix = [[0usize; 3]; 3];
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut misclassified = Vec::new();
    for ex in examples {
        let a = analyze(&ex.text);
        matrix[index(ex.expected)][index(a.conflict_level)] += 1;
        let hostile = ex.expected == ConflictLevel::High;
        match (hostile, a.is_hostile) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => {}
        }
        if a.conflict_level != ex.expected {
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
    let ratio = |num: usize, den: usize| if den == 0 { 1.0 } else { num as f64 / den as f64 };
    Report { matrix, precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn_), misclassified }
}

fn render(report: &Report, total: usize) -> String {
    let mut out = String::new();
    out.push_str(&format!("tone eval: {total} messages (rows = expected, columns = predicted)\n"));
    out.push_str("            low  medium    high\n");
    for (i, row) in report.matrix.iter().enumerate() {
        out.push_str(&format!("{:<8}{:>7} {:>7} {:>7}\n", name(LEVELS[i]), row[0], row[1], row[2]));
    }
    let correct: usize = (0..3).map(|i| report.matrix[i][i]).sum();
    out.push_str(&format!(
        "accuracy {:.3}; hostile (= high) precision {:.3}, recall {:.3}\n",
        correct as f64 / total.max(1) as f64,
        report.precision,
        report.recall
    ));
    out
}

#[test]
fn hostile_precision_and_recall_are_at_least_90_percent() {
    let examples = examples();
    let report = evaluate(&examples);
    let summary = render(&report, examples.len());
    println!("{summary}");
    println!("misclassified ({}):\n{}", report.misclassified.len(), report.misclassified.join("\n"));
    assert!(
        report.precision >= MIN_PRECISION && report.recall >= MIN_RECALL,
        "hostile precision {:.3} / recall {:.3} below {MIN_PRECISION}/{MIN_RECALL}\n{summary}\nmisclassified:\n{}",
        report.precision,
        report.recall,
        report.misclassified.join("\n")
    );
}

#[test]
fn the_set_has_the_promised_shape() {
    let examples = examples();
    let count = |level| examples.iter().filter(|e| e.expected == level).count();
    assert!(examples.len() >= 300, "{} messages", examples.len());
    assert!(count(ConflictLevel::Low) >= 120, "low {}", count(ConflictLevel::Low));
    assert!(count(ConflictLevel::Medium) >= 60, "medium {}", count(ConflictLevel::Medium));
    assert!(count(ConflictLevel::High) >= 100, "high {}", count(ConflictLevel::High));
    for context in ["co-parenting", "customer-support", "chat-assistant"] {
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
fn every_rewrite_of_a_hostile_message_analyses_as_low() {
    let mut failures = Vec::new();
    for ex in examples().iter().filter(|e| e.expected == ConflictLevel::High) {
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
    for ex in examples() {
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
