//! ICCIDs: normalising a manifest cell and checking it, with no I/O.
//!
//! A cell goes through [`normalise`] (trim, drop digit-group separators, drop the
//! `F` padding of 19-digit ICCIDs) and then [`check`], which either hands back a
//! well-formed [`Iccid`] or says exactly what is wrong with an [`Invalid`] whose
//! [`code`](Invalid::code) is the stable snake_case reason written to the result CSV.
//!
//! The checks run in the order the reason codes are documented in, so that the
//! first reason that applies is the one reported.

use std::borrow::Cow;
use std::fmt;

/// The prefix of every Gigs test SIM's ICCID. These fail the Luhn check by design.
pub const TEST_SIM_PREFIX: &str = "8942424242";

/// A normalised ICCID: 19 or 20 ASCII digits starting with `89`.
///
/// Stored inline (it is `Copy`), so checking a million rows allocates nothing
/// for the rows that are valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iccid {
    digits: [u8; 20],
    len: u8,
}

impl Iccid {
    /// Only `check` builds one, from text it has verified.
    fn from_verified(digits: &[u8]) -> Iccid {
        debug_assert!(matches!(digits.len(), 19 | 20) && digits.iter().all(u8::is_ascii_digit));
        let mut buf = [0u8; 20];
        // Copies of a fixed length, which compile to a few moves.
        if let Ok(twenty) = <&[u8; 20]>::try_from(digits) {
            buf.copy_from_slice(twenty);
        } else if let Ok(nineteen) = <&[u8; 19]>::try_from(digits) {
            buf[..19].copy_from_slice(nineteen);
        }
        Iccid {
            digits: buf,
            len: digits.len() as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The digits, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    /// True for Gigs test SIMs, whose check digit is not enforced.
    pub fn is_test_sim(&self) -> bool {
        self.digits[..10] == TEST_SIM_PREFIX.as_bytes()[..10]
    }

    /// A compact key that identifies this ICCID: used by the duplicate finder so
    /// that a million-row manifest costs eight bytes per ICCID, not a `String`.
    ///
    /// Every ICCID starts with `89`, leaving at most 18 digits (< 2^60); the top
    /// bit tells 19-digit ICCIDs from 20-digit ones with the same digits.
    pub fn key(&self) -> u64 {
        let rest = self.digits[2..usize::from(self.len)]
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        let long = u64::from(self.len == 20) << 63;
        long | rest
    }
}

impl fmt::Debug for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iccid({})", self.as_str())
    }
}

impl fmt::Display for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Iccid {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// How strictly the Luhn check digit is enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckDigit {
    /// A Luhn failure makes the ICCID invalid (test SIMs excepted).
    #[default]
    Enforce,
    /// `--no-check-digit`: the issuer writes a serial digit over the check digit,
    /// so a Luhn failure is accepted with a warning.
    Ignore,
}

/// Why a cell is not a usable ICCID. Variants are declared in priority order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The cell is empty.
    Missing,
    /// A spreadsheet turned the ICCID into a float such as `8.98830700000075E+19`.
    ScientificNotation,
    /// Something other than ASCII digits is left after normalising.
    Characters { ch: char, position: usize },
    /// Not 19 or 20 digits.
    Length { len: usize },
    /// Does not start with the telecom industry identifier `89`.
    Prefix,
    /// The check digit fails and every digit after the 15th is zero.
    RoundedBySpreadsheet,
    /// The Luhn check fails.
    CheckDigit { expected: u8, found: u8 },
    /// A workbook holds the ICCID as a number, not text: a spreadsheet keeps
    /// 15 significant digits of a number, so the rest are already lost.
    StoredAsNumber,
}

