use crate::bucket::Bucket;
use std::collections::HashMap;

/// One bucket per client id, created full on first use.
pub struct Limiter {
    capacity: u64,
    per_second: u64,
    buckets: HashMap<String, Bucket>,
}

impl Limiter {
    pub fn new(capacity: u64, per_second: u64) -> Limiter {
        Limiter { capacity, per_second, buckets: HashMap::new() }
    }

    pub fn allow(&mut self, client: &str, now_ms: u64) -> bool {
        let (capacity, per_second) = (self.capacity, self.per_second);
        self.buckets
            .entry(client.to_string())
            .or_insert_with(|| Bucket::new(capacity, per_second, now_ms))
            .try_take(now_ms)
    }
}
