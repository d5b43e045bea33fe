//! Throughput of the local tone analyzer: `cargo bench -p shared --bench tone`.
//!
//! Analyses every message of the evaluation set (`tests/data/tone/eval.jsonl`) over and over
//! on one thread for about two seconds and prints messages per second and the mean time per
//! message, for the whole set and for the Medium/High messages alone (those also build and
//! re-check a neutral rewrite).

use std::hint::black_box;
use std::time::{Duration, Instant};

use shared::tone::{ConflictLevel, analyze};

const EVAL: &str = include_str!("../../tests/data/tone/eval.jsonl");
const BUDGET: Duration = Duration::from_secs(2);

fn texts() -> Vec<String> {
    EVAL.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect()
}

/// Runs `texts` in rounds until `BUDGET` has passed; returns (messages, seconds).
fn run(texts: &[String]) -> (u64, f64) {
    let start = Instant::now();
    let mut messages = 0u64;
    while start.elapsed() < BUDGET {
        for text in texts {
            black_box(analyze(black_box(text)));
        }
        messages += texts.len() as u64;
    }
    (messages, start.elapsed().as_secs_f64())
}

fn report(label: &str, texts: &[String]) {
    let (messages, secs) = run(texts);
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    println!(
        "{label:<28} {:>5} msgs (mean {:>3} chars): {:>9.0} messages/s, {:>7.2} µs/message ({messages} analysed in {secs:.2} s)",
        texts.len(),
        chars / texts.len().max(1),
        messages as f64 / secs,
        secs * 1e6 / messages as f64,
    );
}

fn main() {
    let all = texts();
    assert!(!all.is_empty(), "no evaluation messages");
    // Warm-up: parses the word lists (once per process) and fills caches.
    let rewritten: Vec<String> =
        all.iter().filter(|t| analyze(t).conflict_level != ConflictLevel::Low).cloned().collect();
    println!("tone benchmark: one thread, {BUDGET:?} per run");
    report("all eval messages", &all);
    report("medium/high (with rewrite)", &rewritten);
}
