use wordwrap::justify::justify;
use wordwrap::wrap::wrap;

#[test]
fn wraps_ascii_at_spaces() {
    assert_eq!(wrap("the quick brown fox jumps", 10), vec!["the quick", "brown fox", "jumps"]);
}

#[test]
fn a_long_word_gets_its_own_line() {
    assert_eq!(wrap("a extraordinarily b", 5), vec!["a", "extraordinarily", "b"]);
}

#[test]
fn accented_words_count_as_characters() {
    assert_eq!(wrap("café crème brûlée", 10), vec!["café crème", "brûlée"]);
}

#[test]
fn justifies_all_but_the_last_line() {
    assert_eq!(justify("aa bb cc dd ee", 9), vec!["aa  bb cc", "dd ee"]);
}

#[test]
fn justifies_accented_lines_to_the_same_width() {
    let lines = justify("naïve résumé über alles", 12);
    assert_eq!(lines, vec!["naïve résumé", "über alles"]);
    let padded = justify("für die Straße und mehr", 12);
    assert_eq!(padded[0].chars().count(), 12, "{:?}", padded);
}
