use crate::version::{ParseError, Version};

/// The highest of `versions`; None for an empty list.
pub fn latest(versions: &[&str]) -> Result<Option<Version>, ParseError> {
    let parsed: Result<Vec<Version>, ParseError> = versions.iter().map(|v| v.parse()).collect();
    Ok(parsed?.into_iter().max())
}

/// Whether `version` is `minimum` or newer.
pub fn at_least(version: &str, minimum: &str) -> Result<bool, ParseError> {
    Ok(version.parse::<Version>()? >= minimum.parse::<Version>()?)
}
