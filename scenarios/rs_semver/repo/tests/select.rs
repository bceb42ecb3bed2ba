use pickver::{at_least, latest, ParseError, Version};

fn v(text: &str) -> Version {
    text.parse().unwrap()
}

#[test]
fn parses_and_prints() {
    assert_eq!(v("v2.0.13"), Version { major: 2, minor: 0, patch: 13 });
    assert_eq!(v("2.0.13").to_string(), "2.0.13");
}

#[test]
fn rejects_malformed_versions() {
    assert_eq!("1.2".parse::<Version>(), Err(ParseError("\"1.2\": expected MAJOR.MINOR.PATCH".into())));
    assert!("1.x.0".parse::<Version>().is_err());
}

#[test]
fn latest_of_single_digit_versions() {
    assert_eq!(latest(&["1.2.0", "1.3.1", "0.9.9"]).unwrap(), Some(v("1.3.1")));
    assert_eq!(latest(&[]).unwrap(), None);
}

#[test]
fn latest_compares_numbers_not_text() {
    assert_eq!(latest(&["1.9.0", "1.10.1", "1.2.0"]).unwrap(), Some(v("1.10.1")));
    assert_eq!(latest(&["9.0.0", "10.0.0"]).unwrap(), Some(v("10.0.0")));
}

#[test]
fn minimum_versions() {
    assert!(at_least("1.4.0", "1.4.0").unwrap());
    assert!(at_least("1.12.0", "1.4.0").unwrap());
    assert!(!at_least("1.3.9", "1.4.0").unwrap());
}