impl Invalid {
    /// The stable reason code written to the result CSV.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::Missing => "missing_iccid",
            Invalid::ScientificNotation => "scientific_notation",
            Invalid::Characters { .. } => "invalid_characters",
            Invalid::Length { .. } => "invalid_length",
            Invalid::Prefix => "invalid_prefix",
            Invalid::RoundedBySpreadsheet => "rounded_by_spreadsheet",
            Invalid::CheckDigit { .. } => "invalid_check_digit",
            Invalid::StoredAsNumber => "stored_as_number",
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Missing => f.write_str("the ICCID cell is empty"),
            Invalid::ScientificNotation => f.write_str(
                "the ICCID was turned into a number in scientific notation by a spreadsheet \
                 and its digits are lost; re-export the column formatted as text",
            ),
            Invalid::Characters { ch, position } => {
                write!(f, "character {position} is {}", describe_char(*ch))?;
                f.write_str("; an ICCID holds only the digits 0-9")
            }
            Invalid::Length { len } => {
                write!(f, "the ICCID has {len} digits; it must have 19 or 20")
            }
            Invalid::Prefix => {
                f.write_str("the ICCID does not start with 89, the telecom industry identifier")
            }
            Invalid::RoundedBySpreadsheet => f.write_str(
                "every digit after the 15th is 0 and the check digit fails: a spreadsheet \
                 kept only 15 significant digits; re-export the column formatted as text",
            ),
            Invalid::CheckDigit { expected, found } => write!(
                f,
                "the Luhn check digit is {found} but {expected} was expected; \
                 check the ICCID for a mistyped digit"
            ),
            Invalid::StoredAsNumber => f.write_str(
                "the workbook stores this ICCID as a number, which keeps only its first 15 \
                 digits; format the column as text and enter the ICCIDs again",
            ),
        }
    }
}

fn describe_char(ch: char) -> String {
    let code = ch as u32;
    match ch {
        'O' | 'o' => format!("'{ch}', the letter O (did you mean the digit 0?)"),
        'I' | 'l' => format!("'{ch}', a letter (did you mean the digit 1?)"),
        '\u{FF10}'..='\u{FF19}' => format!("'{ch}' (U+{code:04X}), a full-width digit"),
        c if c.is_control() || c.is_whitespace() => format!("U+{code:04X}, an invisible character"),
        c if c.is_ascii() => format!("'{c}'"),
        c => format!("'{c}' (U+{code:04X})"),
    }
}

/// A cell that passed the checks, with a note for the result message when the
/// check digit was not enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub iccid: Iccid,
    pub note: Option<Note>,
}

/// Why a valid ICCID still carries a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// A Gigs test SIM: the check digit is not enforced.
    TestSim,
    /// `--no-check-digit` accepted a Luhn failure.
    CheckDigitIgnored { expected: u8, found: u8 },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::TestSim => {
                f.write_str("Gigs test SIM: the check digit is not enforced for test SIMs")
            }
            Note::CheckDigitIgnored { expected, found } => write!(
                f,
                "warning: the Luhn check digit is {found} but {expected} was expected; \
                 accepted because of --no-check-digit"
            ),
        }
    }
}

/// A rejected cell: the reason and the normalised text, when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub reason: Invalid,
    /// The cell after normalising; `None` when the cell was empty or the
    /// normalised form would mean nothing (scientific notation).
    pub normalised: Option<String>,
}

/// Normalises a manifest cell: trims it, unwraps the `="…"` text formula some
/// exports use, removes spaces and hyphens between digit groups, and drops the
/// `F` padding after exactly 19 digits.
///
/// Normalising is idempotent: `normalise(normalise(x)) == normalise(x)`.
pub fn normalise(raw: &str) -> Cow<'_, str> {
    // Each step only ever shortens the text, so repeating it until nothing
    // changes terminates, and makes idempotence hold by construction.
    let mut cell = Cow::Borrowed(raw);
    loop {
        let next = match &cell {
            Cow::Borrowed(s) => normalise_step(s),
            Cow::Owned(s) => Cow::Owned(normalise_step(s).into_owned()),
        };
        if next.len() == cell.len() {
            return cell;
        }
        cell = next;
    }
}

