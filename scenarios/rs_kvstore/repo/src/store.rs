use std::collections::BTreeMap;

/// Values by key, plus one undo log per open transaction.
#[derive(Debug, Default)]
pub struct Store {
    data: BTreeMap<String, String>,
    // Per open transaction: (key, value before the change), newest last.
    undo: Vec<Vec<(String, Option<String>)>>,
}

impl Store {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    fn remember(&mut self, key: &str, before: Option<String>) {
        if let Some(log) = self.undo.last_mut() {
            if let Some(value) = before {
                log.push((key.to_string(), Some(value)));
            }
        }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        let before = self.data.insert(key.to_string(), value.to_string());
        self.remember(key, before);
    }

    pub fn delete(&mut self, key: &str) -> bool {
        let before = self.data.remove(key);
        let existed = before.is_some();
        self.remember(key, before);
        existed
    }

    pub fn begin(&mut self) {
        self.undo.push(Vec::new());
    }

    /// Undoes the innermost transaction; false when none is open.
    pub fn rollback(&mut self) -> bool {
        let Some(log) = self.undo.pop() else { return false };
        for (key, before) in log.into_iter().rev() {
            match before {
                Some(value) => self.data.insert(key, value),
                None => self.data.remove(&key),
            };
        }
        true
    }

    /// Closes the innermost transaction, keeping its changes; false when none is open.
    pub fn commit(&mut self) -> bool {
        let Some(log) = self.undo.pop() else { return false };
        // An enclosing transaction must still be able to undo these changes.
        if let Some(outer) = self.undo.last_mut() {
            outer.extend(log);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
