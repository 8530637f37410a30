//! What a plan demands of a row, and whether the row can give it. Gigs lists
//! a plan's requirements as flat dotted keys (`address`, `user.fullName`,
//! `user.birthday`, `device`); anything but `none` is a demand.
//!
//! simboard meets `user.fullName` and `user.birthday` only for a user it
//! creates, from the `full_name` and `birthday` columns; it does not edit
//! existing users, so an existing user must have them already. It never has
//! a device to give. A demand the row cannot meet is named in the row's
//! result before anything is sent, never sent to fail.

use super::{AddressCells, Failure, RowRequest};
use crate::gigs::types::{Plan, User};

/// The user a plan's `user.*` requirements are checked against.
pub(super) enum Holder<'a> {
    /// An existing user: what the API says the user has.
    Existing(&'a User),
    /// A user simboard would create: what the row gives.
    New,
}

/// The first of `plan`'s demands that the row (and its user) cannot meet:
/// device, address, full name, birthday, in that order.
pub(super) fn unmet(plan: &Plan, row: &RowRequest, holder: &Holder<'_>) -> Option<Failure> {
    if plan.requires_device() {
        return Some(Failure::PlanRequiresDevice { plan: plan.label() });
    }
    if plan.requires_address() {
        if let Err(missing) = row.address.address() {
            return Some(Failure::PlanRequiresAddress {
                plan: plan.label(),
                missing,
            });
        }
    }
    let existing = match holder {
        Holder::Existing(user) => Some(user.id.clone()),
        Holder::New => None,
    };
    let (name, birthday) = match holder {
        Holder::Existing(user) => (filled(&user.full_name), filled(&user.birthday)),
        Holder::New => (filled(&row.full_name), filled(&row.birthday)),
    };
    if plan.requires_full_name() && !name {
        return Some(Failure::PlanRequiresFullName {
            plan: plan.label(),
            existing,
        });
    }
    if plan.requires_birthday() && !birthday {
        return Some(Failure::PlanRequiresBirthday {
            plan: plan.label(),
            existing,
        });
    }
    None
}

/// True when `plan` demands something of the user itself.
pub(super) fn asks_of_user(plan: &Plan) -> bool {
    plan.requires_full_name() || plan.requires_birthday()
}

fn filled(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// The checks of a row's own cells, made before any call: a birthday must
/// be a date written `YYYY-MM-DD`, a country a two-letter code.
pub(super) fn check_cells(row: &RowRequest) -> Result<(), Failure> {
    if let Some(birthday) = &row.birthday {
        if !is_iso_date(birthday) {
            return Err(Failure::InvalidBirthday {
                value: crate::gigs::client::cut(birthday, 40),
            });
        }
    }
    check_country(&row.address)
}

fn check_country(cells: &AddressCells) -> Result<(), Failure> {
    match &cells.country {
        Some(country) if !super::address::is_country_code(country) => {
            Err(Failure::AddressInvalid {
                message: format!(
                    "address_country {:?} is not a two-letter ISO 3166-1 code (such as DE or US)",
                    crate::gigs::client::cut(country, 40)
                ),
            })
        }
        _ => Ok(()),
    }
}

/// True for a real calendar date written `YYYY-MM-DD` (years 1000 to 9999).
pub(super) fn is_iso_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &text[range];
        if digits.bytes().all(|d| d.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1000 && (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(reqs: &str) -> Plan {
        serde_json::from_str(&format!(r#"{{"id":"pln_x","requirements":{reqs}}}"#)).unwrap()
    }

    fn user(json: &str) -> User {
        serde_json::from_str(json).unwrap()
    }

    fn row() -> RowRequest {
        RowRequest {
            iccid: "8988".into(),
            full_name: Some("Ann Lee".into()),
            birthday: Some("1990-02-28".into()),
            ..Default::default()
        }
    }

    #[test]
    fn dates_must_be_real_and_written_iso() {
        for good in ["1990-02-28", "2000-02-29", "1999-12-31", "2024-02-29"] {
            assert!(is_iso_date(good), "{good}");
        }
        for bad in [
            "1900-02-29",
            "1990-2-28",
            "28.02.1990",
            "1990-13-01",
            "1990-04-31",
            "1990-00-10",
            "0999-01-01",
            "1990-02-28T00:00:00Z",
            "199O-01-01",
            "+990-01-01",
            "",
        ] {
            assert!(!is_iso_date(bad), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_real_date_written_iso_is_a_birthday(
            year in 1000u32..10000,
            month in 1u32..13,
            day in 1u32..32,
        ) {
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            let days = match month {
                2 => 28 + u32::from(leap),
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let text = format!("{year:04}-{month:02}-{day:02}");
            proptest::prop_assert_eq!(is_iso_date(&text), day <= days, "{}", text);
        }

        #[test]
        fn the_date_check_never_panics(text in "\\PC{0,12}") {
            let _ = is_iso_date(&text);
        }
    }

    #[test]
    fn a_new_user_meets_user_requirements_from_the_row() {
        let both = plan(r#"{"user.fullName":"present","user.birthday":"verified"}"#);
        assert_eq!(unmet(&both, &row(), &Holder::New), None);
        let nameless = RowRequest {
            full_name: None,
            ..row()
        };
        let failure = unmet(&both, &nameless, &Holder::New).unwrap();
        assert_eq!(failure.code(), "plan_requires_full_name");
        let undated = RowRequest {
            birthday: None,
            ..row()
        };
        let failure = unmet(&both, &undated, &Holder::New).unwrap();
        assert_eq!(failure.code(), "plan_requires_birthday");
        assert!(failure.to_string().contains("birthday column"), "{failure}");
    }

    #[test]
    fn an_existing_user_must_have_the_fields_whatever_the_row_says() {
        let dated = plan(r#"{"user.birthday":"present"}"#);
        let bare = user(r#"{"id":"usr_1","email":"a@x","fullName":"Ann","birthday":null}"#);
        let failure = unmet(&dated, &row(), &Holder::Existing(&bare)).unwrap();
        assert_eq!(failure.code(), "plan_requires_birthday");
        assert!(failure.to_string().contains("usr_1"), "{failure}");
        let born = user(r#"{"id":"usr_2","birthday":"1970-01-01"}"#);
        let empty_row = RowRequest::default();
        assert_eq!(unmet(&dated, &empty_row, &Holder::Existing(&born)), None);
    }

    #[test]
    fn a_device_is_never_met_and_comes_first() {
        let device = plan(r#"{"device":"present","address":"present"}"#);
        let failure = unmet(&device, &row(), &Holder::New).unwrap();
        assert_eq!(failure.code(), "plan_requires_device");
        let nested = plan(r#"{"user":{"fullName":"present"}}"#);
        assert!(asks_of_user(&nested) && !asks_of_user(&plan("{}")));
    }

    #[test]
    fn bad_cells_are_caught_before_any_call() {
        let bad_date = RowRequest {
            birthday: Some("31/12/1990".into()),
            ..row()
        };
        assert_eq!(
            check_cells(&bad_date).unwrap_err().code(),
            "invalid_birthday"
        );
        let mut bad_country = row();
        bad_country.address.country = Some("Germany".into());
        let failure = check_cells(&bad_country).unwrap_err();
        assert_eq!(failure.code(), "address_invalid");
        assert!(failure.to_string().contains("Germany"), "{failure}");
        assert_eq!(check_cells(&row()), Ok(()));
    }
}
