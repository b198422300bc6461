//! Look-alike characters folded to the ASCII letters they imitate, so that text written with
//! Cyrillic, Greek, Armenian or small-capital look-alikes ("іgnоrе" with Cyrillic і, о, е) can
//! be rescanned by rules written in ASCII.
//!
//! Contract: [`fold`] maps one character to one ASCII character or returns `None`. The table
//! holds only look-alikes common enough in attacks to matter (a compact subset of Unicode's
//! confusables data, written by hand); compatibility forms (fullwidth letters, mathematical
//! alphanumerics, circled letters, ligatures) are left to NFKC, which [`crate::normalize`]
//! applies first.

/// Returns the ASCII letter `c` imitates, if it is a known look-alike.
///
/// ```
/// use llmtrail_detect::confusables::fold;
///
/// assert_eq!(fold('о'), Some('o')); // Cyrillic small o
/// assert_eq!(fold('Α'), Some('A')); // Greek capital alpha
/// assert_eq!(fold('o'), None);      // already ASCII
/// assert_eq!(fold('ж'), None);      // no look-alike
/// ```
#[must_use]
pub fn fold(c: char) -> Option<char> {
    if c.is_ascii() {
        return None;
    }
    Some(match c {
        // Cyrillic, lower case.
        'а' => 'a',
        'в' | 'ь' => 'b',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' => 'e',
        'һ' => 'h',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'п' => 'n',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' => 't',
        'ц' => 'u',
        'ѵ' => 'v',
        'ԝ' => 'w',
        'х' => 'x',
        'у' => 'y',
        // Cyrillic, upper case.
        'А' => 'A',
        'В' => 'B',
        'С' => 'C',
        'Е' | 'Ё' => 'E',
        'Н' => 'H',
        'І' | 'Ї' | 'Ӏ' => 'I',
        'Ј' => 'J',
        'К' => 'K',
        'М' => 'M',
        'О' => 'O',
        'Р' => 'P',
        'Ԛ' => 'Q',
        'Ѕ' => 'S',
        'Т' => 'T',
        'Ѵ' => 'V',
        'Ԝ' => 'W',
        'Х' => 'X',
        'У' | 'Ү' => 'Y',
        // Greek, lower case.
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'γ' => 'y',
        // Greek, upper case.
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Armenian.
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'ց' => 'g',
        'զ' => 'q',
        // Latin letters outside ASCII that NFKC keeps: dotless i and j, script g, alpha.
        'ı' => 'i',
        'ȷ' => 'j',
        'ɡ' => 'g',
        'ɑ' => 'a',
        'ɩ' => 'i',
        'ʀ' => 'r',
        // Small capitals (phonetic extensions), which NFKC keeps.
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => return None,
    })
}

/// Tells whether `c` is a combining mark of the blocks used to decorate letters (accents,
/// "Zalgo" stacks), which folding drops.
#[must_use]
pub fn is_combining_mark(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// Tells whether `c` is a styled stand-in for a letter that NFKC or [`fold`] turns back into
/// one: fullwidth forms, mathematical alphanumerics, enclosed and letter-like symbols, super-
/// and subscripts, ligatures, small capitals. Ordinary prose in any language does without
/// them, so seeing one is reason enough to build a folded variant.
#[must_use]
pub fn is_compatibility_letter(c: char) -> bool {
    matches!(
        c,
        '\u{FF01}'..='\u{FF5E}'        // fullwidth ASCII
            | '\u{1D400}'..='\u{1D7FF}' // mathematical alphanumerics
            | '\u{2460}'..='\u{24FF}'   // enclosed alphanumerics
            | '\u{1F100}'..='\u{1F1E5}' // enclosed alphanumeric supplement, without flags
            | '\u{2100}'..='\u{214F}'   // letter-like symbols
            | '\u{2070}'..='\u{209F}'   // super- and subscripts
            | '\u{FB00}'..='\u{FB06}'   // Latin ligatures
            | '\u{1D00}'..='\u{1DBF}'   // phonetic extensions, small capitals, modifiers
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_mixed_script_word() {
        let folded: String = "іgnоrе".chars().map(|c| fold(c).unwrap_or(c)).collect();
        assert_eq!(folded, "ignore");
        let folded: String = "ѕуѕtеm".chars().map(|c| fold(c).unwrap_or(c)).collect();
        assert_eq!(folded, "system");
    }

    #[test]
    fn leaves_ascii_and_other_letters() {
        for c in ['a', 'Z', '0', ' ', 'ж', '中', 'ש'] {
            assert_eq!(fold(c), None, "{c}");
        }
    }

    #[test]
    fn every_mapping_is_ascii_alphabetic() {
        for cp in 0x80u32..0x2_0000 {
            if let Some(c) = char::from_u32(cp)
                && let Some(f) = fold(c)
            {
                assert!(f.is_ascii_alphabetic(), "{c:?} -> {f:?}");
            }
        }
    }

    #[test]
    fn marks_and_compatibility() {
        assert!(is_combining_mark('\u{0301}'));
        assert!(!is_combining_mark('e'));
        assert!(is_compatibility_letter('Ｉ'));
        assert!(is_compatibility_letter('𝐢'));
        assert!(!is_compatibility_letter('é'));
        assert!(!is_compatibility_letter('\u{1F1FA}')); // regional indicator (flags)
    }
}
