//! The built-in rule packs, compiled into the binary: one explicit list, so a reader can see
//! what ships (and a unit test checks that every file under `rules/` is on it).
//!
//! Each entry is the name used in errors and in [`crate::engine::RuleInfo::source`]
//! (`builtin/<file>`) and the file's text.

/// Every built-in pack: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "builtin/injection.toml",
        include_str!("../rules/injection.toml"),
    ),
    (
        "builtin/jailbreak.toml",
        include_str!("../rules/jailbreak.toml"),
    ),
    ("builtin/pii.toml", include_str!("../rules/pii.toml")),
    (
        "builtin/secrets.toml",
        include_str!("../rules/secrets.toml"),
    ),
    (
        "builtin/tool_risk.toml",
        include_str!("../rules/tool_risk.toml"),
    ),
    (
        "builtin/unsafe_output.toml",
        include_str!("../rules/unsafe_output.toml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(
        clippy::unwrap_used,
        reason = "test: a missing rules directory is a failure"
    )]
    #[test]
    fn every_file_under_rules_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml")
                && !BUILTIN.iter().any(|(n, _)| *n == format!("builtin/{name}"))
            {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "rule packs not listed in packs::BUILTIN: {missing:?}"
        );
    }
}
