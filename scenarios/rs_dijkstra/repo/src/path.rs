use crate::network::Network;
use std::collections::BinaryHeap;

/// The quickest route from `from` to `to`: total minutes and the depots in order.
pub fn shortest_path(net: &Network, from: &str, to: &str) -> Option<(u32, Vec<String>)> {
    let start = *net.ids.get(from)?;
    let goal = *net.ids.get(to)?;
    let mut best = vec![u32::MAX; net.names.len()];
    let mut previous = vec![None; net.names.len()];
    let mut settled = vec![false; net.names.len()];
    let mut queue = BinaryHeap::new();
    best[start] = 0;
    queue.push((0, start));
    while let Some((minutes, depot)) = queue.pop() {
        if settled[depot] {
            continue;
        }
        settled[depot] = true;
        for road in &net.roads[depot] {
            let arrival = minutes + road.minutes;
            if !settled[road.to] && arrival < best[road.to] {
                best[road.to] = arrival;
                previous[road.to] = Some(depot);
                queue.push((arrival, road.to));
            }
        }
    }
    if best[goal] == u32::MAX {
        return None;
    }
    let mut route = vec![net.names[goal].clone()];
    let mut at = goal;
    while let Some(before) = previous[at] {
        route.push(net.names[before].clone());
        at = before;
    }
    route.reverse();
    Some((best[goal], route))
}
