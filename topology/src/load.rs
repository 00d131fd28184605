//! How loaded an entity is: a pod's usage against its limits, a node's against what it can allocate.
//!
//! The scene pulses what is near its ceiling and the inspector draws its meters against the real ceiling, so both
//! read it from here. A pod without a limit has no ceiling to be near: its share is unknown, not zero.

use crate::entity::{Details, Entity, Resources, Usage};

/// At this share of its ceiling an entity counts as loaded (the findings' near-limit threshold is the same 90%).
pub const HIGH: f64 = 0.9;

/// An amount used out of a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Used (millicores or bytes).
    pub used: u64,
    /// The ceiling, never zero.
    pub of: u64,
}

impl Share {
    fn new(used: u64, of: Option<u64>) -> Option<Share> {
        of.filter(|of| *of > 0).map(|of| Share { used, of })
    }

    /// `used / of`; above 1 when over the ceiling.
    pub fn ratio(self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // a display ratio
        let ratio = self.used as f64 / self.of as f64;
        ratio
    }
}

/// CPU and memory shares; either is `None` without usage or without a ceiling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// CPU.
    pub cpu: Option<Share>,
    /// Memory.
    pub memory: Option<Share>,
}

impl Load {
    /// Whether CPU or memory is at [`HIGH`] or more of its ceiling.
    pub fn high(&self) -> bool {
        [self.cpu, self.memory].into_iter().flatten().any(|share| share.ratio() >= HIGH)
    }
}

/// The load of an entity: pods against their containers' summed limits, nodes against allocatable.
pub fn load(entity: &Entity) -> Load {
    let ceiling: Resources = match &entity.details {
        Details::Pod(pod) => pod.limits(),
        Details::Node(node) => node.allocatable,
        _ => return Load::default(),
    };
    let Some(Usage { cpu_millis, memory_bytes }) = entity.usage else { return Load::default() };
    Load {
        cpu: Share::new(cpu_millis, ceiling.cpu_millis),
        memory: Share::new(memory_bytes, ceiling.memory_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{Container, NodeInfo, PodInfo};
    use crate::id::{EntityId, Kind};

    fn pod(limits: Resources, usage: Option<Usage>) -> Entity {
        let mut entity = Entity::new(EntityId::new("c", Kind::Pod, "ns", "p"));
        let container = Container { limits, ..Container::default() };
        entity.details =
            Details::Pod(Box::new(PodInfo { containers: vec![container], ..PodInfo::default() }));
        entity.usage = usage;
        entity
    }

    #[test]
    fn a_pod_near_its_memory_limit_is_loaded_and_one_without_limits_has_no_share() {
        let limits = Resources { cpu_millis: Some(1000), memory_bytes: Some(1000) };
        let busy = load(&pod(limits, Some(Usage { cpu_millis: 100, memory_bytes: 950 })));
        assert_eq!(busy.memory, Some(Share { used: 950, of: 1000 }));
        assert!(busy.high());
        let calm = load(&pod(limits, Some(Usage { cpu_millis: 100, memory_bytes: 100 })));
        assert!(!calm.high());
        let unbounded =
            load(&pod(Resources::default(), Some(Usage { cpu_millis: 5000, memory_bytes: 1 << 40 })));
        assert_eq!(unbounded, Load::default(), "no limit, no ceiling to be near");
        assert_eq!(load(&pod(limits, None)), Load::default(), "no metrics, no load");
    }

    #[test]
    fn a_node_is_measured_against_what_it_can_allocate() {
        let mut node = Entity::new(EntityId::cluster_scoped("c", Kind::Node, "n"));
        node.details = Details::Node(NodeInfo {
            allocatable: Resources { cpu_millis: Some(4000), memory_bytes: Some(0) },
            ..NodeInfo::default()
        });
        node.usage = Some(Usage { cpu_millis: 3800, memory_bytes: 10 });
        let load = load(&node);
        assert!(load.high());
        assert_eq!(load.memory, None, "a zero ceiling is no ceiling");
    }
}
