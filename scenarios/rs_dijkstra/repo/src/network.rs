use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Road {
    pub to: usize,
    pub minutes: u32,
}

/// Depots (by name) and the one-way roads between them.
#[derive(Debug, Default)]
pub struct Network {
    pub names: Vec<String>,
    pub ids: BTreeMap<String, usize>,
    pub roads: Vec<Vec<Road>>,
}

impl Network {
    pub fn id(&mut self, name: &str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        self.names.push(name.to_string());
        self.roads.push(Vec::new());
        self.ids.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    pub fn add_road(&mut self, from: &str, to: &str, minutes: u32) {
        let (from, to) = (self.id(from), self.id(to));
        self.roads[from].push(Road { to, minutes });
    }

    /// Parses "from to minutes" lines; blank lines are skipped.
    pub fn parse(text: &str) -> Result<Network, String> {
        let mut net = Network::default();
        for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let minutes = parts.get(2).and_then(|m| m.parse().ok());
            match (parts.len(), minutes) {
                (3, Some(minutes)) => net.add_road(parts[0], parts[1], minutes),
                _ => return Err(format!("line {}: expected `from to minutes`", number + 1)),
            }
        }
        Ok(net)
    }
}
