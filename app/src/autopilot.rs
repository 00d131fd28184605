//! The kiosk autopilot: a wall dashboard nobody touches still tells the room what just broke. When something
//! becomes unhealthy, the camera flies to it, its chain (ingress → service → pods → node) lights up with a
//! caption, and after a while the view returns to the overview.
//!
//! Choices, for a screen that runs for weeks:
//! - Only what *becomes* unhealthy is visited. What was already broken when the page loaded is on the map and
//!   in the attention list; touring it forever would make the one new failure impossible to notice.
//! - A burst is one stop per namespace (a failed rollout turns 30 pods red at once): the most abstract thing
//!   that broke there (a Deployment before its pods), whose lit chain shows the rest.
//! - Everything it remembers is bounded: the set of currently unhealthy entities (the topology's size at most)
//!   and a queue of at most [`QUEUE`] stops (the oldest are dropped). Something that recovers before its turn is
//!   skipped.
//! - A viewer who selects something takes over; the autopilot waits [`PAUSE_MS`] before it moves again.
//!
//! The state machine is pure (unit-tested natively); the component drives it from a timer and the view.

use std::collections::{BTreeMap, HashSet, VecDeque};

use leptos::prelude::*;
use topology::layout::Layer;
use topology::{EntityId, HealthLevel, Topology};

use crate::view::View;

/// How long one stop is shown.
pub const DWELL_MS: f64 = 10_000.0;
/// How long the overview stays between two stops.
pub const OVERVIEW_MS: f64 = 4_000.0;
/// How long the autopilot waits after the viewer selected something.
pub const PAUSE_MS: f64 = 60_000.0;
/// Stops waiting at most.
pub const QUEUE: usize = 16;

/// What the autopilot asks of the view.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Fly to this entity and light its chain.
    Show(EntityId),
    /// Back to the overview, nothing selected.
    Overview,
}

/// The autopilot's memory.
#[derive(Debug, Default)]
pub struct Autopilot {
    /// Unhealthy entities at the last observation; `None` before the first (which only seeds it).
    unhealthy: Option<HashSet<EntityId>>,
    queue: VecDeque<EntityId>,
    /// The stop on screen, and until when.
    showing: Option<(EntityId, f64)>,
    /// No new stop before this time (overview pause, or the viewer took over).
    quiet_until: f64,
}

impl Autopilot {
    /// A fresh autopilot: the first observation is the baseline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes note of the topology: entities that became unhealthy since the last observation are queued, one per
    /// namespace (the most abstract), and entities that recovered leave the queue.
    pub fn observe(&mut self, topology: &Topology) {
        self.take_note(topology, true);
    }

    /// Takes note of a topology the server is still filling in (its first list of the cluster is not done):
    /// what turns unhealthy now was broken before the page looked, as a service whose endpoints are listed
    /// after it, so it joins the baseline instead of the tour.
    pub fn observe_unsettled(&mut self, topology: &Topology) {
        self.take_note(topology, false);
    }

    fn take_note(&mut self, topology: &Topology, tour: bool) {
        let now: HashSet<EntityId> = topology
            .entities()
            .filter(|e| e.health.level() == HealthLevel::Unhealthy)
            .map(|e| e.id.clone())
            .collect();
        if let Some(before) = self.unhealthy.as_ref().filter(|_| tour) {
            let mut per_namespace: BTreeMap<(&str, &str), &EntityId> = BTreeMap::new();
            for id in now.iter().filter(|id| !before.contains(*id)) {
                let slot = per_namespace.entry((id.cluster(), id.namespace())).or_insert(id);
                if (Layer::of(id.kind()), id) < (Layer::of(slot.kind()), *slot) {
                    *slot = id;
                }
            }
            for id in per_namespace.into_values() {
                if !self.queue.contains(id) && self.showing.as_ref().is_none_or(|(s, _)| s != id) {
                    self.queue.push_back(id.clone());
                }
            }
            while self.queue.len() > QUEUE {
                self.queue.pop_front();
            }
        }
        self.queue.retain(|id| now.contains(id));
        self.unhealthy = Some(now);
    }

    /// The viewer selected something: stop showing, stay quiet for a while.
    pub fn pause(&mut self, now: f64) {
        self.showing = None;
        self.quiet_until = now + PAUSE_MS;
    }

    /// What is on screen now, if a stop.
    pub fn showing(&self) -> Option<&EntityId> {
        self.showing.as_ref().map(|(id, _)| id)
    }

