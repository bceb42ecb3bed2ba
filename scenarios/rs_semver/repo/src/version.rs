use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl FromStr for Version {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.trim().trim_start_matches('v').split('.').collect();
        if parts.len() != 3 {
            return Err(ParseError(format!("{text:?}: expected MAJOR.MINOR.PATCH")));
        }
        let number = |part: &str| {
            part.parse::<u32>()
                .map_err(|_| ParseError(format!("{text:?}: {part:?} is not a number")))
        };
        Ok(Version { major: number(parts[0])?, minor: number(parts[1])?, patch: number(parts[2])? })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
