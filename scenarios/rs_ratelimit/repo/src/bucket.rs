/// A token bucket; `now_ms` values must not go backwards.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: u64,
    per_second: u64,
    tokens: u64,
    last_ms: u64,
}

impl Bucket {
    /// A full bucket at time `now_ms`.
    pub fn new(capacity: u64, per_second: u64, now_ms: u64) -> Bucket {
        assert!(per_second > 0, "per_second must be positive");
        Bucket { capacity, per_second, tokens: capacity, last_ms: now_ms }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        let added = elapsed * self.per_second / 1000;
        self.tokens = (self.tokens + added).min(self.capacity);
        self.last_ms = now_ms;
    }

    /// Takes a token if one is available at `now_ms`.
    pub fn try_take(&mut self, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    pub fn available(&mut self, now_ms: u64) -> u64 {
        self.refill(now_ms);
        self.tokens
    }
}
