//! Named validators that rules apply to a match (`validator = "luhn"`): checksums and
//! structure checks that turn a pattern match into a real finding.
//!
//! Contract: [`check`] returns `None` for a validator name it does not know (a rule naming one
//! is rejected when rules are compiled), else whether the candidate passes. A validator sees
//! only the matched text (the rule's `group`), never what surrounds it: the rule's pattern and
//! context decide where a value may stand, the validator decides whether it is one. So patterns
//! can stay loose and cheap (`[0-9](?:[ -]?[0-9]){12,18}`), and the validator rejects what the
//! pattern let through: mixed separators, impossible groupings, failed checksums, unassigned
//! ranges.
//!
//! Validators are pure functions of the candidate (the one exception: [`date`] compares with
//! the current year, read from the clock once per process), never panic, and allocate at most
//! a copy of the candidate.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

/// Names of every validator, for rule checking and documentation.
pub const NAMES: &[&str] = &[
    "luhn",
    "payment_card",
    "card_in_context",
    "us_ssn",
    "us_itin",
    "iban",
    "email",
    "phone",
    "phone_e164",
    "phone_nanp",
    "phone_nanp_in_context",
    "phone_uk",
    "phone_de",
    "phone_fr",
    "phone_in",
    "phone_au",
    "phone_br",
    "phone_jp",
    "ipv4",
    "ipv6",
    "public_ip",
    "date",
    "icd10",
    "uk_nino",
    "uk_nhs",
    "ca_sin",
    "de_tax_id",
    "aba_routing",
    "swift_bic",
    "passport",
];

/// Runs validator `name` on `candidate`.
///
/// ```
/// use llmtrail_detect::validators::check;
///
/// assert_eq!(check("payment_card", "4111 1111 1111 1111"), Some(true));
/// assert_eq!(check("us_ssn", "666-12-3456"), Some(false));
/// assert_eq!(check("no_such_validator", "x"), None);
/// ```
#[must_use]
pub fn check(name: &str, candidate: &str) -> Option<bool> {
    let f: fn(&str) -> bool = match name {
        "luhn" => luhn,
        "payment_card" => payment_card,
        "card_in_context" => card_in_context,
        "us_ssn" => us_ssn,
        "us_itin" => us_itin,
        "iban" => iban,
        "email" => email,
        "phone" => phone,
        "phone_e164" => phone_e164,
        "phone_nanp" => phone_nanp,
        "phone_nanp_in_context" => phone_nanp_in_context,
        "phone_uk" => phone_uk,
        "phone_de" => phone_de,
        "phone_fr" => phone_fr,
        "phone_in" => phone_in,
        "phone_au" => phone_au,
        "phone_br" => phone_br,
        "phone_jp" => phone_jp,
        "ipv4" => ipv4,
        "ipv6" => ipv6,
        "public_ip" => public_ip,
        "date" => date,
        "icd10" => icd10,
        "uk_nino" => uk_nino,
        "uk_nhs" => uk_nhs,
        "ca_sin" => ca_sin,
        "de_tax_id" => de_tax_id,
        "aba_routing" => aba_routing,
        "swift_bic" => swift_bic,
        "passport" => passport,
        _ => return None,
    };
    Some(f(candidate))
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Longest digit string any validator looks at (a 19-digit card, a 15-digit phone number with
/// room to spare); longer candidates fail every digit-based check.
const MAX_DIGITS: usize = 24;

/// The ASCII digits of a candidate as values 0–9, kept on the stack.
struct Digits {
    buf: [u8; MAX_DIGITS],
    len: usize,
}

impl Digits {
    /// Collects the digits of `s` when every other byte is one of `separators`.
    fn of(s: &str, separators: &[u8]) -> Option<Digits> {
        let mut digits = Digits {
            buf: [0; MAX_DIGITS],
            len: 0,
        };
        for b in s.bytes() {
            if b.is_ascii_digit() {
                *digits.buf.get_mut(digits.len)? = b - b'0';
                digits.len += 1;
            } else if !separators.contains(&b) {
                return None;
            }
        }
        Some(digits)
    }

    fn get(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The number a short digit slice spells (callers pass at most 9 digits).
fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &d| n * 10 + u32::from(d))
}

/// Tells whether every digit is the same one (`0000…`, `1111…`): checksums let some of these
/// through, and no issuer hands them out.
fn all_same(digits: &[u8]) -> bool {
    digits.windows(2).all(|w| w[0] == w[1])
}

/// Tells whether the non-digit bytes of `s` are all the same byte, or absent: `1234 5678` and
/// `1234-5678` pass, `1234 5678-9012` does not.
fn one_separator(s: &str) -> bool {
    let mut seen = None;
    s.bytes()
        .filter(|b| !b.is_ascii_digit())
        .all(|b| *seen.get_or_insert(b) == b)
}

/// Tells whether `s` is written as `template`: `N` stands for one ASCII digit, every other
/// byte for itself.
fn fits(s: &str, template: &str) -> bool {
    s.len() == template.len()
        && s.bytes().zip(template.bytes()).all(|(c, t)| {
            if t == b'N' {
                c.is_ascii_digit()
            } else {
                c == t
            }
        })
}

fn fits_any(s: &str, templates: &[&str]) -> bool {
    templates.iter().any(|t| fits(s, t))
}

// ---------------------------------------------------------------------------------------------
// Payment cards

/// Luhn checksum over the digits of `candidate` (other characters ignored); needs 2+ digits.
///
/// ```
/// assert!(llmtrail_detect::validators::luhn("79927398713"));
/// assert!(!llmtrail_detect::validators::luhn("79927398710"));
/// ```
#[must_use]
pub fn luhn(candidate: &str) -> bool {
    let mut sum = 0;
    let mut count = 0;
    for d in candidate
        .bytes()
        .rev()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
    {
        sum += if count % 2 == 1 {
            let x = d * 2;
            if x > 9 { x - 9 } else { x }
        } else {
            d
        };
        count += 1;
    }
    count >= 2 && sum.is_multiple_of(10)
}

/// An issuer's number range: card numbers whose leading digits, as many as `from` has, lie in
/// `from..=to`, and that have one of `lengths` digits.
struct CardRange {
    network: &'static str,
    from: u32,
    to: u32,
    lengths: &'static [usize],
}

const fn range(network: &'static str, from: u32, to: u32, lengths: &'static [usize]) -> CardRange {
    CardRange {
        network,
        from,
        to,
        lengths,
    }
}

const LEN_16_19: &[usize] = &[16, 17, 18, 19];
const LEN_14_19: &[usize] = &[14, 15, 16, 17, 18, 19];
const LEN_13_19: &[usize] = &[13, 14, 15, 16, 17, 18, 19];
const LEN_12_19: &[usize] = &[12, 13, 14, 15, 16, 17, 18, 19];

/// Issuer identification ranges of the card networks in wide use (ISO/IEC 7812 prefixes as
/// the networks publish them).
#[rustfmt::skip] // one range per row reads better than rustfmt's one field per row
const CARD_RANGES: &[CardRange] = &[
    range("visa", 4, 4, &[13, 16, 19]),
    range("mastercard", 51, 55, &[16]),
    range("mastercard", 2221, 2720, &[16]),
    range("amex", 34, 34, &[15]),
    range("amex", 37, 37, &[15]),
    range("discover", 6011, 6011, LEN_16_19),
    range("discover", 644, 649, LEN_16_19),
    range("discover", 65, 65, LEN_16_19),
    range("discover", 622_126, 622_925, LEN_16_19),
    range("jcb", 3528, 3589, LEN_16_19),
    // JCB's older 15-digit ranges, still in test data and old card stock.
    range("jcb", 1800, 1800, &[15]),
    range("jcb", 2131, 2131, &[15]),
    range("diners", 300, 305, LEN_14_19),
    range("diners", 3095, 3095, LEN_14_19),
    range("diners", 36, 36, LEN_14_19),
    range("diners", 38, 39, LEN_14_19),
    range("unionpay", 62, 62, LEN_16_19),
    range("maestro", 5018, 5018, LEN_13_19),
    range("maestro", 5020, 5020, LEN_13_19),
    range("maestro", 5038, 5038, LEN_13_19),
    range("maestro", 5893, 5893, LEN_13_19),
    range("maestro", 6304, 6304, LEN_13_19),
    range("maestro", 6759, 6759, LEN_13_19),
    range("maestro", 6761, 6763, LEN_13_19),
    // Maestro is the one network that issues 12-digit numbers; 56–58 are its former ranges.
    range("maestro", 5018, 5018, &[12]),
    range("maestro", 5020, 5020, &[12]),
    range("maestro", 5038, 5038, &[12]),
    range("maestro", 56, 58, LEN_12_19),
    range("maestro", 6304, 6304, &[12]),
    range("maestro", 6759, 6759, &[12]),
    range("maestro", 6761, 6763, &[12]),
    range("mir", 2200, 2204, LEN_16_19),
    range("dankort", 5019, 5019, &[16]),
    range("rupay", 60, 60, &[16]),
    range("rupay", 508, 508, &[16]),
    range("verve", 506_099, 506_198, &[16, 18, 19]),
    range("verve", 650_002, 650_027, &[16, 18, 19]),
    range("troy", 9792, 9792, &[16]),
    range("instapayment", 637, 639, &[16]),
];

/// The card network whose range and length `digits` fits, if any.
fn card_network(digits: &[u8]) -> Option<&'static str> {
    CARD_RANGES
        .iter()
        .find(|r| {
            let width = r.from.checked_ilog10().map_or(1, |n| n as usize + 1);
            r.lengths.contains(&digits.len())
                && digits
                    .get(..width)
                    .is_some_and(|p| (r.from..=r.to).contains(&number(p)))
        })
        .map(|r| r.network)
}

/// Tells whether the groups of a separated card number are grouped as cards are printed:
/// fours with a shorter last group (Visa, Mastercard, …: `4-4-4-4`, `4-4-4-4-3`), or 4-6-5 and
/// 4-6-4 (American Express, Diners Club).
fn card_grouping(s: &str) -> bool {
    let Some(sep) = s.bytes().find(|b| !b.is_ascii_digit()) else {
        return true;
    };
    let groups = s.split(char::from(sep)).map(str::len);
    if groups.clone().eq([4, 6, 5]) || groups.clone().eq([4, 6, 4]) {
        return true;
    }
    let n = groups.clone().count();
    groups.enumerate().all(|(i, len)| {
        if i + 1 < n {
            len == 4
        } else {
            (1..=4).contains(&len)
        }
    })
}

/// Payment card number: 12–19 digits (12 for Maestro only), optionally in groups separated by spaces or dashes (one
/// kind), with a valid Luhn checksum and an issuer range whose length it has.
///
/// ```
/// use llmtrail_detect::validators::payment_card;
///
/// assert!(payment_card("4111 1111 1111 1111"));
/// assert!(payment_card("3782-822463-10005"));
/// assert!(!payment_card("4111 1111 1111 1112")); // checksum
/// assert!(!payment_card("1234 5678 9012 3452")); // no issuer starts with 1
/// ```
#[must_use]
pub fn payment_card(candidate: &str) -> bool {
    let Some(digits) = Digits::of(candidate, b" -") else {
        return false;
    };
    let d = digits.get();
    (12..=19).contains(&d.len())
        && one_separator(candidate)
        && card_grouping(candidate)
        && !all_same(d)
        && luhn(candidate)
        && card_network(d).is_some()
}

/// Payment card number where the text says it is one (rules with a card word as context):
/// everything [`payment_card`] checks except the issuer range, so that numbers of ranges
/// this table does not know (a new issuer, a private-label card) are still found. The
/// checksum and the grouping still have to hold.
///
/// ```
/// use llmtrail_detect::validators::card_in_context;
///
/// assert!(card_in_context("3591210350344663"));    // no known issuer range, Luhn holds
/// assert!(!card_in_context("3591210350344664"));   // checksum
/// assert!(!card_in_context("1111 1111 1111 1117")); // repeated digits
/// ```
#[must_use]
pub fn card_in_context(candidate: &str) -> bool {
    let Some(digits) = Digits::of(candidate, b" -") else {
        return false;
    };
    let d = digits.get();
    (12..=19).contains(&d.len())
        && one_separator(candidate)
        && card_grouping(candidate)
        && !all_same(d)
        && !all_same(&d[..d.len() - 1])
        && luhn(candidate)
}

// ---------------------------------------------------------------------------------------------
// US identifiers

/// Area, group and serial of `AAA-GG-SSSS`, `AAA GG SSSS` or `AAAGGSSSS`.
fn ssn_parts(candidate: &str) -> Option<(u32, u32, u32)> {
    if !fits_any(candidate, &["NNN-NN-NNNN", "NNN NN NNNN", "NNNNNNNNN"]) {
        return None;
    }
    let digits = Digits::of(candidate, b" -")?;
    let d = digits.get();
    Some((number(&d[..3]), number(&d[3..5]), number(&d[5..])))
}

/// US Social Security number: `AAA-GG-SSSS` (or with spaces, or none) with an area the SSA
/// can issue (not 000, 666 or 900–999), a group other than 00 and a serial other than 0000;
/// numbers printed in advertising (078-05-1120 on a wallet insert, 219-09-9999 in an SSA
/// leaflet), the placeholder 123-45-6789 and repeated digits are rejected.
///
/// ```
/// use llmtrail_detect::validators::us_ssn;
///
/// assert!(us_ssn("536-90-4399"));
/// assert!(!us_ssn("666-90-4399"));
/// assert!(!us_ssn("078-05-1120"));
/// ```
#[must_use]
pub fn us_ssn(candidate: &str) -> bool {
    let Some((area, group, serial)) = ssn_parts(candidate) else {
        return false;
    };
    let valid_parts = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    let known = matches!(
        (area, group, serial),
        (78, 5, 1120) | (219, 9, 9999) | (123, 45, 6789)
    );
    valid_parts && !known && !Digits::of(candidate, b" -").is_some_and(|d| all_same(d.get()))
}

/// US Individual Taxpayer Identification Number: `9XX-GG-SSSS` with a group in the ranges the
/// IRS assigns (50–65, 70–88, 90–92, 94–99).
///
/// ```
/// assert!(llmtrail_detect::validators::us_itin("912-70-1234"));
/// assert!(!llmtrail_detect::validators::us_itin("912-45-1234"));
/// ```
#[must_use]
pub fn us_itin(candidate: &str) -> bool {
    let Some((area, group, _)) = ssn_parts(candidate) else {
        return false;
    };
    (900..=999).contains(&area) && matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// ABA routing transit number: nine digits starting with a Federal Reserve routing symbol
/// (00–12, 21–32, 61–72, 80) whose weighted checksum 3-7-1 is divisible by 10.
///
/// ```
/// assert!(llmtrail_detect::validators::aba_routing("021000021"));
/// assert!(!llmtrail_detect::validators::aba_routing("021000022"));
/// ```
#[must_use]
pub fn aba_routing(candidate: &str) -> bool {
    let Some(digits) = Digits::of(candidate, b"") else {
        return false;
    };
    let d = digits.get();
    if d.len() != 9 || all_same(d) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .zip([3, 7, 1].iter().cycle())
        .map(|(&x, &w)| u32::from(x) * w)
        .sum();
    matches!(number(&d[..2]), 0..=12 | 21..=32 | 61..=72 | 80) && sum.is_multiple_of(10)
}

// ---------------------------------------------------------------------------------------------
// Bank accounts

/// IBAN lengths by country, from the SWIFT IBAN registry (sorted by country code).
#[rustfmt::skip] // a table reads better in rows
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"AZ", 28), (b"BA", 20), (b"BE", 16),
    (b"BG", 22), (b"BH", 22), (b"BI", 27), (b"BR", 29), (b"BY", 28), (b"CH", 21), (b"CR", 22),
    (b"CY", 28), (b"CZ", 24), (b"DE", 22), (b"DJ", 27), (b"DK", 18), (b"DO", 28), (b"EE", 20),
    (b"EG", 29), (b"ES", 24), (b"FI", 18), (b"FK", 18), (b"FO", 18), (b"FR", 27), (b"GB", 22),
    (b"GE", 22), (b"GI", 23), (b"GL", 18), (b"GR", 27), (b"GT", 28), (b"HN", 28), (b"HR", 21),
    (b"HU", 28), (b"IE", 22), (b"IL", 23), (b"IQ", 23), (b"IS", 26), (b"IT", 27), (b"JO", 30),
    (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32), (b"LI", 21), (b"LT", 20), (b"LU", 20),
    (b"LV", 21), (b"LY", 25), (b"MC", 27), (b"MD", 24), (b"ME", 22), (b"MK", 19), (b"MN", 20),
    (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"NI", 28), (b"NL", 18), (b"NO", 15), (b"OM", 23),
    (b"PK", 24), (b"PL", 28), (b"PS", 29), (b"PT", 25), (b"QA", 29), (b"RO", 24), (b"RS", 22),
    (b"RU", 33), (b"SA", 24), (b"SC", 31), (b"SD", 18), (b"SE", 24), (b"SI", 19), (b"SK", 24),
    (b"SM", 27), (b"SO", 23), (b"ST", 25), (b"SV", 28), (b"TL", 23), (b"TN", 24), (b"TR", 26),
    (b"UA", 29), (b"VA", 22), (b"VG", 24), (b"XK", 20), (b"YE", 30),
];

