//! A fixed-capacity ring buffer and a moving average over it.

pub mod ring;
pub mod stats;

pub use ring::RingBuffer;
