//! Named validators that rules apply to a match (`validator = "luhn"`): checksums and
//! structure checks that turn a pattern match into a real finding.
//!
//! Contract: [`check`] returns `None` for a validator name it does not know (a rule naming one
//! is rejected when rules are compiled), else whether the candidate passes. Validators are
//! pure and never allocate more than the candidate's length.

/// Names of every validator, for rule checking and documentation.
pub const NAMES: &[&str] = &["luhn"];

/// Runs validator `name` on `candidate`.
#[must_use]
pub fn check(name: &str, candidate: &str) -> Option<bool> {
    match name {
        "luhn" => Some(luhn(candidate)),
        _ => None,
    }
}

/// Luhn checksum over the digits of `candidate` (other characters ignored); needs 2+ digits.
#[must_use]
pub fn luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}