/// Longest IBAN in the registry (Russia, 33) with room to spare.
const MAX_IBAN: usize = 34;

/// International Bank Account Number: a registry country, that country's length, and the
/// ISO 7064 mod-97 check (remainder 1). The printed form in groups of four separated by single
/// spaces is accepted, as is the compact form.
///
/// ```
/// use llmtrail_detect::validators::iban;
///
/// assert!(iban("DE89 3704 0044 0532 0130 00"));
/// assert!(iban("GB82WEST12345698765432"));
/// assert!(!iban("DE89 3704 0044 0532 0130 01"));
/// ```
#[must_use]
pub fn iban(candidate: &str) -> bool {
    if candidate.contains(' ') {
        let mut groups = candidate.split(' ').map(str::len).peekable();
        while let Some(len) = groups.next() {
            let last = groups.peek().is_none();
            if (last && !(1..=4).contains(&len)) || (!last && len != 4) {
                return false;
            }
        }
    }
    let mut buf = [0u8; MAX_IBAN];
    let mut len = 0;
    for b in candidate.bytes().filter(|&b| b != b' ') {
        let Some(slot) = buf.get_mut(len) else {
            return false;
        };
        *slot = b.to_ascii_uppercase();
        len += 1;
    }
    let code = &buf[..len];
    let [c1, c2, k1, k2, ..] = *code else {
        return false;
    };
    let expected = IBAN_LENGTHS
        .binary_search_by(|(country, _)| country.as_slice().cmp(&[c1, c2][..]))
        .ok()
        .and_then(|i| IBAN_LENGTHS.get(i))
        .map(|&(_, l)| l);
    expected == Some(len)
        && k1.is_ascii_digit()
        && k2.is_ascii_digit()
        && code.iter().all(u8::is_ascii_alphanumeric)
        && iban_mod97(code) == 1
}

