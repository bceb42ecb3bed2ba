//! Road networks and shortest routes through them.

pub mod network;
pub mod path;

pub use network::Network;
pub use path::shortest_path;
