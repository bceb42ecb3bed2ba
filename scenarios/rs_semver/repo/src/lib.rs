//! Version parsing and selection.

pub mod select;
pub mod version;

pub use select::{at_least, latest};
pub use version::{ParseError, Version};
