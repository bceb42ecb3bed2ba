use crate::normalize::normalize;

/// `relative` resolved against the folder `base`; an absolute `relative` wins.
pub fn join(base: &str, relative: &str) -> String {
    if relative.starts_with('/') {
        normalize(relative)
    } else {
        normalize(&format!("{base}/{relative}"))
    }
}
