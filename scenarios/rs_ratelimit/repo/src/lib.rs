//! Token-bucket rate limiting.

pub mod bucket;
pub mod limiter;

pub use bucket::Bucket;
pub use limiter::Limiter;