/// ISO 7064 mod 97-10 over an upper-case IBAN: the first four characters moved to the end,
/// letters counted as 10–35.
fn iban_mod97(code: &[u8]) -> u32 {
    let (head, tail) = code.split_at(4);
    tail.iter().chain(head).fold(0, |acc, &b| {
        if b.is_ascii_digit() {
            (acc * 10 + u32::from(b - b'0')) % 97
        } else {
            (acc * 100 + u32::from(b - b'A') + 10) % 97
        }
    })
}

/// ISO 3166-1 alpha-2 codes (and XK, Kosovo, which banks use), concatenated and sorted.
const COUNTRIES: &str = "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBY\
BZCACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGL\
GMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLS\
LTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPM\
PNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTW\
TZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSXKYEYTZAZMZW";

fn is_country(code: &[u8]) -> bool {
    COUNTRIES.as_bytes().chunks(2).any(|c| c == code)
}

/// SWIFT/BIC code (ISO 9362): four letters of institution, an ISO country, two alphanumerics
/// of location and an optional three of branch, upper case.
///
/// ```
/// assert!(llmtrail_detect::validators::swift_bic("DEUTDEFF500"));
/// assert!(!llmtrail_detect::validators::swift_bic("DEUTXXFF"));
/// ```
#[must_use]
pub fn swift_bic(candidate: &str) -> bool {
    let b = candidate.as_bytes();
    (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && is_country(&b[4..6])
}

// ---------------------------------------------------------------------------------------------
// Email

/// Email address: a local part of at most 64 characters from the unquoted RFC 5322 set
/// without leading, trailing or doubled dots; a domain of at least two labels of 1–63
/// letters, digits and inner hyphens; a top-level domain of at least two letters (or an
/// `xn--` IDN label); at most 254 characters in all.
///
/// ```
/// use llmtrail_detect::validators::email;
///
/// assert!(email("jane.doe+news@mail.example.co.uk"));
/// assert!(!email("jane..doe@example.com"));
/// assert!(!email("jane@example.c"));
/// ```
#[must_use]
pub fn email(candidate: &str) -> bool {
    if candidate.len() > 254 {
        return false;
    }
    let Some((local, domain)) = candidate.rsplit_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    let labels_ok = domain.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let tld_ok = domain.rsplit_once('.').is_some_and(|(_, tld)| {
        (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
            || (tld.len() > 4 && tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
    });
    local_ok && labels_ok && tld_ok
}

// ---------------------------------------------------------------------------------------------
// Phone numbers

/// ITU-T E.164 country calling codes in service, sorted. They form a prefix code: no code is
/// the beginning of another, so at most one matches the start of a number.
const CALLING_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 379, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675,
    676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850,
    852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966,
    967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// Length of the country calling code that starts `digits`, if one does.
fn calling_code_len(digits: &[u8]) -> Option<usize> {
    (1..=3).find(|&n| {
        digits.get(..n).is_some_and(|p| {
            u16::try_from(number(p)).is_ok_and(|code| CALLING_CODES.binary_search(&code).is_ok())
        })
    })
}

/// Phone number digits when the notation is sane: digits, single separators (` -./`) between
/// them, and balanced, unnested parentheses.
fn phone_digits(s: &str) -> Option<Digits> {
    let mut open = false;
    let mut run = 0;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => run = 0,
            b'(' if !open => open = true,
            b')' if open => open = false,
            b' ' | b'-' | b'.' | b'/' => {
                run += 1;
                if run > 1 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if open {
        return None;
    }
    Digits::of(s, b" -./()")
}

/// NANP national number (US, Canada, Caribbean): NXX-NXX-XXXX, area code and exchange not
/// starting with 0 or 1 and not N11 (service codes); area codes N9X are reserved.
fn nanp_nsn(d: &[u8]) -> bool {
    d.len() == 10
        && d[0] >= 2
        && !(d[1] == 1 && d[2] == 1)
        && d[1] != 9
        && d[3] >= 2
        && !(d[4] == 1 && d[5] == 1)
}

/// UK national significant number (after +44 or the trunk 0): ten digits starting with
/// 1, 2, 3, 5, 7, 8 or 9; nine for some 01 areas and 0800 numbers.
fn uk_nsn(d: &[u8]) -> bool {
    match (d.len(), d.first()) {
        (10, Some(1 | 2 | 3 | 5 | 7 | 8 | 9)) => true,
        (9, Some(1)) => true,
        (9, Some(8)) => d.get(1) == Some(&0),
        _ => false,
    }
}

/// German national significant number: 6–13 digits not starting with 0; numbers starting
/// with 1 only as mobile numbers (15x, 16x, 17x) of 10–11 digits.
fn de_nsn(d: &[u8]) -> bool {
    match d.first() {
        Some(1) => matches!(d.get(1), Some(5..=7)) && (10..=11).contains(&d.len()),
        Some(2..=9) => (6..=13).contains(&d.len()),
        _ => false,
    }
}

/// French national significant number: nine digits, the first 1–9.
fn fr_nsn(d: &[u8]) -> bool {
    d.len() == 9 && d[0] != 0
}

/// Indian national significant number: ten digits, the first 2–9 (6–9 for mobiles).
fn in_nsn(d: &[u8]) -> bool {
    d.len() == 10 && d[0] >= 2
}

/// Australian national significant number: nine digits starting with 2, 3, 7 or 8
/// (geographic) or 4 (mobile).
fn au_nsn(d: &[u8]) -> bool {
    d.len() == 9 && matches!(d[0], 2 | 3 | 4 | 7 | 8)
}

/// Brazilian national number: a two-digit area code (DDD, no zero), then nine digits starting
/// with 9 (mobile) or eight starting with 2–5 (fixed).
fn br_nsn(d: &[u8]) -> bool {
    let area_ok = d.len() >= 3 && d[0] != 0 && d[1] != 0;
    area_ok
        && match d.len() {
            11 => d[2] == 9,
            10 => (2..=5).contains(&d[2]),
            _ => false,
        }
}

/// Japanese national significant number: nine digits (fixed lines, 0120 freephone) or ten
/// starting with 50, 70, 80 or 90 (IP phones, mobiles, 0800).
fn jp_nsn(d: &[u8]) -> bool {
    match d.len() {
        9 => d[0] != 0,
        10 => matches!((d[0], d[1]), (5 | 7 | 8 | 9, 0)),
        _ => false,
    }
}

/// International phone number: `+`, a country calling code in service, and 8–15 digits in
/// all; for +1, +33, +44, +49, +55, +61, +81 and +91 the national number's structure is
/// checked too. A trunk prefix in parentheses (`+44 (0)20 …`) is allowed.
///
/// ```
/// use llmtrail_detect::validators::phone_e164;
///
/// assert!(phone_e164("+44 20 7946 0958"));
/// assert!(phone_e164("+49 (0)30 1234567"));
/// assert!(!phone_e164("+999 1234 5678")); // no such country code
/// ```
#[must_use]
pub fn phone_e164(candidate: &str) -> bool {
    let Some(rest) = candidate.strip_prefix('+') else {
        return false;
    };
    let rest = rest.replacen("(0)", "", 1);
    let Some(digits) = phone_digits(&rest) else {
        return false;
    };
    let d = digits.get();
    if !(8..=15).contains(&d.len()) {
        return false;
    }
    let Some(cc_len) = calling_code_len(d) else {
        return false;
    };
    let (cc, nsn) = d.split_at(cc_len);
    match number(cc) {
        1 => nanp_nsn(nsn),
        33 => fr_nsn(nsn),
        44 => uk_nsn(nsn),
        49 => de_nsn(nsn),
        55 => br_nsn(nsn),
        61 => au_nsn(nsn),
        81 => jp_nsn(nsn),
        91 => in_nsn(nsn),
        // Italy, San Marino, the Vatican and Côte d'Ivoire keep the leading 0 of fixed lines.
        39 | 378 | 379 | 225 => nsn.len() >= 6 && !all_same(nsn),
        _ => nsn.len() >= 5 && nsn[0] != 0 && !all_same(nsn),
    }
}

/// US/Canada (NANP) number in a usual notation: `(415) 555-2671`, `415-555-2671`,
/// `415.555.2671`, `415 555 2671` or ten digits, optionally after `+1` or `1`.
///
/// ```
/// use llmtrail_detect::validators::phone_nanp;
///
/// assert!(phone_nanp("(415) 555-2671"));
/// assert!(phone_nanp("+1 415 555 2671"));
/// assert!(!phone_nanp("415-555.2671")); // mixed separators
/// assert!(!phone_nanp("911-555-2671")); // N11 area code
/// ```
#[must_use]
pub fn phone_nanp(candidate: &str) -> bool {
    const TEMPLATES: &[&str] = &[
        "(NNN) NNN-NNNN",
        "(NNN)NNN-NNNN",
        "(NNN) NNN.NNNN",
        "(NNN) NNN NNNN",
        "NNN-NNN-NNNN",
        "NNN.NNN.NNNN",
        "NNN NNN NNNN",
        "NNNNNNNNNN",
    ];
    let national = match candidate
        .strip_prefix("+1")
        .or_else(|| candidate.strip_prefix('1'))
    {
        Some(rest) => rest.strip_prefix([' ', '-', '.']).unwrap_or(rest),
        None => candidate,
    };
    fits_any(national, TEMPLATES)
        && Digits::of(national, b"() -.").is_some_and(|d| nanp_nsn(d.get()))
}

/// NANP number where the text says it is a phone number (rules with a phone word as
/// context or label): the notations of [`phone_nanp`], and a leading `001` or `1`, with
/// the area code and exchange only required not to start with 0 or 1. N11 and N9X codes are
/// accepted here because the word already says what the number is (and N9X area codes are
/// held for expansion, not forbidden).
///
/// ```
/// use llmtrail_detect::validators::phone_nanp_in_context;
///
/// assert!(phone_nanp_in_context("(298)374-7705"));
/// assert!(phone_nanp_in_context("001-591-221-8187"));
/// assert!(!phone_nanp_in_context("123-456-7890")); // area code starts with 1
/// assert!(!phone_nanp_in_context("222-222-2222")); // one digit repeated
/// ```
#[must_use]
pub fn phone_nanp_in_context(candidate: &str) -> bool {
    const TEMPLATES: &[&str] = &[
        "(NNN) NNN-NNNN",
        "(NNN)NNN-NNNN",
        "(NNN) NNN.NNNN",
        "(NNN) NNN NNNN",
        "NNN-NNN-NNNN",
        "NNN.NNN.NNNN",
        "NNN NNN NNNN",
        "NNNNNNNNNN",
    ];
    let national = match candidate
        .strip_prefix("+1")
        .or_else(|| candidate.strip_prefix("001"))
        .or_else(|| candidate.strip_prefix('1'))
    {
        Some(rest) => rest.strip_prefix([' ', '-', '.']).unwrap_or(rest),
        None => candidate,
    };
    fits_any(national, TEMPLATES)
        && Digits::of(national, b"() -.").is_some_and(|d| {
            let d = d.get();
            d.len() == 10 && d[0] >= 2 && d[3] >= 2 && !all_same(d)
        })
}

/// UK number in national notation: the trunk 0 and ten digits (nine for some 01 areas and
/// 0800), grouped with spaces as usual (`020 7946 0958`, `0161 496 0000`, `07700 900123`) or
/// not at all.
///
/// ```
/// assert!(llmtrail_detect::validators::phone_uk("020 7946 0958"));
/// assert!(!llmtrail_detect::validators::phone_uk("040 7946 0958")); // 04 is not in use
/// ```
#[must_use]
pub fn phone_uk(candidate: &str) -> bool {
    const TEMPLATES: &[&str] = &[
        "NNNNN NNNNNN",
        "NNNN NNN NNNN",
        "NNN NNNN NNNN",
        "NNNNN NNNNN",
        "NNNN NNN NNN",
        "NNNNNNNNNNN",
        "NNNNNNNNNN",
    ];
    fits_any(candidate, TEMPLATES)
        && Digits::of(candidate, b" ").is_some_and(|d| d.get()[0] == 0 && uk_nsn(&d.get()[1..]))
}

/// German number in national notation: area code with the trunk 0, one separator (space,
/// `/` or `-`) and the subscriber number (`030 1234567`, `089/12345678`, `0151 23456789`), or
/// compact.
///
/// ```
/// assert!(llmtrail_detect::validators::phone_de("030/1234567"));
/// assert!(!llmtrail_detect::validators::phone_de("0130/1234567")); // 013 is not a mobile prefix
/// ```
#[must_use]
pub fn phone_de(candidate: &str) -> bool {
    let grouping_ok = match candidate.find(|c: char| !c.is_ascii_digit()) {
        None => true,
        Some(area_len) => [" / ", "/", " ", "-"]
            .iter()
            .find_map(|sep| candidate[area_len..].strip_prefix(sep))
            .is_some_and(|subscriber| {
                (3..=6).contains(&area_len)
                    && (3..=8).contains(&subscriber.len())
                    && subscriber.bytes().all(|b| b.is_ascii_digit())
            }),
    };
    let Some(digits) = Digits::of(candidate, b" /-") else {
        return false;
    };
    let d = digits.get();
    grouping_ok && (7..=12).contains(&d.len()) && d[0] == 0 && de_nsn(&d[1..])
}

/// French number in national notation: `0X XX XX XX XX` with spaces, dots or dashes (one
/// kind), or ten digits.
///
/// ```
/// assert!(llmtrail_detect::validators::phone_fr("01 42 68 53 00"));
/// assert!(!llmtrail_detect::validators::phone_fr("01 42.68 53 00"));
/// ```
#[must_use]
pub fn phone_fr(candidate: &str) -> bool {
    const TEMPLATES: &[&str] = &[
        "NN NN NN NN NN",
        "NN.NN.NN.NN.NN",
        "NN-NN-NN-NN-NN",
        "NNNNNNNNNN",
    ];
    fits_any(candidate, TEMPLATES)
        && Digits::of(candidate, b" .-").is_some_and(|d| d.get()[0] == 0 && fr_nsn(&d.get()[1..]))
}

/// Indian mobile number in national notation: ten digits starting with 6–9, optionally after
/// the trunk 0, as `98765 43210`, `098765-43210` or compact.
///
/// ```
/// assert!(llmtrail_detect::validators::phone_in("98765 43210"));
/// assert!(!llmtrail_detect::validators::phone_in("58765 43210"));
/// ```
#[must_use]
pub fn phone_in(candidate: &str) -> bool {
    const TEMPLATES: &[&str] = &[
        "NNNNN NNNNN",
        "NNNNN-NNNNN",
        "NNNNNNNNNN",
        "NNNNNN NNNNN",
        "NNNNNN-NNNNN",
        "NNNNNNNNNNN",
    ];
    if !fits_any(candidate, TEMPLATES) {
        return false;
    }
    let Some(digits) = Digits::of(candidate, b" -") else {
        return false;
    };
    let nsn = match digits.get() {
        [0, rest @ ..] if rest.len() == 10 => rest,
        d if d.len() == 10 => d,
        _ => return false,
    };
    in_nsn(nsn) && nsn[0] >= 6
}

/// Australian number in national notation: `0X XXXX XXXX` or `(0X) XXXX XXXX` for fixed
/// lines, `04XX XXX XXX` for mobiles, or ten digits.
///
/// ```
/// assert!(llmtrail_detect::validators::phone_au("(02) 9374 4000"));
/// assert!(!llmtrail_detect::validators::phone_au("04 9374 4000")); // mobiles group 4-3-3
/// ```
#[must_use]
pub fn phone_au(candidate: &str) -> bool {
    let fixed = fits_any(
        candidate,
        &["NN NNNN NNNN", "(NN) NNNN NNNN", "(NN)NNNN NNNN"],
    );
    let mobile = fits(candidate, "NNNN NNN NNN");
    let compact = fits(candidate, "NNNNNNNNNN");
    let Some(digits) = Digits::of(candidate, b" ()") else {
        return false;
    };
    let d = digits.get();
    d.len() == 10
        && d[0] == 0
        && au_nsn(&d[1..])
        && (compact || (fixed && d[1] != 4) || (mobile && d[1] == 4))
}

/// Brazilian number: area code in parentheses (or plain) and the number with a dash before
/// the last four digits: `(11) 91234-5678`, `(21) 3456-7890`, or eleven/ten digits.
///
/// ```
/// assert!(llmtrail_detect::validators::phone_br("(11) 91234-5678"));
/// assert!(!llmtrail_detect::validators::phone_br("(11) 81234-5678")); // mobiles start with 9
/// ```
#[must_use]
pub fn phone_br(candidate: &str) -> bool {
    const TEMPLATES: &[&str] = &[
        "(NN) NNNNN-NNNN",
        "(NN) NNNN-NNNN",
        "(NN)NNNNN-NNNN",
        "(NN)NNNN-NNNN",
        "(NN) NNNNNNNNN",
        "(NN) NNNNNNNN",
        "NN NNNNN-NNNN",
        "NN NNNN-NNNN",
        "NNNNNNNNNNN",
        "NNNNNNNNNN",
    ];
    fits_any(candidate, TEMPLATES)
        && Digits::of(candidate, b"() -").is_some_and(|d| br_nsn(d.get()))
}

/// Japanese number in national notation: three groups joined by dashes (`03-1234-5678`,
/// `090-1234-5678`, `0120-123-456`), the first with the trunk 0, or compact.
///
/// ```
/// assert!(llmtrail_detect::validators::phone_jp("090-1234-5678"));
/// assert!(!llmtrail_detect::validators::phone_jp("03-1234-56789"));
/// ```
#[must_use]
pub fn phone_jp(candidate: &str) -> bool {
    let grouping_ok = if candidate.contains('-') {
        let mut groups = candidate.split('-').map(str::len);
        matches!(
            (groups.next(), groups.next(), groups.next(), groups.next()),
            (Some(2..=5), Some(1..=4), Some(3..=4), None)
        )
    } else {
        true
    };
    let Some(digits) = Digits::of(candidate, b"-") else {
        return false;
    };
    let d = digits.get();
    grouping_ok && (10..=11).contains(&d.len()) && d[0] == 0 && jp_nsn(&d[1..])
}

/// Phone number in any notation the other phone validators accept: international (`+…`) or
/// national for NANP, UK, Germany, France, India, Australia, Brazil or Japan.
///
/// ```
/// assert!(llmtrail_detect::validators::phone("+44 20 7946 0958"));
/// assert!(llmtrail_detect::validators::phone("0612345678"));
/// assert!(!llmtrail_detect::validators::phone("12345"));
/// ```
#[must_use]
pub fn phone(candidate: &str) -> bool {
    if candidate.starts_with('+') {
        return phone_e164(candidate);
    }
    phone_nanp(candidate)
        || phone_uk(candidate)
        || phone_de(candidate)
        || phone_fr(candidate)
        || phone_in(candidate)
        || phone_au(candidate)
        || phone_br(candidate)
        || phone_jp(candidate)
}

// ---------------------------------------------------------------------------------------------
// Network addresses

/// IPv4 address in dotted-decimal form, each part 0–255 without leading zeros (`01.02.03.04`
/// is ambiguous between octal and decimal, and version-like).
///
/// ```
/// assert!(llmtrail_detect::validators::ipv4("203.0.113.7"));
/// assert!(!llmtrail_detect::validators::ipv4("01.02.03.04"));
/// assert!(!llmtrail_detect::validators::ipv4("1.2.3.4.5"));
/// ```
#[must_use]
pub fn ipv4(candidate: &str) -> bool {
    candidate.parse::<Ipv4Addr>().is_ok()
}

/// IPv6 address (RFC 4291 text forms) with at least three non-empty groups, so that `::`,
/// `::1` and `Foo::bar` paths in code do not pass.
///
/// ```
/// assert!(llmtrail_detect::validators::ipv6("2001:db8:85a3::8a2e:370:7334"));
/// assert!(!llmtrail_detect::validators::ipv6("d::ec"));
/// assert!(!llmtrail_detect::validators::ipv6("00:1A:2B:3C:4D:5E")); // a MAC address
/// ```
#[must_use]
pub fn ipv6(candidate: &str) -> bool {
    // A dotted IPv4 tail (`::ffff:192.0.2.1`) stands for two groups.
    let groups: usize = candidate
        .split(':')
        .filter(|g| !g.is_empty())
        .map(|g| if g.contains('.') { 2 } else { 1 })
        .sum();
    candidate.parse::<Ipv6Addr>().is_ok() && groups >= 3
}

/// IP address (IPv4 or IPv6, as [`ipv4`] and [`ipv6`]) that is globally routable: not
/// private, loopback, link-local, shared (100.64/10), benchmarking, documentation, multicast,
/// broadcast, unspecified or reserved.
///
/// ```
/// assert!(llmtrail_detect::validators::public_ip("8.8.8.8"));
/// assert!(!llmtrail_detect::validators::public_ip("192.168.1.20"));
/// assert!(!llmtrail_detect::validators::public_ip("2001:db8::1:2"));
/// ```
#[must_use]
pub fn public_ip(candidate: &str) -> bool {
    if let Ok(ip) = candidate.parse::<Ipv4Addr>() {
        return public_v4(ip);
    }
    if !ipv6(candidate) {
        return false;
    }
    let Ok(ip) = candidate.parse::<Ipv6Addr>() else {
        return false;
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let [first, second, ..] = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (first == 0x2001 && second == 0x0db8))
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b)))
}

// ---------------------------------------------------------------------------------------------
// Dates

/// Month names (lower case) in English, German, French and Spanish, with common abbreviations.
#[rustfmt::skip] // a table reads better in rows
const MONTHS: &[(&str, u32)] = &[
    ("january", 1), ("jan", 1), ("januar", 1), ("janvier", 1), ("enero", 1), ("ene", 1),
    ("february", 2), ("feb", 2), ("februar", 2), ("février", 2), ("fevrier", 2), ("févr", 2),
    ("febrero", 2),
    ("march", 3), ("mar", 3), ("märz", 3), ("maerz", 3), ("mars", 3), ("marzo", 3),
    ("april", 4), ("apr", 4), ("avril", 4), ("abril", 4), ("abr", 4),
    ("may", 5), ("mai", 5), ("mayo", 5),
    ("june", 6), ("jun", 6), ("juni", 6), ("juin", 6), ("junio", 6),
    ("july", 7), ("jul", 7), ("juli", 7), ("juillet", 7), ("juil", 7), ("julio", 7),
    ("august", 8), ("aug", 8), ("août", 8), ("aout", 8), ("agosto", 8), ("ago", 8),
    ("september", 9), ("sep", 9), ("sept", 9), ("septembre", 9), ("septiembre", 9),
    ("setiembre", 9),
    ("october", 10), ("oct", 10), ("oktober", 10), ("okt", 10), ("octobre", 10), ("octubre", 10),
    ("november", 11), ("nov", 11), ("novembre", 11), ("noviembre", 11),
    ("december", 12), ("dec", 12), ("dezember", 12), ("dez", 12), ("décembre", 12),
    ("decembre", 12), ("déc", 12), ("diciembre", 12), ("dic", 12),
];

/// Words that may stand between the parts of a written date ("12th of March", "12 de marzo
/// de 1984").
const DATE_FILLERS: &[&str] = &["of", "the", "de", "del"];

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

fn real_date(year: i32, month: u32, day: u32, max_year: i32) -> bool {
    (1900..=max_year).contains(&year) && (1..=days_in_month(year, month)).contains(&day)
}

/// The current year from the clock, read once; never earlier than 2025 (a clock set to 1970
/// would otherwise reject every date of birth).
fn current_year() -> i32 {
    static YEAR: OnceLock<i32> = OnceLock::new();
    *YEAR.get_or_init(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        year_of_unix_day(days).max(2025)
    })
}

