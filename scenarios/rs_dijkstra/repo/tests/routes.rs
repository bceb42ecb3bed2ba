use routes::{shortest_path, Network};

const CITY: &str = "
A B 7
A C 9
A F 14
B C 10
B D 15
C D 11
C F 2
F E 9
D E 6
";

fn names(route: &[&str]) -> Vec<String> {
    route.iter().map(|s| s.to_string()).collect()
}

#[test]
fn direct_road() {
    let net = Network::parse("A B 5").unwrap();
    assert_eq!(shortest_path(&net, "A", "B"), Some((5, names(&["A", "B"]))));
}

#[test]
fn takes_the_detour_when_it_is_quicker() {
    let net = Network::parse(CITY).unwrap();
    assert_eq!(shortest_path(&net, "A", "F"), Some((11, names(&["A", "C", "F"]))));
}

#[test]
fn across_the_city() {
    let net = Network::parse(CITY).unwrap();
    assert_eq!(shortest_path(&net, "A", "E"), Some((20, names(&["A", "C", "F", "E"]))));
    assert_eq!(shortest_path(&net, "B", "E").map(|(m, _)| m), Some(21));
}

#[test]
fn unreachable_and_unknown_depots() {
    let net = Network::parse(CITY).unwrap();
    assert_eq!(shortest_path(&net, "E", "A"), None);
    assert_eq!(shortest_path(&net, "A", "Z"), None);
}

#[test]
fn malformed_line() {
    assert_eq!(Network::parse("A B 3\nA B soon").unwrap_err(), "line 2: expected `from to minutes`");
}
