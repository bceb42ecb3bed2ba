//! Word wrapping and justification for plain text.

pub mod justify;
pub mod wrap;

/// How wide `text` is on screen, in characters.
pub fn display_width(text: &str) -> usize {
    text.len()
}