/// The proleptic Gregorian year of a day counted from 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn year_of_unix_day(days: i64) -> i32 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let month_from_march = (5 * doy + 2) / 153;
    let year = yoe + era * 400 + i64::from(month_from_march >= 10);
    i32::try_from(year).unwrap_or(i32::MAX)
}

/// A real calendar date from 1900 to the current year, written `YYYY-MM-DD` (or with `/` or
/// `.`), `DD/MM/YYYY` or `MM/DD/YYYY` (either reading may hold), `DD.MM.YYYY`, `DD-MM-YYYY`,
/// or with the month's name in English, German, French or Spanish ("12 March 1984",
/// "March 12th, 1984", "12. März 1984", "1er janvier 1984", "12 de marzo de 1984").
///
/// ```
/// use llmtrail_detect::validators::date;
///
/// assert!(date("1984-03-12"));
/// assert!(date("03/25/1984"));
/// assert!(date("12 March 1984"));
/// assert!(!date("1984-02-30"));
/// assert!(!date("12/03-1984"));
/// ```
#[must_use]
pub fn date(candidate: &str) -> bool {
    date_until(candidate, current_year())
}

fn date_until(candidate: &str, max_year: i32) -> bool {
    if candidate
        .bytes()
        .all(|b| b.is_ascii_digit() || b"-/.".contains(&b))
    {
        return numeric_date(candidate, max_year);
    }
    let mut day = None;
    let mut month = None;
    let mut year = None;
    for token in candidate
        .split([' ', ',', '.', '/', '-'])
        .filter(|t| !t.is_empty())
    {
        let lower = token.to_lowercase();
        let digits_end = token.bytes().take_while(u8::is_ascii_digit).count();
        let (number_part, suffix) = token.split_at(digits_end);
        if DATE_FILLERS.contains(&lower.as_str()) {
            continue;
        } else if let Some(&(_, m)) = MONTHS.iter().find(|(name, _)| *name == lower) {
            if month.replace(m).is_some() {
                return false;
            }
        } else if number_part.len() == 4 && suffix.is_empty() {
            if year.replace(number_part).is_some() {
                return false;
            }
        } else if (1..=2).contains(&number_part.len())
            && ["", "st", "nd", "rd", "th", "er", "e", "º", "°"]
                .contains(&suffix.to_lowercase().as_str())
        {
            if day.replace(number_part).is_some() {
                return false;
            }
        } else {
            return false;
        }
    }
    let (Some(day), Some(month), Some(year)) = (day, month, year) else {
        return false;
    };
    match (year.parse::<i32>(), day.parse::<u32>()) {
        (Ok(y), Ok(d)) => real_date(y, month, d, max_year),
        _ => false,
    }
}

