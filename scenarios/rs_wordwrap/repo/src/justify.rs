use crate::display_width;
use crate::wrap::wrap;

/// `wrap`, then every line but the last padded to `width` by widening its gaps from the left.
pub fn justify(text: &str, width: usize) -> Vec<String> {
    let lines = wrap(text, width);
    let last = lines.len().saturating_sub(1);
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| if i == last { line.clone() } else { pad(line, width) })
        .collect()
}

fn pad(line: &str, width: usize) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let gaps = words.len().saturating_sub(1);
    let missing = width.saturating_sub(display_width(line));
    if gaps == 0 || missing == 0 {
        return line.to_string();
    }
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        out.push_str(word);
        if i < gaps {
            let extra = missing / gaps + usize::from(i < missing % gaps);
            out.push_str(&" ".repeat(1 + extra));
        }
    }
    out
}
