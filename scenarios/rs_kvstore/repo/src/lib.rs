//! A key-value store with nested transactions.

pub mod command;
pub mod store;

pub use command::execute;
pub use store::Store;
