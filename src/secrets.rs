//! Which manifest columns hold SIM secrets, which simboard withholds.
//!
//! SIM vendors ship each SIM's authentication key (Ki, OPc, ...) and its
//! unblocking and admin codes (PIN, PUK, ADM, ...) in the same file as the
//! ICCIDs. simboard needs none of them, and a result file is read, mailed and
//! kept by many people, so these columns never leave the manifest: they are
//! not copied into the result CSV, the journal or its temporary file, and no
//! message or log quotes them. A column is judged by its header alone; a user
//! who knows one is harmless keeps it with `--keep-column`.

/// The names of secret columns, compared as [`secret_key`] leaves them.
const SECRET_NAMES: &[&str] = &[
    "ki", "opc", "op", "k4", "eki", "pin", "puk", "adm", "kic", "kid", "kik",
];

/// A header reduced for comparing: lowercase, without spaces, `_` or `-`.
fn secret_key(header: &str) -> String {
    header
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// True when a column named `header` holds SIM secrets: its name is one of
/// `SECRET_NAMES`, maybe with a number after it (`PIN1`, `Ki`, `adm_1`), or
/// starts with one followed by something other than a letter (`Ki (hex)`,
/// `PUK 1`, `OPc_hex`). `Kind` or `Pinout` are not secrets.
pub fn is_secret(header: &str) -> bool {
    let key = secret_key(header);
    let lower = header.trim().to_lowercase();
    SECRET_NAMES.iter().any(|name| {
        let numbered = key
            .strip_prefix(name)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()));
        let prefixed = lower
            .strip_prefix(name)
            .is_some_and(|rest| rest.chars().next().is_some_and(|c| !c.is_alphabetic()));
        numbered || prefixed
    })
}

/// True when `header` is the column `--keep-column keep` names (compared
/// without case, spaces, `_` or `-`).
pub fn is_kept(header: &str, keep: &[String]) -> bool {
    let key = secret_key(header);
    keep.iter().any(|k| secret_key(k) == key)
}

/// The columns of `headers` to withhold: the secret ones that `keep` does
/// not name.
pub fn withheld(headers: &[String], keep: &[String]) -> Vec<usize> {
    (0..headers.len())
        .filter(|&i| is_secret(&headers[i]) && !is_kept(&headers[i], keep))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_with_numbers_and_suffixes_are_secret() {
        for name in [
            "Ki", "KI", "OPc", "op", "K4", "eKi", "PIN", "PIN1", "pin_2", "PUK1", "PUK 1", "puk-2",
            "ADM1", "ADM", "KIC3", "KID", "kik1", "Ki (hex)", "OPc_hex", "pin/puk", " Ki ",
        ] {
            assert!(is_secret(name), "{name}");
        }
    }

    #[test]
    fn ordinary_columns_are_not_secret() {
        for name in [
            "iccid",
            "imsi",
            "Kind",
            "Pinout",
            "operator",
            "address",
            "email",
            "full_name",
            "kids",
            "admin",
            "Pincode",
            "device_id",
            "plan",
            "user",
            "",
        ] {
            assert!(!is_secret(name), "{name}");
        }
    }

    #[test]
    fn keep_column_spares_one_secret_by_name() {
        let headers: Vec<String> = ["iccid", "PIN1", "Ki", "PUK1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(withheld(&headers, &[]), [1, 2, 3]);
        assert_eq!(withheld(&headers, &["pin-1".to_owned()]), [2, 3]);
    }
}
