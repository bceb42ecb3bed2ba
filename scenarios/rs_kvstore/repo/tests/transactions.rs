use kvtx::{execute, Store};

fn run(store: &mut Store, script: &str) -> Vec<String> {
    script.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| execute(store, l)).collect()
}

#[test]
fn plain_commands() {
    let mut store = Store::default();
    assert_eq!(run(&mut store, "SET a 1\nGET a\nDELETE a\nGET a\nDELETE a"), ["OK", "1", "1", "(nil)", "0"]);
}

#[test]
fn rollback_restores_changed_values() {
    let mut store = Store::default();
    run(&mut store, "SET a 1\nBEGIN\nSET a 2\nDELETE a");
    assert_eq!(run(&mut store, "ROLLBACK\nGET a"), ["OK", "1"]);
}

#[test]
fn rollback_removes_keys_created_inside() {
    let mut store = Store::default();
    run(&mut store, "BEGIN\nSET fresh 1\nSET fresh 2\nROLLBACK");
    assert_eq!(store.get("fresh"), None);
    assert!(store.is_empty());
}

#[test]
fn nested_commit_then_outer_rollback() {
    let mut store = Store::default();
    let out = run(&mut store, "SET a 1\nBEGIN\nSET a 2\nBEGIN\nSET b 3\nCOMMIT\nROLLBACK\nGET a\nGET b");
    assert_eq!(out.last().unwrap(), "(nil)");
    assert_eq!(out[out.len() - 2], "1");
}

#[test]
fn commit_keeps_changes() {
    let mut store = Store::default();
    assert_eq!(run(&mut store, "BEGIN\nSET a 5\nCOMMIT\nGET a\nROLLBACK"), ["OK", "OK", "OK", "5", "ERR no transaction"]);
}
