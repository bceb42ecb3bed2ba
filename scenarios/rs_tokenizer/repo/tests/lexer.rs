use calclex::{tokenize, LexError, Token};

fn ident(name: &str) -> Token {
    Token::Ident(name.to_string())
}

#[test]
fn operators_and_parentheses() {
    let tokens = tokenize("( a + b ) * c").unwrap();
    let expected = vec![
        Token::LParen,
        ident("a"),
        Token::Op('+'),
        ident("b"),
        Token::RParen,
        Token::Op('*'),
        ident("c"),
    ];
    assert_eq!(tokens, expected);
}

#[test]
fn numbers_in_the_middle() {
    assert_eq!(tokenize("12 + x").unwrap(), vec![Token::Num(12), Token::Op('+'), ident("x")]);
}

#[test]
fn number_at_the_end() {
    assert_eq!(tokenize("x * 250").unwrap(), vec![ident("x"), Token::Op('*'), Token::Num(250)]);
}

#[test]
fn identifiers_may_contain_digits() {
    let tokens = tokenize("rate_2 * h1").unwrap();
    assert_eq!(tokens, vec![ident("rate_2"), Token::Op('*'), ident("h1")]);
}

#[test]
fn unexpected_character() {
    assert_eq!(tokenize("a % b"), Err(LexError { offset: 2, found: '%' }));
}

#[test]
fn round_trip_through_display() {
    let text: Vec<String> = tokenize("(n+1)/2 ").unwrap().iter().map(|t| t.to_string()).collect();
    assert_eq!(text.concat(), "(n+1)/2");
}
