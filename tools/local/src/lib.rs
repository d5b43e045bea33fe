//! Parley's local stack, in one process: the API Gateway emulator that serves every route
//! in `infra/template.yaml` by calling the functions' handlers in-process, plus the
//! provisioning, migration and dev-token commands the `make up` / `make test` scripts use.

pub mod cors;
pub mod event;
pub mod provision;
pub mod registry;
pub mod router;
pub mod server;
pub mod template;

use std::path::PathBuf;

/// The repository root (this crate lives in `tools/local`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `infra/template.yaml`, or `PARLEY_TEMPLATE` when set.
pub fn template_path() -> PathBuf {
    std::env::var_os("PARLEY_TEMPLATE").map(PathBuf::from).unwrap_or_else(|| repo_root().join("infra/template.yaml"))
}
