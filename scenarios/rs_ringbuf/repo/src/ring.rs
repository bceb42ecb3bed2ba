/// Keeps the last `capacity` values pushed; the oldest is overwritten first.
pub struct RingBuffer<T> {
    slots: Vec<Option<T>>,
    head: usize, // index of the oldest value
    len: usize,
}

impl<T: Clone> RingBuffer<T> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be positive");
        RingBuffer { slots: (0..capacity).map(|_| None).collect(), head: 0, len: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `value`; returns the value it overwrote when the buffer was full.
    pub fn push(&mut self, value: T) -> Option<T> {
        let mut tail = self.head + self.len;
        if tail >= self.capacity() {
            tail -= self.capacity();
        }
        let evicted = self.slots[tail].replace(value);
        if self.len == self.capacity() {
            self.head = (self.head + 1) % self.capacity();
        } else {
            self.len += 1;
        }
        evicted
    }

    /// Removes and returns the oldest value.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = self.slots[self.head].take();
        self.head = (self.head + 1) % self.capacity();
        self.len -= 1;
        value
    }

    /// The values, oldest first.
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len)
            .filter_map(|i| self.slots[(self.head + i) % self.capacity()].clone())
            .collect()
    }
}
