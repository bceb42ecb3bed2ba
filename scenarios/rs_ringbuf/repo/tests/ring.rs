use ringbuf::stats::moving_average;
use ringbuf::RingBuffer;

#[test]
fn fills_up_to_capacity() {
    let mut ring = RingBuffer::new(3);
    assert_eq!(ring.push(1), None);
    assert_eq!(ring.push(2), None);
    assert_eq!(ring.to_vec(), vec![1, 2]);
    assert_eq!(ring.len(), 2);
}

#[test]
fn overwrites_the_oldest_when_full() {
    let mut ring = RingBuffer::new(3);
    for value in 1..=3 {
        ring.push(value);
    }
    assert_eq!(ring.push(4), Some(1));
    assert_eq!(ring.push(5), Some(2));
    assert_eq!(ring.to_vec(), vec![3, 4, 5]);
}

#[test]
fn pop_then_push_wraps_around() {
    let mut ring = RingBuffer::new(2);
    ring.push('a');
    ring.push('b');
    assert_eq!(ring.pop(), Some('a'));
    ring.push('c');
    assert_eq!(ring.to_vec(), vec!['b', 'c']);
    assert_eq!(ring.pop(), Some('b'));
    assert_eq!(ring.pop(), Some('c'));
    assert_eq!(ring.pop(), None);
}

#[test]
fn average_of_the_last_readings() {
    let mut ring = RingBuffer::new(2);
    assert_eq!(moving_average(&ring), None);
    for reading in [10.0, 20.0, 40.0] {
        ring.push(reading);
    }
    assert_eq!(moving_average(&ring), Some(30.0));
}

#[test]
#[should_panic(expected = "capacity must be positive")]
fn zero_capacity_is_refused() {
    RingBuffer::<u8>::new(0);
}
