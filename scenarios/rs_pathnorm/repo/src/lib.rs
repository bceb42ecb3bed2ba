//! Lexical path normalization.

pub mod join;
pub mod normalize;

pub use join::join;
pub use normalize::normalize;