    /// Stops waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Advances to `now` (ms); returns what the view must do, if anything.
    pub fn tick(&mut self, now: f64) -> Option<Step> {
        if let Some((_, until)) = &self.showing {
            if now < *until {
                return None;
            }
            self.showing = None;
            self.quiet_until = now + OVERVIEW_MS;
            return Some(Step::Overview);
        }
        if now < self.quiet_until {
            return None;
        }
        let next = self.queue.pop_front()?;
        self.showing = Some((next.clone(), now + DWELL_MS));
        Some(Step::Show(next))
    }
}

/// The autopilot of a kiosk page, with its caption. Renders nothing outside kiosk mode.
#[component]
pub fn AutopilotCaption(
    /// The page's link: until the server has listed the whole cluster, what turns up broken is not news.
    connection: RwSignal<crate::link::Connection>,
) -> impl IntoView {
    let view = expect_context::<View>();
    let caption = RwSignal::new(None::<(String, String)>);
    #[cfg(feature = "hydrate")]
    drive(view, connection, caption);
    #[cfg(not(feature = "hydrate"))]
    let _ = connection;
    view! {
        <Show when=move || view.kiosk.get()>
            <div
                class="gl-autopilot"
                id="autopilot"
                role="status"
                data-state=move || if caption.with(Option::is_some) { "showing" } else { "overview" }
            >
                {move || {
                    caption
                        .get()
                        .map(|(name, reason)| {
                            view! {
                                <p class="gl-autopilot-name">{name}</p>
                                <p class="gl-autopilot-reason">{reason}</p>
                            }
                        })
                }}
            </div>
        </Show>
    }
    .into_any()
}

