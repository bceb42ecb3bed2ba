use throttle::{Bucket, Limiter};

#[test]
fn a_full_bucket_allows_a_burst() {
    let mut bucket = Bucket::new(3, 1, 0);
    assert_eq!((0..4).map(|_| bucket.try_take(0)).collect::<Vec<_>>(), vec![true, true, true, false]);
}

#[test]
fn refills_after_a_whole_interval() {
    let mut bucket = Bucket::new(1, 2, 0);
    assert!(bucket.try_take(0));
    assert!(!bucket.try_take(100));
    assert!(bucket.try_take(600));
}

#[test]
fn frequent_polling_still_refills() {
    // 2 tokens per second is one token per 500 ms, however often we ask.
    let mut bucket = Bucket::new(1, 2, 0);
    assert!(bucket.try_take(0));
    let granted: Vec<u64> = (1..=10).map(|step| step * 100).filter(|&t| bucket.try_take(t)).collect();
    assert_eq!(granted, vec![500, 1000]);
}

#[test]
fn never_holds_more_than_capacity() {
    let mut bucket = Bucket::new(2, 10, 0);
    assert_eq!(bucket.available(60_000), 2);
}

#[test]
fn clients_have_separate_buckets() {
    let mut limiter = Limiter::new(1, 1);
    assert!(limiter.allow("alpha", 0));
    assert!(!limiter.allow("alpha", 10));
    assert!(limiter.allow("beta", 10));
}

#[test]
fn a_steady_client_gets_its_rate() {
    let mut limiter = Limiter::new(1, 4);
    let allowed = (0..40).filter(|i| limiter.allow("steady", i * 50)).count();
    assert_eq!(allowed, 8); // t=0 plus one every 250 ms up to 1950 ms
}
