"""Token-bucket rate limiting with an injectable clock."""

from ratelimit.bucket import TokenBucket
from ratelimit.clock import FakeClock
from ratelimit.limiter import RateLimiter

__all__ = ["FakeClock", "RateLimiter", "TokenBucket"]
