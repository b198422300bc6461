//! Detection: finds prompt injection, jailbreaks, PII, secrets, exfiltration, unsafe output,
//! system prompt leaks, invisible text and risky tool calls in captured text.
//!
//! Shape (see `shared/STYLE.md`): detectors are synchronous and pure
//! ([`Detector::inspect`]); the engine owns the single pass over the text (one keyword
//! prefilter for every rule, then only the rules whose keywords hit). Rules are data: built-in
//! packs under `rules/` are compiled into the binary, users add TOML files of the same schema
//! ([`rules::RuleFile`]).

pub mod confusables;
pub mod engine;
pub mod entropy;
pub mod exfil;
pub mod extract;
pub mod hit;
pub mod invisible;
mod keywords;
pub mod leak;
pub mod normalize;
pub mod packs;
mod required;
pub mod rules;
pub mod test_rules;
pub mod token_checks;
pub mod validators;

pub use engine::{Engine, RuleInfo};
pub use hit::{Detector, Hit, Input, Role};
