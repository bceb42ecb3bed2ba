//! Tokenizer for a small formula language.

pub mod lexer;
pub mod token;

pub use lexer::{tokenize, LexError};
pub use token::Token;
