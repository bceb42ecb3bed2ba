use crate::RingBuffer;

/// The mean of the buffered readings, or None when there are none.
pub fn moving_average(readings: &RingBuffer<f64>) -> Option<f64> {
    let values = readings.to_vec();
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}
