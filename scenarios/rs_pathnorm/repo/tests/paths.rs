use pathnorm::{join, normalize};

#[test]
fn dots_and_slashes() {
    assert_eq!(normalize("a/./b//c/"), "a/b/c");
    assert_eq!(normalize("/srv/./site"), "/srv/site");
    assert_eq!(normalize(""), ".");
}

#[test]
fn parent_removes_a_segment() {
    assert_eq!(normalize("a/b/../c"), "a/c");
    assert_eq!(normalize("a/.."), ".");
}

#[test]
fn absolute_paths_stop_at_the_root() {
    assert_eq!(normalize("/../etc"), "/etc");
    assert_eq!(normalize("/a/../../b"), "/b");
}

#[test]
fn relative_paths_may_climb() {
    assert_eq!(normalize("../shared/logo.png"), "../shared/logo.png");
    assert_eq!(normalize("a/../../b"), "../b");
    assert_eq!(normalize("../../x/.."), "../..");
}

#[test]
fn joining() {
    assert_eq!(join("site/pages", "../assets/a.css"), "site/assets/a.css");
    assert_eq!(join("site", "/abs/b.css"), "/abs/b.css");
    assert_eq!(join("site", "../../theme"), "../theme");
}