fn normalise_step(raw: &str) -> Cow<'_, str> {
    let mut cell = raw.trim_matches(is_blank);
    if let Some(inner) = cell
        .strip_prefix("=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|inner| !inner.contains('"'))
    {
        cell = inner.trim_matches(is_blank);
    }
    if !cell.contains(is_separator) && !has_padding(cell) {
        return Cow::Borrowed(cell);
    }
    let mut out: String = cell.chars().filter(|&c| !is_separator(c)).collect();
    if has_padding(&out) {
        out.pop();
    }
    Cow::Owned(out)
}

fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{FEFF}'
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{00A0}')
}

/// True when `s` is 19 ASCII digits then `F` or `f` (possibly with separators
/// still in it, in which case the caller strips them first).
fn has_padding(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20 && matches!(b[19], b'F' | b'f') && b[..19].iter().all(u8::is_ascii_digit)
}

/// True when the cell looks like `8.98830700000075E+19` (or with a decimal comma).
fn is_scientific(cell: &str) -> bool {
    let Some((mantissa, exponent)) = cell.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once(['.', ',']) {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(mantissa),
    };
    mantissa_ok && digits(exponent)
}

/// The Luhn check digit that `payload` (the ICCID without its last digit) needs.
pub fn luhn_check_digit(payload: &[u8]) -> u8 {
    // Every other digit from the right is doubled, and a doubled digit of 5
    // or more has its two digits added: 2d - 9. Plain arithmetic rather than
    // a table, so the loop has no loads to wait on.
    let mut sum = 0u32;
    let doubled_parity = payload.len() % 2;
    for (i, &b) in payload.iter().enumerate() {
        let d = u32::from(b.wrapping_sub(b'0')).min(9);
        sum += if i % 2 != doubled_parity {
            d * 2 - 9 * u32::from(d >= 5)
        } else {
            d
        };
    }
    ((10 - sum % 10) % 10) as u8
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A cell of 19 or 20 bytes, right-aligned in three little-endian words
/// behind `'0'`s: the shape the checks below work on, eight bytes at a time.
fn words(cell: &[u8]) -> [u64; 3] {
    let mut padded = [b'0'; 24];
    // Copies of a fixed length, which compile to a few moves.
    if let Ok(twenty) = <&[u8; 20]>::try_from(cell) {
        padded[4..].copy_from_slice(twenty);
    } else if let Ok(nineteen) = <&[u8; 19]>::try_from(cell) {
        padded[5..].copy_from_slice(nineteen);
    } else {
        let n = cell.len().min(24);
        padded[24 - n..].copy_from_slice(&cell[..n]);
    }
    let word = |i: usize| {
        let mut eight = [0; 8];
        eight.copy_from_slice(&padded[8 * i..8 * i + 8]);
        u64::from_le_bytes(eight)
    };
    [word(0), word(1), word(2)]
}

/// True when every byte of the words is an ASCII digit.
fn all_digits(words: [u64; 3]) -> bool {
    words.iter().all(|&w| {
        // A high bit set where a byte is 0x3A or more (or not ASCII) ...
        let above = (((w & !HIGHS) + 0x46 * ONES) | w) & HIGHS;
        // ... and a high bit clear where its low seven bits are below 0x30.
        let below = (((w | HIGHS) - 0x30 * ONES) & HIGHS) ^ HIGHS;
        above | below == 0
    })
}

/// The check digit an ICCID's digits, as [`words`], should end with: the same
/// as [`luhn_check_digit`] of all but the last digit.
fn luhn_expected(words: [u64; 3]) -> u8 {
    // The bytes at even places of a word; with the digits right-aligned in
    // 24 bytes, those are the ones Luhn doubles.
    const EVEN: u64 = 0x00FF_00FF_00FF_00FF;
    let sum_bytes = |x: u64| x.wrapping_mul(ONES) >> 56;
    debug_assert!(all_digits(words));
    let mut sum = 0;
    for (i, word) in words.into_iter().enumerate() {
        let mut d = word - 0x30 * ONES;
        if i == 2 {
            // The check digit itself is not summed.
            d &= !(0xFF << 56);
        }
        let doubled = d & EVEN;
        // A doubled digit of 5 or more has its two digits added: 2d - 9.
        // d + 3 reaches 8 exactly when d is 5 or more.
        let big = ((doubled + ((3 * ONES) & EVEN)) >> 3) & (ONES & EVEN);
        sum += sum_bytes(d & !EVEN) + 2 * sum_bytes(doubled) - 9 * sum_bytes(big);
    }
    ((10 - sum % 10) % 10) as u8
}

/// Checks one manifest cell.
pub fn check(raw: &str, policy: CheckDigit) -> Result<Checked, Rejected> {
    check_bytes(raw.as_bytes(), policy)
}

/// [`check`] on a cell's bytes. Most cells are already 19 or 20 bare digits,
/// which normalising would leave as they are: they skip straight to the
/// checks on the digits, without being handled as text at all. Bytes that
/// are not UTF-8 are checked as their lossy decoding.
pub fn check_bytes(raw: &[u8], policy: CheckDigit) -> Result<Checked, Rejected> {
    if matches!(raw.len(), 19 | 20) && all_digits(words(raw)) {
        return check_digits(raw, policy);
    }
    let text = String::from_utf8_lossy(raw);
    let cell = normalise(&text);
    if cell.is_empty() {
        return Err(Rejected {
            reason: Invalid::Missing,
            normalised: None,
        });
    }
    if is_scientific(&cell) {
        return Err(Rejected {
            reason: Invalid::ScientificNotation,
            normalised: None,
        });
    }
    if let Some((i, ch)) = cell.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(Rejected {
            reason: Invalid::Characters {
                ch,
                position: i + 1,
            },
            normalised: Some(cell.into_owned()),
        });
    }
    check_digits(cell.as_bytes(), policy)
}

