use crate::store::Store;

/// Runs one command line against `store`; returns what the shell prints.
pub fn execute(store: &mut Store, line: &str) -> String {
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts.as_slice() {
        ["SET", key, value] => {
            store.set(key, value);
            "OK".to_string()
        }
        ["GET", key] => store.get(key).unwrap_or("(nil)").to_string(),
        ["DELETE", key] => if store.delete(key) { "1" } else { "0" }.to_string(),
        ["BEGIN"] => {
            store.begin();
            "OK".to_string()
        }
        ["ROLLBACK"] => if store.rollback() { "OK" } else { "ERR no transaction" }.to_string(),
        ["COMMIT"] => if store.commit() { "OK" } else { "ERR no transaction" }.to_string(),
        _ => format!("ERR unknown command {line:?}"),
    }
}
