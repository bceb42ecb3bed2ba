use crate::token::Token;
use std::fmt;

#[derive(Debug, PartialEq, Eq)]
pub struct LexError {
    pub offset: usize,
    pub found: char,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected {:?} at offset {}", self.found, self.offset)
    }
}

/// Splits `input` into tokens.
pub fn tokenize(input: &str) -> Result<Vec<Token>, LexError> {
    let mut chars = input.char_indices().peekable();
    let mut tokens = Vec::new();
    while let Some(&(offset, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_digit() {
            let mut value: i64 = 0;
            while let Some(&(_, d)) = chars.peek() {
                match d.to_digit(10) {
                    Some(digit) => {
                        value = value * 10 + i64::from(digit);
                        chars.next();
                    }
                    None => break,
                }
            }
            tokens.push(Token::Num(value));
        } else if c.is_alphabetic() || c == '_' {
            let mut name = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    name.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(Token::Ident(name));
        } else {
            let token = match c {
                '+' | '-' | '*' | '/' => Token::Op(c),
                '(' => Token::LParen,
                ')' => Token::RParen,
                _ => return Err(LexError { offset, found: c }),
            };
            tokens.push(token);
            chars.next();
        }
    }
    Ok(tokens)
}
