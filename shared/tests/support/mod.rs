//! Numbers in the docs come from the tests that measure them, never copied by hand. A
//! generated part of a document sits between `<!-- generated: NAME -->` and
//! `<!-- /generated: NAME -->`; [`check_generated`] fails unless it holds exactly what was
//! measured, and with `PARLEY_REGENERATE_DOCS=1` rewrites it instead:
//!
//! ```sh
//! PARLEY_REGENERATE_DOCS=1 cargo test -p shared --test tone_eval --test flights_heldout
//! ```

use std::path::PathBuf;

pub fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// Checks (or, with `PARLEY_REGENERATE_DOCS=1`, rewrites) the generated part `name` of the
/// document at `relative` (from the repository root).
pub fn check_generated(relative: &str, name: &str, measured: &str) {
    let path = repo_file(relative);
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    let (open, close) = (format!("<!-- generated: {name} -->"), format!("<!-- /generated: {name} -->"));
    let start = doc.find(&open).unwrap_or_else(|| panic!("{relative} has no {open}")) + open.len();
    let end = start + doc[start..].find(&close).unwrap_or_else(|| panic!("{relative} has no {close}"));
    if doc[start..end] == *measured {
        return;
    }
    if std::env::var("PARLEY_REGENERATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(&path, format!("{}{measured}{}", &doc[..start], &doc[end..])).unwrap();
        eprintln!("regenerated {relative} ({name})");
        return;
    }
    panic!(
        "{relative} ({name}) does not state what was measured; regenerate it with \
         `PARLEY_REGENERATE_DOCS=1 cargo test -p shared --test tone_eval --test flights_heldout` \
         and review the change.\n--- the document says ---\n{}\n--- measured ---\n{measured}",
        &doc[start..end]
    );
}