fn numeric_date(candidate: &str, max_year: i32) -> bool {
    if !one_separator(candidate) {
        return false;
    }
    let mut parts = candidate.split(['-', '/', '.']);
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let short = |s: &str| (1..=2).contains(&s.len());
    let num = |s: &str| s.parse::<u32>().unwrap_or(0);
    let year = |s: &str| s.parse::<i32>().unwrap_or(0);
    if a.len() == 4 && short(b) && short(c) {
        real_date(year(a), num(b), num(c), max_year)
    } else if c.len() == 4 && short(a) && short(b) {
        real_date(year(c), num(b), num(a), max_year) || real_date(year(c), num(a), num(b), max_year)
    } else {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Health and national identifiers

/// ICD-10 (and ICD-10-CM) code: a chapter letter, two digits (the second may be A or B in
/// ICD-10-CM: `C4A`, `M1A`), then optionally up to four characters after a dot (`E11.9`,
/// `S72.001A`) or without it (`E119`). U is for special purposes: only U00–U49 (provisional
/// codes such as U07.1, COVID-19) and U82–U85 exist.
///
/// ```
/// use llmtrail_detect::validators::icd10;
///
/// assert!(icd10("E11.9"));
/// assert!(icd10("U07.1"));
/// assert!(!icd10("U99.9"));
/// assert!(!icd10("123.4"));
/// ```
#[must_use]
pub fn icd10(candidate: &str) -> bool {
    let [letter, d1, c3, rest @ ..] = candidate.as_bytes() else {
        return false;
    };
    let head_ok = letter.is_ascii_uppercase()
        && d1.is_ascii_digit()
        && (c3.is_ascii_digit() || (*letter != b'U' && matches!(c3, b'A' | b'B')));
    if !head_ok {
        return false;
    }
    if *letter == b'U' && !matches!((d1 - b'0') * 10 + (c3 - b'0'), 0..=49 | 82..=85) {
        return false;
    }
    let extension = rest.strip_prefix(b".").unwrap_or(rest);
    let dotted = extension.len() != rest.len();
    (extension.len() <= 4 && !(dotted && extension.is_empty()))
        && extension
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// UK National Insurance number: two prefix letters HMRC allocates (not D, F, I, Q, U or V
/// first; not D, F, I, O, Q, U or V second; not BG, GB, KN, NK, NT, TN or ZZ), six digits and
/// a suffix A–D, with or without spaces.
///
/// ```
/// assert!(llmtrail_detect::validators::uk_nino("AB 12 34 56 C"));
/// assert!(!llmtrail_detect::validators::uk_nino("QQ123456C")); // HMRC's example prefix
/// ```
#[must_use]
pub fn uk_nino(candidate: &str) -> bool {
    let mut buf = [0u8; 9];
    let mut len = 0;
    for b in candidate.bytes().filter(|&b| b != b' ') {
        let Some(slot) = buf.get_mut(len) else {
            return false;
        };
        *slot = b;
        len += 1;
    }
    let [p1, p2, digits @ .., suffix] = buf;
    len == 9
        && p1.is_ascii_uppercase()
        && p2.is_ascii_uppercase()
        && !b"DFIQUV".contains(&p1)
        && !b"DFIOQUV".contains(&p2)
        && ![b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"].contains(&&[p1, p2])
        && digits.iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&suffix)
}

/// NHS number (England, Wales, Isle of Man): ten digits (often `943 476 5919`) whose last is
/// the mod-11 check of the first nine weighted 10 down to 2.
///
/// ```
/// assert!(llmtrail_detect::validators::uk_nhs("943 476 5919"));
/// assert!(!llmtrail_detect::validators::uk_nhs("943 476 5918"));
/// ```
#[must_use]
pub fn uk_nhs(candidate: &str) -> bool {
    let Some(digits) = Digits::of(candidate, b" -") else {
        return false;
    };
    let d = digits.get();
    if d.len() != 10 || !one_separator(candidate) || all_same(d) {
        return false;
    }
    let sum: u32 = d[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        c => c,
    };
    check != 10 && check == u32::from(d[9])
}

/// Canadian Social Insurance Number: nine digits (`046 454 286`, `046-454-286`) passing Luhn,
/// whose first digit is a province or temporary-resident code (not 0 or 8).
///
/// ```
/// assert!(llmtrail_detect::validators::ca_sin("130 692 544"));
/// assert!(!llmtrail_detect::validators::ca_sin("046 454 286")); // 0: never issued to persons
/// ```
#[must_use]
pub fn ca_sin(candidate: &str) -> bool {
    fits_any(candidate, &["NNN NNN NNN", "NNN-NNN-NNN", "NNNNNNNNN"])
        && !candidate.starts_with(['0', '8'])
        && luhn(candidate)
        && Digits::of(candidate, b" -").is_some_and(|d| !all_same(d.get()))
}

/// German tax identification number (Steuerliche Identifikationsnummer): eleven digits, the
/// first not 0; in the first ten, exactly one digit occurs twice or three times (three not
/// all adjacent) and every other at most once; the last is the ISO 7064 MOD 11,10 check.
///
/// ```
/// assert!(llmtrail_detect::validators::de_tax_id("86095742719"));
/// assert!(!llmtrail_detect::validators::de_tax_id("86095742718"));
/// ```
#[must_use]
pub fn de_tax_id(candidate: &str) -> bool {
    let Some(digits) = Digits::of(candidate, b" ") else {
        return false;
    };
    let d = digits.get();
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[usize::from(x)] += 1;
    }
    let mut repeated = (0..10).filter(|&i| counts[i] > 1);
    let repetition_ok = match (repeated.next(), repeated.next()) {
        (Some(r), None) if counts[r] == 2 => true,
        (Some(r), None) if counts[r] == 3 => !d[..10]
            .windows(3)
            .any(|w| w.iter().all(|&x| usize::from(x) == r)),
        _ => false,
    };
    repetition_ok && mod11_10_check(&d[..10]) == u32::from(d[10])
}

/// ISO 7064 MOD 11,10 check digit of `digits`.
fn mod11_10_check(digits: &[u8]) -> u32 {
    let mut product = 10;
    for &x in digits {
        let mut sum = (u32::from(x) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    match 11 - product {
        10 => 0,
        c => c,
    }
}

/// Passport number as most issuers print it: 6–9 upper-case letters and digits with at least
/// five digits and at most three letters, not one repeated digit and not an eight-digit date.
/// Only meaningful next to the word "passport": this is a shape check, not a checksum.
///
/// ```
/// assert!(llmtrail_detect::validators::passport("C01X00T47"));
/// assert!(!llmtrail_detect::validators::passport("PASSPORT"));
/// assert!(!llmtrail_detect::validators::passport("20300131"));
/// ```
#[must_use]
pub fn passport(candidate: &str) -> bool {
    let b = candidate.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let date_like = digits == 8
        && b.len() == 8
        && {
            let (y, m, d) = (&candidate[..4], &candidate[4..6], &candidate[6..]);
            let (d2, m2, y2) = (&candidate[..2], &candidate[2..4], &candidate[4..]);
            let max = current_year() + 30;
            let ok = |y: &str, m: &str, d: &str| matches!((y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()), (Ok(y), Ok(m), Ok(d)) if real_date(y, m, d, max));
            ok(y, m, d) || ok(y2, m2, d2)
        };
    (6..=9).contains(&b.len())
        && digits + letters == b.len()
        && digits >= 5
        && letters <= 3
        && !date_like
        && !(letters == 0 && Digits::of(candidate, b"").is_some_and(|d| all_same(d.get())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_dispatched_and_nothing_else() {
        for name in NAMES {
            assert!(
                check(name, "").is_some(),
                "{name} is listed but not dispatched"
            );
        }
        assert_eq!(check("unknown", "x"), None);
        let mut sorted = NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), NAMES.len(), "duplicate names");
    }

    #[test]
    fn validators_reject_empty_and_garbage() {
        for name in NAMES {
            for junk in ["", " ", "-", "abc", "\u{feff}", "１２３４"] {
                assert_eq!(check(name, junk), Some(false), "{name} accepted {junk:?}");
            }
        }
    }

    /// Appends the Luhn check digit to `body`.
    fn with_luhn(body: &str) -> String {
        (0..10)
            .map(|d| format!("{body}{d}"))
            .find(|s| luhn(s))
            .unwrap_or_default()
    }

    #[test]
    fn luhn_known_values() {
        assert!(luhn("79927398713"));
        assert!(luhn("4111-1111-1111-1111"));
        assert!(!luhn("79927398710"));
        assert!(!luhn("0"));
        assert!(luhn("00"));
    }

    #[test]
    fn payment_card_accepts_each_network() {
        let valid = [
            ("4111111111111111", "visa"),
            ("4222222222222", "visa"),
            ("5555555555554444", "mastercard"),
            ("2223003122003222", "mastercard"),
            ("378282246310005", "amex"),
            ("371449635398431", "amex"),
            ("6011111111111117", "discover"),
            ("6445644564456445", "discover"),
            ("3530111333300000", "jcb"),
            ("30569309025904", "diners"),
            ("36227206271667", "diners"),
            ("6200000000000005", "unionpay"),
            ("6759649826438453", "maestro"),
            ("2200000000000004", "mir"),
            ("675964982648", "maestro"),
            ("180000000000002", "jcb"),
            ("38419589082872", "diners"),
        ];
        for (number, network) in valid {
            let number = if luhn(number) {
                number.to_owned()
            } else {
                with_luhn(&number[..number.len() - 1])
            };
            assert!(payment_card(&number), "{number}");
            let d = Digits::of(&number, b"")
                .map(|d| d.get().to_vec())
                .unwrap_or_default();
            assert_eq!(card_network(&d), Some(network), "{number}");
        }
        assert!(payment_card("4111 1111 1111 1111"));
        assert!(payment_card("4111-1111-1111-1111"));
        assert!(payment_card("3782 822463 10005"));
        assert!(payment_card("3056 930902 5904"));
        assert!(payment_card(&with_luhn("4000 0000 0000 0000 00")));
    }

    #[test]
    fn payment_card_rejects_bad_numbers() {
        let invalid = [
            "4111111111111112",       // checksum
            "1234567812345670",       // passes Luhn, no issuer starts with 1
            "9000000000000008",       // passes Luhn, no issuer
            "0000000000000000",       // repeated digit
            "4111 1111-1111 1111",    // mixed separators
            "411 1111 1111 11111",    // not printed like a card
            "41111 1111 1111 111",    // not printed like a card
            "378282246310005000",     // Amex prefix, wrong length
            "5555555555554",          // Mastercard prefix, 13 digits
            "4111111111111111111111", // too long
            "411111111111",           // too short
            "4111 1111 1111 1111 ",   // trailing separator
        ];
        for number in invalid {
            assert!(!payment_card(number), "{number}");
        }
        assert!(!payment_card(&with_luhn("3782 822463 1000 5")));
    }

    #[test]
    fn us_ssn_rules() {
        for ok in [
            "536-90-4399",
            "536 90 4399",
            "536904399",
            "001-01-0001",
            "899-99-9998",
        ] {
            assert!(us_ssn(ok), "{ok}");
        }
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "536-00-4399",
            "536-90-0000",
            "078-05-1120",
            "219-09-9999",
            "123-45-6789",
            "111-11-1111",
            "536-90 4399",
            "53-690-4399",
            "536-90-43999",
            "5369043990",
        ] {
            assert!(!us_ssn(bad), "{bad}");
        }
    }

    #[test]
    fn us_itin_rules() {
        for ok in ["912-70-1234", "900-50-0001", "999-99-9999", "912 94 1234"] {
            assert!(us_itin(ok), "{ok}");
        }
        for bad in [
            "912-45-1234",
            "912-93-1234",
            "812-70-1234",
            "912-89-1234",
            "9127012345",
        ] {
            assert!(!us_itin(bad), "{bad}");
        }
    }

    #[test]
    fn aba_routing_rules() {
        for ok in ["011000015", "021000021", "111000025", "322271627"] {
            assert!(aba_routing(ok), "{ok}");
        }
        // 13: no such Federal Reserve district; 000000000: repeated digit.
        for bad in [
            "021000022",
            "131000010",
            "000000000",
            "02100002",
            "021-000-021",
        ] {
            assert!(!aba_routing(bad), "{bad}");
        }
    }

    #[test]
    fn iban_rules() {
        for ok in [
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "GB82 WEST 1234 5698 7654 32",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91 ABNA 0417 1643 00",
            "BE68 5390 0754 7034",
            "CH93 0076 2011 6238 5295 7",
            "ES91 2100 0418 4502 0005 1332",
            "IT60 X054 2811 1010 0000 0123 456",
            "NO93 8601 1117 947",
            "AT61 1904 3002 3457 3201",
            "de89 3704 0044 0532 0130 00",
        ] {
            assert!(iban(ok), "{ok}");
        }
        for bad in [
            "DE89 3704 0044 0532 0130 01",  // checksum
            "DE89 3704 0044 0532 0130 000", // length for DE
            "XX89 3704 0044 0532 0130 00",  // no such country
            "DE89 37040 044 0532 0130 00",  // grouping
            "DE89  3704 0044 0532 0130 00", // double space
            "GB82 WEST 1234 5698 7654 3",   // too short
            "DE8937040044053201300!",
        ] {
            assert!(!iban(bad), "{bad}");
        }
    }

    #[test]
    fn iban_table_is_sorted_for_binary_search() {
        assert!(IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            IBAN_LENGTHS
                .iter()
                .all(|&(c, len)| is_country(c) && (15..=MAX_IBAN).contains(&len))
        );
    }

    #[test]
    fn the_iban_rule_lists_the_registry_countries() {
        // rules/pii.toml spells the countries out for speed; they must stay the table's.
        let pack = include_str!("../rules/pii.toml");
        let line = pack
            .lines()
            .find(|l| l.contains("[0-9]{2}(?: ?[A-Z0-9]{4})"))
            .unwrap_or_default();
        let listed = line
            .split_once("(?:")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(alternation, _)| alternation)
            .unwrap_or_default();
        let table: Vec<&str> = IBAN_LENGTHS
            .iter()
            .map(|(c, _)| std::str::from_utf8(c.as_slice()).unwrap_or_default())
            .collect();
        assert_eq!(listed.split('|').collect::<Vec<_>>(), table);
    }

    #[test]
    fn swift_bic_rules() {
        for ok in ["DEUTDEFF", "DEUTDEFF500", "NEDSZAJJXXX", "BOFAUS3N"] {
            assert!(swift_bic(ok), "{ok}");
        }
        for bad in [
            "DEUTXXFF",
            "DEUTDEF",
            "DEUTDEFF50",
            "deutdeff",
            "DEU1DEFF",
            "DEUTDEFF5000",
        ] {
            assert!(!swift_bic(bad), "{bad}");
        }
        assert_eq!(COUNTRIES.len(), 250 * 2);
        assert!(
            COUNTRIES
                .as_bytes()
                .chunks(2)
                .all(|c| c.iter().all(u8::is_ascii_uppercase))
        );
    }

    #[test]
    fn email_rules() {
        for ok in [
            "jane.doe@example.com",
            "jane.doe+news@mail.example.co.uk",
            "JOHN_SMITH@Example.ORG",
            "a@b.io",
            "o'brien@example.ie",
            "user@xn--bcher-kva.xn--p1ai",
            "first-last@sub-domain.example.travel",
        ] {
            assert!(email(ok), "{ok}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_total = format!("a@{}.com", vec!["c".repeat(60); 5].join("."));
        for bad in [
            "jane..doe@example.com",
            ".jane@example.com",
            "jane.@example.com",
            "jane@example",
            "jane@example.c",
            "jane@example..com",
            "jane@-example.com",
            "jane@example-.com",
            "jane@exa_mple.com",
            "jane@example.c0m",
            "@.\0\u{10000}", // found by proptest: a multi-byte character in the TLD
            "a@b.\u{10000}xn--",
            "jane doe@example.com",
            "jane@@example.com",
            "@example.com",
            long_local.as_str(),
            long_label.as_str(),
            long_total.as_str(),
        ] {
            assert!(!email(bad), "{bad}");
        }
    }

    #[test]
    fn calling_codes_form_a_prefix_code() {
        assert!(CALLING_CODES.windows(2).all(|w| w[0] < w[1]));
        for &a in CALLING_CODES {
            for &b in CALLING_CODES {
                let (a, b) = (a.to_string(), b.to_string());
                assert!(a == b || !b.starts_with(&a), "{a} is a prefix of {b}");
            }
        }
    }

    #[test]
    fn phone_e164_rules() {
        for ok in [
            "+44 20 7946 0958",
            "+447700900123",
            "+44 (0)20 7946 0958",
            "+49 30 901820",
            "+49 (0)30 1234567",
            "+49 151 23456789",
            "+33 1 42 68 53 00",
            "+33 6 12 34 56 78",
            "+91 98765 43210",
            "+91-9876543210",
            "+61 2 9374 4000",
            "+61 412 345 678",
            "+55 11 91234-5678",
            "+81 3-1234-5678",
            "+81 90-1234-5678",
            "+1 415 555 2671",
            "+1 (415) 555-2671",
            "+34 612 345 678",
            "+86 138 0013 8000",
            "+39 06 6982 1234",
            "+353 1 234 5678",
        ] {
            assert!(phone_e164(ok), "{ok}");
        }
        for bad in [
            "+44 20 7946 09",    // UK number too short
            "+44 40 7946 0958",  // UK 04 not in use
            "+999 1234 5678",    // no such code
            "+80 1234 5678",     // no such code (800 is)
            "+33 0 12 34 56 78", // trunk 0 after the country code
            "+49 0000 000000",   // leading 0
            "+1 115 555 2671",   // NANP area code starting with 1
            "+1 415 155 2671",   // NANP exchange starting with 1
            "+91 08765 43210",   // India: trunk 0 after the country code
            "+44 20--7946 0958", // doubled separator
            "+44 20 (7946 0958", // unbalanced parenthesis
            "+1234",             // too short
            "+4420794609581234", // too long
            "44 20 7946 0958",   // no plus
            "+44 20 7946 0958x", // stray letter
        ] {
            assert!(!phone_e164(bad), "{bad}");
        }
    }

    #[test]
    fn phone_nanp_rules() {
        for ok in [
            "(415) 555-2671",
            "(415)555-2671",
            "415-555-2671",
            "415.555.2671",
            "415 555 2671",
            "4155552671",
            "+1 415 555 2671",
            "+14155552671",
            "1-415-555-2671",
            "(212) 555 0199",
        ] {
            assert!(phone_nanp(ok), "{ok}");
        }
        for bad in [
            "415-555.2671",  // mixed separators
            "115-555-2671",  // area code starts with 1
            "011-555-2671",  // area code starts with 0
            "911-555-2671",  // N11 area code
            "415-155-2671",  // exchange starts with 1
            "415-411-2671",  // N11 exchange
            "290-555-2671",  // N9X reserved
            "415-555-267",   // short
            "(415 555-2671", // unbalanced
            "415 - 555 - 2671",
        ] {
            assert!(!phone_nanp(bad), "{bad}");
        }
    }

    #[test]
    fn phone_uk_rules() {
        for ok in [
            "020 7946 0958",
            "0161 496 0000",
            "01632 960001",
            "07700 900123",
            "0800 123 456",
            "0300 123 4567",
            "07700900123",
            "016977 3456".replace(' ', "").as_str(),
        ] {
            assert!(phone_uk(ok), "{ok}");
        }
        for bad in [
            "040 7946 0958",  // 04 not in use
            "060 7946 0958",  // 06 not in use
            "020 7946 095",   // short for 02
            "07700 90012",    // short for a mobile
            "089 123456",     // German shape
            "020-7946-0958",  // dashes are not a UK notation
            "20 7946 0958",   // no trunk 0
            "0207 9460 958x", // stray letter
        ] {
            assert!(!phone_uk(bad), "{bad}");
        }
    }

    #[test]
    fn phone_de_rules() {
        for ok in [
            "030 1234567",
            "030/1234567",
            "030 / 12345678",
            "089 12345678",
            "0711-123456",
            "0151 23456789",
            "0171 1234567",
            "03012345678",
        ] {
            assert!(phone_de(ok), "{ok}");
        }
        for bad in [
            "0130/1234567",   // 013 is not a mobile prefix
            "0151 234567",    // mobile too short
            "030 12",         // subscriber too short
            "0301234 567 89", // two separators
            "30 1234567",     // no trunk 0
            "001 1234567",    // international prefix
            "030_1234567",    // not a separator
            "0301234567890",  // too long
        ] {
            assert!(!phone_de(bad), "{bad}");
        }
    }

    #[test]
    fn phone_fr_in_au_br_jp_rules() {
        for ok in [
            "01 42 68 53 00",
            "06.12.34.56.78",
            "09-87-65-43-21",
            "0612345678",
        ] {
            assert!(phone_fr(ok), "{ok}");
        }
        for bad in [
            "00 42 68 53 00",
            "01 42.68 53 00",
            "1 42 68 53 00",
            "01 42 68 53 0",
        ] {
            assert!(!phone_fr(bad), "{bad}");
        }
        for ok in [
            "98765 43210",
            "098765 43210",
            "9876543210",
            "09876543210",
            "70123-45678",
        ] {
            assert!(phone_in(ok), "{ok}");
        }
        for bad in ["58765 43210", "19876543210", "98765 4321", "9876 543210"] {
            assert!(!phone_in(bad), "{bad}");
        }
        for ok in [
            "02 9374 4000",
            "(02) 9374 4000",
            "0412 345 678",
            "0393744000",
        ] {
            assert!(phone_au(ok), "{ok}");
        }
        for bad in [
            "04 9374 4000",
            "0212 345 678",
            "05 9374 4000",
            "02 9374 400",
        ] {
            assert!(!phone_au(bad), "{bad}");
        }
        for ok in [
            "(11) 91234-5678",
            "(21) 3456-7890",
            "(11)91234-5678",
            "11 91234-5678",
            "11912345678",
        ] {
            assert!(phone_br(ok), "{ok}");
        }
        for bad in [
            "(11) 81234-5678",
            "(01) 91234-5678",
            "(10) 3456-7890",
            "(21) 7456-7890",
        ] {
            assert!(!phone_br(bad), "{bad}");
        }
        for ok in [
            "03-1234-5678",
            "090-1234-5678",
            "0120-123-456",
            "045-123-4567",
            "0312345678",
        ] {
            assert!(phone_jp(ok), "{ok}");
        }
        for bad in [
            "03-1234-56789",
            "010-1234-5678",
            "3-1234-5678",
            "040-1234-5678",
            "045-12-3456",
        ] {
            assert!(!phone_jp(bad), "{bad}");
        }
    }

    #[test]
    fn phone_accepts_any_family() {
        for ok in [
            "+44 20 7946 0958",
            "(415) 555-2671",
            "020 7946 0958",
            "030/1234567",
            "01 42 68 53 00",
            "98765 43210",
            "0412 345 678",
            "(11) 91234-5678",
            "090-1234-5678",
        ] {
            assert!(phone(ok), "{ok}");
        }
        for bad in [
            "12345",
            "+999 1234 5678",
            "2024-01-15",
            "1.2.3.4",
            "ISBN 0-306-40615-2",
        ] {
            assert!(!phone(bad), "{bad}");
        }
    }

    #[test]
    fn ip_rules() {
        for ok in ["203.0.113.7", "0.0.0.0", "255.255.255.255", "10.0.0.1"] {
            assert!(ipv4(ok), "{ok}");
        }
        for bad in [
            "01.02.03.04",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.04",
            " 1.2.3.4",
        ] {
            assert!(!ipv4(bad), "{bad}");
        }
        for ok in [
            "2001:db8:85a3::8a2e:370:7334",
            "2001:0db8:0000:0000:0000:ff00:0042:8329",
            "fe80::1:2",
        ] {
            assert!(ipv6(ok), "{ok}");
        }
        for bad in [
            "::",
            "::1",
            "d::ec",
            "12:30:45",
            "dead:beef:cafe",
            "00:1A:2B:3C:4D:5E",
            "2001:db8:::1",
        ] {
            assert!(!ipv6(bad), "{bad}");
        }
        for ok in [
            "8.8.8.8",
            "81.2.69.160",
            "2a00:1450:4001:81c::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(public_ip(ok), "{ok}");
        }
        for bad in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.20",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "203.0.113.7",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "0.1.2.3",
            "fd12:3456:789a::1",
            "fe80::1:2",
            "2001:db8::1:2",
            "ff02::1:2",
            "::ffff:10.0.0.1",
            "not an ip",
        ] {
            assert!(!public_ip(bad), "{bad}");
        }
    }

    #[test]
    fn date_formats() {
        let max = 2026;
        for ok in [
            "1984-03-12",
            "1984/3/12",
            "1984.03.12",
            "12/03/1984",
            "03/25/1984",
            "25/03/1984",
            "12.03.1984",
            "12-03-1984",
            "29/02/2000",
            "12 March 1984",
            "12th March 1984",
            "12th of March 1984",
            "March 12, 1984",
            "March 12th 1984",
            "Mar. 12, 1984",
            "12. März 1984",
            "1er janvier 1984",
            "12 de marzo de 1984",
            "31 décembre 1999",
            "1 January 1900",
            "1 January 2026",
        ] {
            assert!(date_until(ok, max), "{ok}");
        }
        for bad in [
            "1984-02-30",
            "1900-02-29",
            "13/13/1984",
            "12/03-1984",
            "1899-12-31",
            "2027-01-01",
            "12 Marchember 1984",
            "March 1984",
            "12 March",
            "32 March 1984",
            "12 March 84",
            "12 March 1984 12",
            "1984-03-12-01",
            "March April 12 1984",
            "12:30:45",
        ] {
            assert!(!date_until(bad, max), "{bad}");
        }
        assert!(current_year() >= 2025);
        assert!(date("1 January 1970"));
    }

    #[test]
    fn year_of_unix_day_known_values() {
        assert_eq!(year_of_unix_day(0), 1970);
        assert_eq!(year_of_unix_day(-1), 1969);
        assert_eq!(year_of_unix_day(10_956), 1999); // 1999-12-31
        assert_eq!(year_of_unix_day(10_957), 2000); // 2000-01-01
        assert_eq!(year_of_unix_day(20_453), 2025); // 2025-12-31
        assert_eq!(year_of_unix_day(20_454), 2026); // 2026-01-01
    }

    #[test]
    fn icd10_rules() {
        for ok in [
            "E11.9", "J45.909", "S72.001A", "F32.A", "C4A.0", "M1A.00X1", "U07.1", "U82", "I10",
            "E119",
        ] {
            assert!(icd10(ok), "{ok}");
        }
        for bad in [
            "U99.9",
            "U50",
            "123.4",
            "E1.9",
            "e11.9",
            "E11.",
            "E11.12345",
            "EE1.9",
            "U0A",
            "E11-9",
        ] {
            assert!(!icd10(bad), "{bad}");
        }
    }

    #[test]
    fn uk_nino_rules() {
        for ok in ["AB123456C", "AB 12 34 56 C", "JG103759A", "ZY987654D"] {
            assert!(uk_nino(ok), "{ok}");
        }
        for bad in [
            "QQ123456C",
            "DA123456C",
            "AO123456C",
            "GB123456A",
            "AB123456E",
            "AB12345C",
            "ab123456c",
        ] {
            assert!(!uk_nino(bad), "{bad}");
        }
    }

    #[test]
    fn uk_nhs_rules() {
        for ok in ["943 476 5919", "9434765919", "943-476-5919"] {
            assert!(uk_nhs(ok), "{ok}");
        }
        for bad in ["943 476 5918", "0000000000", "943 476-5919", "94347659190"] {
            assert!(!uk_nhs(bad), "{bad}");
        }
    }

    #[test]
    fn ca_sin_rules() {
        let valid = with_luhn("13069254");
        assert_eq!(valid, "130692544");
        for ok in ["130 692 544", "130-692-544", "130692544"] {
            assert!(ca_sin(ok), "{ok}");
        }
        for bad in [
            "130 692 545",
            "046 454 286",
            "830 692 548",
            "130 692-544",
            "1306925440",
        ] {
            assert!(!ca_sin(bad), "{bad}");
        }
    }

    #[test]
    fn de_tax_id_rules() {
        for ok in [
            "86095742719",
            "47036892816",
            "65929970489",
            "57549285017",
            "25768131411",
        ] {
            assert!(de_tax_id(ok), "{ok}");
        }
        // 01234567890: leading 0; 11111111111: repetition; 12345678903: no repetition.
        for bad in [
            "86095742718",
            "01234567890",
            "11111111111",
            "12345678903",
            "8609574271",
        ] {
            assert!(!de_tax_id(bad), "{bad}");
        }
    }

    #[test]
    fn de_tax_id_allows_a_triple_that_is_not_adjacent() {
        let complete = |first: &str| {
            let d: Vec<u8> = first.bytes().map(|b| b - b'0').collect();
            format!("{first}{}", mod11_10_check(&d))
        };
        assert!(de_tax_id(&complete("1121345678")));
        assert!(!de_tax_id(&complete("1112345678"))); // three adjacent
        assert!(!de_tax_id(&complete("1121315678"))); // four times
        assert!(!de_tax_id(&complete("1122345678"))); // two digits repeated
        assert!(de_tax_id(&complete("1023456788")));
        assert!(!de_tax_id(&complete("1023456789"))); // no digit repeated
    }

    #[test]
    fn passport_rules() {
        for ok in [
            "C01X00T47",
            "123456789",
            "A12345678",
            "AB123456",
            "12AB34567",
            "L898902C3",
        ] {
            assert!(passport(ok), "{ok}");
        }
        for bad in [
            "PASSPORT",
            "ABCD12",
            "12345",
            "1234567890",
            "20300131",
            "31012030",
            "111111111",
            "AB12cd567",
        ] {
            assert!(!passport(bad), "{bad}");
        }
    }
}