/// The checks left for a cell of ASCII digits: length, prefix, check digit.
fn check_digits(digits: &[u8], policy: CheckDigit) -> Result<Checked, Rejected> {
    let reject = |reason: Invalid| Rejected {
        reason,
        // ASCII digits only, so nothing is lost.
        normalised: Some(String::from_utf8_lossy(digits).into_owned()),
    };
    if !(19..=20).contains(&digits.len()) {
        return Err(reject(Invalid::Length { len: digits.len() }));
    }
    if !digits.starts_with(b"89") {
        return Err(reject(Invalid::Prefix));
    }
    let expected = luhn_expected(words(digits));
    let found = digits[digits.len() - 1] - b'0';
    let iccid = Iccid::from_verified(digits);
    if iccid.is_test_sim() {
        let note = Some(Note::TestSim);
        return Ok(Checked { iccid, note });
    }
    if expected == found {
        return Ok(Checked { iccid, note: None });
    }
    if digits[15..].iter().all(|&d| d == b'0') {
        return Err(reject(Invalid::RoundedBySpreadsheet));
    }
    match policy {
        CheckDigit::Ignore => {
            let note = Some(Note::CheckDigitIgnored { expected, found });
            Ok(Checked { iccid, note })
        }
        CheckDigit::Enforce => Err(reject(Invalid::CheckDigit { expected, found })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD_20: &str = "89883070000007537119";

    fn reason(raw: &str) -> &'static str {
        check(raw, CheckDigit::Enforce).unwrap_err().reason.code()
    }

    #[test]
    fn a_documented_iccid_is_valid() {
        let ok = check(GOOD_20, CheckDigit::Enforce).unwrap();
        assert_eq!(ok.iccid.as_str(), GOOD_20);
        assert_eq!(ok.note, None);
    }

    #[test]
    fn separators_and_padding_are_normalised() {
        for raw in [
            "8988 3070 0000 0753 7119",
            "8988-3070-0000-0753-7119",
            "  89883070000007537119\t",
            "=\"89883070000007537119\"",
        ] {
            assert_eq!(
                check(raw, CheckDigit::Enforce).unwrap().iccid.as_str(),
                GOOD_20,
                "{raw}"
            );
        }
        // 19 digits padded with F.
        let nineteen = "8988307000000753711";
        let padded_digit = luhn_check_digit(&nineteen.as_bytes()[..18]);
        let nineteen = format!("{}{}", &nineteen[..18], padded_digit);
        for raw in [format!("{nineteen}F"), format!("{nineteen}f")] {
            let ok = check(&raw, CheckDigit::Enforce).unwrap();
            assert_eq!(ok.iccid.as_str(), nineteen);
        }
    }

    #[test]
    fn missing_iccid() {
        assert_eq!(reason(""), "missing_iccid");
        assert_eq!(reason("   "), "missing_iccid");
        assert!(check("", CheckDigit::Enforce)
            .unwrap_err()
            .normalised
            .is_none());
    }

    #[test]
    fn scientific_notation() {
        for raw in ["8.98830700000075E+19", "8,98830700000075e19", "9E+19"] {
            assert_eq!(reason(raw), "scientific_notation", "{raw}");
        }
        let msg = check("8.98830700000075E+19", CheckDigit::Enforce)
            .unwrap_err()
            .reason
            .to_string();
        assert!(msg.contains("formatted as text"), "{msg}");
    }

    #[test]
    fn invalid_characters_names_the_first_offender() {
        let err = check("8988307000000O537119", CheckDigit::Enforce).unwrap_err();
        assert_eq!(err.reason.code(), "invalid_characters");
        assert_eq!(
            err.reason,
            Invalid::Characters {
                ch: 'O',
                position: 14
            }
        );
        assert!(err.reason.to_string().contains("letter O"));
        let wide = check("８９883070000007537119", CheckDigit::Enforce).unwrap_err();
        assert_eq!(
            wide.reason,
            Invalid::Characters {
                ch: '８',
                position: 1
            }
        );
        assert!(wide.reason.to_string().contains("full-width"));
        assert_eq!(wide.normalised.as_deref(), Some("８９883070000007537119"));
    }

    #[test]
    fn invalid_length() {
        assert_eq!(reason("8988307000000753711"), "invalid_check_digit");
        assert_eq!(reason("898830700000075371"), "invalid_length");
        assert_eq!(reason("898830700000075371190"), "invalid_length");
        let err = check("123", CheckDigit::Enforce).unwrap_err();
        assert_eq!(err.reason, Invalid::Length { len: 3 });
    }

    #[test]
    fn invalid_prefix() {
        assert_eq!(reason("99883070000007537119"), "invalid_prefix");
    }

    #[test]
    fn rounded_by_spreadsheet() {
        assert_eq!(reason("89883070000007600000"), "rounded_by_spreadsheet");
        assert_eq!(reason("8988307000000760000"), "rounded_by_spreadsheet");
        let msg = check("89883070000007600000", CheckDigit::Enforce)
            .unwrap_err()
            .reason;
        assert!(msg.to_string().contains("15 significant digits"));
    }

    #[test]
    fn invalid_check_digit_gives_the_expected_digit() {
        let err = check("89883070000007537118", CheckDigit::Enforce).unwrap_err();
        assert_eq!(
            err.reason,
            Invalid::CheckDigit {
                expected: 9,
                found: 8
            }
        );
        assert!(err.reason.to_string().contains("9 was expected"));
    }

    #[test]
    fn test_sims_skip_the_check_digit() {
        for raw in ["89424242424242424242", "89424242428486763002"] {
            let ok = check(raw, CheckDigit::Enforce).unwrap();
            assert_eq!(ok.note, Some(Note::TestSim));
            assert!(ok
                .note
                .unwrap()
                .to_string()
                .contains("not enforced for test SIMs"));
        }
    }

    #[test]
    fn no_check_digit_accepts_a_luhn_failure_with_a_warning() {
        let ok = check("89883070000007537118", CheckDigit::Ignore).unwrap();
        assert_eq!(
            ok.note,
            Some(Note::CheckDigitIgnored {
                expected: 9,
                found: 8
            })
        );
        assert!(ok.note.unwrap().to_string().starts_with("warning"));
    }

    #[test]
    fn keys_tell_lengths_apart() {
        let a = Iccid::from_verified(b"8900000000000000001");
        let b = Iccid::from_verified(b"89000000000000000001");
        assert_ne!(a.key(), b.key());
    }

    /// A valid ICCID of `len` digits built from `body` (the digits after `89`).
    fn valid_iccid(body: &[u8], len: usize) -> String {
        let mut s = String::from("89");
        s.extend(body.iter().take(len - 3).map(|d| char::from(b'0' + d)));
        let check = luhn_check_digit(s.as_bytes());
        s.push(char::from(b'0' + check));
        s
    }

    fn arb_valid() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(0u8..10, 17),
            prop_oneof![Just(19usize), Just(20)],
        )
            .prop_map(|(body, len)| valid_iccid(&body, len))
            .prop_filter("test SIMs skip the check", |s| {
                !s.starts_with(TEST_SIM_PREFIX)
            })
    }

    #[test]
    fn luhn_agrees_with_the_textbook_example() {
        // 79927398713 is the example every description of Luhn uses.
        assert_eq!(luhn_check_digit(b"7992739871"), 3);
        assert_eq!(luhn_expected(words(b"79927398713")), 3);
    }

    proptest! {
        /// The word-at-a-time digit test is the plain one.
        #[test]
        fn the_fast_digit_test_is_the_plain_one(cell in proptest::collection::vec(any::<u8>(), 19..=20)) {
            prop_assert_eq!(all_digits(words(&cell)), cell.iter().all(u8::is_ascii_digit));
        }

        #[test]
        fn the_fast_digit_test_sees_one_bad_byte(digits in "[0-9]{19,20}", at in 0usize..20, b in any::<u8>()) {
            let mut cell = digits.into_bytes();
            let at = at % cell.len();
            cell[at] = b;
            prop_assert_eq!(all_digits(words(&cell)), b.is_ascii_digit());
        }

        /// The word-at-a-time check digit is the plain Luhn one.
        #[test]
        fn the_fast_check_digit_is_luhns(digits in "[0-9]{19,20}") {
            let digits = digits.as_bytes();
            prop_assert_eq!(
                luhn_expected(words(digits)),
                luhn_check_digit(&digits[..digits.len() - 1])
            );
        }

        #[test]
        fn every_valid_iccid_validates(iccid in arb_valid()) {
            let ok = check(&iccid, CheckDigit::Enforce).unwrap();
            prop_assert_eq!(ok.iccid.as_str(), iccid.as_str());
            prop_assert_eq!(ok.note, None);
        }

        #[test]
        fn changing_one_digit_fails_the_check(iccid in arb_valid(), pos in 0usize..20, delta in 1u8..10) {
            prop_assume!(pos < iccid.len());
            let mut bytes = iccid.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assume!(!changed.starts_with(TEST_SIM_PREFIX));
            let err = check(&changed, CheckDigit::Enforce).unwrap_err();
            let expected = if pos < 2 { "invalid_prefix" } else { "invalid_check_digit" };
            let reason = err.reason.code();
            prop_assert!(
                reason == expected || reason == "rounded_by_spreadsheet",
                "{} gave {}", changed, reason
            );
        }

        #[test]
        fn normalising_is_idempotent(raw in "\\PC{0,30}|[0-9 Ff-]{0,30}") {
            let once = normalise(&raw).into_owned();
            let twice = normalise(&once).into_owned();
            prop_assert_eq!(twice, once);
        }

        #[test]
        fn check_never_panics(raw in "\\PC*") {
            let _ = check(&raw, CheckDigit::Enforce);
            let _ = check(&raw, CheckDigit::Ignore);
        }
    }
}