/// Runs the autopilot while the page is in kiosk mode: observes every topology drawn, ticks twice a second.
#[cfg(feature = "hydrate")]
fn drive(
    view: View,
    connection: RwSignal<crate::link::Connection>,
    caption: RwSignal<Option<(String, String)>>,
) {
    use std::cell::RefCell;
    use std::rc::Rc;

    use crate::view::CameraRequest;

    let pilot = Rc::new(RefCell::new(Autopilot::new()));
    {
        let pilot = pilot.clone();
        Effect::new(move |_| {
            if !view.kiosk.get() {
                return;
            }
            let settled = connection.with_untracked(|c| c.state() != "connecting");
            view.topology.with(|t| match t {
                Some(t) if settled => pilot.borrow_mut().observe(t),
                Some(t) => pilot.borrow_mut().observe_unsettled(t),
                None => {}
            });
        });
    }
    {
        // A selection the autopilot did not make is the viewer's: they take over for a while.
        let pilot = pilot.clone();
        Effect::new(move |_| {
            let selected = view.selected.get();
            let mut pilot = pilot.borrow_mut();
            if selected.is_some() && selected.as_ref() != pilot.showing() {
                pilot.pause(js_sys::Date::now());
                caption.set(None);
            }
        });
    }
    let tick = move || {
        if !view.kiosk.get_untracked() {
            return;
        }
        let step = pilot.borrow_mut().tick(js_sys::Date::now());
        match step {
            Some(Step::Show(id)) => {
                let text = view.topology.with_untracked(|t| {
                    let entity = t.as_deref().and_then(|t| t.get(&id));
                    let reason = entity.and_then(|e| e.health.reasons.first().cloned()).unwrap_or_default();
                    (crate::inspector::display_name(&id), reason)
                });
                caption.set(Some(text));
                view.selected.set(Some(id.clone()));
                view.camera_request.set(Some(CameraRequest::FlyTo(id)));
            }
            Some(Step::Overview) => {
                caption.set(None);
                view.selected.set(None);
                view.camera_request.set(Some(CameraRequest::Reset));
            }
            None => {}
        }
    };
    if let Err(error) = set_interval_with_handle(tick, std::time::Duration::from_millis(500)) {
        leptos::logging::warn!("kiosk autopilot not started: {error:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::entity::PodPhase;
    use topology::{Details, Entity, Kind};

    /// Health is derived from an entity's details when it enters a topology: a failed pod or a workload with
    /// nothing available is unhealthy.
    fn entity(kind: Kind, namespace: &str, name: &str, unhealthy: bool) -> Entity {
        let mut entity = Entity::new(EntityId::new("c", kind, namespace, name));
        match &mut entity.details {
            Details::Pod(pod) if unhealthy => pod.phase = PodPhase::Failed,
            Details::Pod(pod) => pod.phase = PodPhase::Succeeded,
            Details::Workload(workload) if unhealthy => workload.replicas.desired = 3,
            _ => {}
        }
        entity
    }

    fn cluster(entities: Vec<Entity>) -> Topology {
        let mut t = Topology::new();
        for e in entities {
            t.upsert(e).unwrap();
        }
        t
    }

    #[test]
    fn what_was_broken_at_load_is_not_toured_but_what_breaks_later_is() {
        let mut pilot = Autopilot::new();
        pilot
            .observe(&cluster(vec![entity(Kind::Pod, "a", "old", true), entity(Kind::Pod, "a", "p", false)]));
        assert_eq!(pilot.tick(0.0), None);
        pilot.observe(&cluster(vec![entity(Kind::Pod, "a", "old", true), entity(Kind::Pod, "a", "p", true)]));
        let shown = EntityId::new("c", Kind::Pod, "a", "p");
        assert_eq!(pilot.tick(1.0), Some(Step::Show(shown.clone())));
        assert_eq!(pilot.showing(), Some(&shown));
        assert_eq!(pilot.tick(1.0 + DWELL_MS - 1.0), None, "dwells");
        assert_eq!(pilot.tick(1.0 + DWELL_MS), Some(Step::Overview));
        assert_eq!(pilot.tick(1.0 + DWELL_MS + 10.0), None);
    }

    #[test]
    fn what_turns_up_broken_while_the_server_still_lists_the_cluster_is_not_toured() {
        let mut pilot = Autopilot::new();
        let service = |sick| entity(Kind::Deployment, "a", "api", sick);
        pilot.observe_unsettled(&cluster(vec![service(false)]));
        pilot.observe_unsettled(&cluster(vec![service(true)]));
        pilot.observe(&cluster(vec![service(true)]));
        assert_eq!(pilot.queued(), 0, "its endpoints were listed after it: broken before anyone looked");
        pilot.observe(&cluster(vec![service(true), entity(Kind::Pod, "a", "p", true)]));
        assert_eq!(pilot.tick(0.0), Some(Step::Show(EntityId::new("c", Kind::Pod, "a", "p"))));
    }

    #[test]
    fn a_burst_is_one_stop_per_namespace_at_its_most_abstract_entity() {
        let mut pilot = Autopilot::new();
        pilot.observe(&Topology::new());
        let mut broken: Vec<Entity> =
            (0..30).map(|i| entity(Kind::Pod, "shop", &format!("web-{i}"), true)).collect();
        broken.push(entity(Kind::Deployment, "shop", "web", true));
        broken.push(entity(Kind::Pod, "billing", "api-0", true));
        pilot.observe(&cluster(broken));
        assert_eq!(pilot.queued(), 2);
        let first = pilot.tick(0.0);
        assert_eq!(first, Some(Step::Show(EntityId::new("c", Kind::Pod, "billing", "api-0"))));
        assert_eq!(pilot.tick(DWELL_MS), Some(Step::Overview));
        assert_eq!(pilot.tick(DWELL_MS + OVERVIEW_MS - 1.0), None, "the overview stays a while");
        let second = pilot.tick(DWELL_MS + OVERVIEW_MS);
        assert_eq!(second, Some(Step::Show(EntityId::new("c", Kind::Deployment, "shop", "web"))));
    }

    #[test]
    fn what_recovers_before_its_turn_is_skipped_and_the_queue_is_bounded() {
        let mut pilot = Autopilot::new();
        pilot.observe(&Topology::new());
        let all: Vec<Entity> = (0..40).map(|i| entity(Kind::Pod, &format!("ns-{i:02}"), "p", true)).collect();
        pilot.observe(&cluster(all.clone()));
        assert_eq!(pilot.queued(), QUEUE, "the oldest are dropped");
        let healed: Vec<Entity> = all
            .iter()
            .map(|e| entity(Kind::Pod, e.id.namespace(), "p", e.id.namespace() < "ns-30"))
            .collect();
        pilot.observe(&cluster(healed));
        assert_eq!(pilot.queued(), 30 - (40 - QUEUE));
        while let Some(step) = pilot.tick(f64::MAX / 2.0) {
            if let Step::Show(id) = step {
                assert!(id.namespace() < "ns-30", "{id} recovered");
            }
            pilot.showing = None;
        }
    }

    #[test]
    fn the_viewer_takes_over_for_a_while() {
        let mut pilot = Autopilot::new();
        pilot.observe(&Topology::new());
        pilot.observe(&cluster(vec![entity(Kind::Pod, "a", "p", true), entity(Kind::Pod, "b", "q", true)]));
        assert!(matches!(pilot.tick(0.0), Some(Step::Show(_))));
        pilot.pause(100.0);
        assert_eq!(pilot.showing(), None);
        assert_eq!(pilot.tick(100.0 + PAUSE_MS - 1.0), None);
        assert!(matches!(pilot.tick(100.0 + PAUSE_MS), Some(Step::Show(_))));
    }
}
