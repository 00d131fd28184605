//! The findings panel: what is wrong right now and what was wrong recently, worst first, each linked to the
//! entity it is about.
//!
//! It polls `GET /api/v1/findings` rather than riding the live socket: findings change a few times an hour,
//! not many times a second, the REST answer is already scoped to the viewer, and the socket's protocol stays
//! the map's. Clicking a finding selects its subject and highlights its causal chain through the shared
//! [`View`] signals, so the scene and the inspector react without knowing about findings.

use leptos::prelude::*;
use topology::finding::{Finding, Severity};

use crate::view::View;

/// How often the panel asks the server.
pub const POLL_SECS: u64 = 10;
/// How far back "recent" incidents go.
pub const RECENT_SECS: i64 = 24 * 3600;

/// The panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Open findings.
    Open,
    /// Resolved in the last day.
    Recent,
}

/// The panel's orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Worst first, then newest.
    Severity,
    /// Newest first.
    Newest,
    /// By namespace, then name.
    Subject,
}

impl Sort {
    fn parse(s: &str) -> Sort {
        match s {
            "newest" => Sort::Newest,
            "subject" => Sort::Subject,
            _ => Sort::Severity,
        }
    }
}

/// What the panel lists for these settings: the tab's findings at or above `min`, whose message, subject or
/// detector contains `text` (any case), in `sort` order.
pub fn listed(findings: &[Finding], show: Tab, min: Severity, text: &str, sort: Sort) -> Vec<Finding> {
    let text = text.trim().to_lowercase();
    let mut out: Vec<Finding> = findings
        .iter()
        .filter(|f| (show == Tab::Open) == f.is_open())
        .filter(|f| f.severity >= min)
        .filter(|f| {
            text.is_empty()
                || f.message.to_lowercase().contains(&text)
                || f.subject.to_string().to_lowercase().contains(&text)
                || f.detector.as_str().contains(&text)
        })
        .cloned()
        .collect();
    match sort {
        Sort::Severity => out.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.opened.cmp(&a.opened))),
        Sort::Newest => out.sort_by_key(|f| std::cmp::Reverse(f.resolved.unwrap_or(f.opened))),
        Sort::Subject => out.sort_by(|a, b| a.subject.cmp(&b.subject).then(a.detector.cmp(&b.detector))),
    }
    out
}

/// The subject of every open finding with the highest severity open on it: what its badge in the scene shows.
pub fn worst_open(findings: &[Finding]) -> std::collections::HashMap<topology::EntityId, Severity> {
    let mut worst = std::collections::HashMap::new();
    for f in findings.iter().filter(|f| f.is_open()) {
        worst
            .entry(f.subject.clone())
            .and_modify(|s: &mut Severity| *s = (*s).max(f.severity))
            .or_insert(f.severity);
    }
    worst
}

/// "3m", "2h", "4d": how long ago, coarse enough not to flicker.
pub fn ago(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Every open finding (up to the API's 1000) and the incidents resolved since `since` (the most recent 200):
/// two requests, so that a burst of resolved incidents can never push an open one out of the list.
#[cfg(feature = "hydrate")]
async fn fetch(since: i64) -> Result<Vec<Finding>, String> {
    let mut list = get_findings("/api/v1/findings?state=open&limit=1000").await?;
    list.extend(get_findings(&format!("/api/v1/findings?state=resolved&since={since}&limit=200")).await?);
    Ok(list)
}

#[cfg(feature = "hydrate")]
async fn get_findings(url: &str) -> Result<Vec<Finding>, String> {
    let response = gloo_net::http::Request::get(url).send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("findings unavailable (HTTP {})", response.status()));
    }
    response.json::<Vec<Finding>>().await.map_err(|e| e.to_string())
}

#[cfg(feature = "hydrate")]
fn unix_now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// The panel. Needs a [`View`] in context (the live page provides it).
#[component]
pub fn FindingsPanel() -> impl IntoView {
    let view = use_context::<View>().unwrap_or_default();
    let findings = RwSignal::new(Vec::<Finding>::new());
    let error = RwSignal::new(None::<String>);
    let now = RwSignal::new(0_i64);
    let show = RwSignal::new(Tab::Open);
    let min = RwSignal::new(Severity::Info);
    let sort = RwSignal::new(Sort::Severity);
    let text = RwSignal::new(String::new());
    let expanded = RwSignal::new(None::<String>);

    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<()>| {
        if started.is_some() {
            return;
        }
        leptos::task::spawn_local(async move {
            loop {
                let at = unix_now();
                match fetch(at - RECENT_SECS).await {
                    Ok(list) => {
                        let open = worst_open(&list);
                        if view.flagged.with_untracked(|now| **now != open) {
                            view.flagged.set(std::sync::Arc::new(open));
                        }
                        findings.set(list);
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e)),
                }
                now.set(at);
                gloo_timers::future::sleep(std::time::Duration::from_secs(POLL_SECS)).await;
            }
        });
    });

    let open_count = move || findings.with(|all| all.iter().filter(|f| f.is_open()).count());
    let rows = move || {
        let list = findings.with(|all| listed(all, show.get(), min.get(), &text.get(), sort.get()));
        if list.is_empty() {
            let empty =
                if show.get() == Tab::Open { "Nothing wrong right now." } else { "No recent incidents." };
            return view! { <li class="gl-findings-empty">{empty}</li> }.into_any();
        }
        list.iter().map(|f| row(f, view, expanded, now)).collect_view().into_any()
    };

    view! {
        <aside class="gl-findings" aria-label="Findings">
            <div class="gl-findings-bar">
                <h2>"Findings " <span class="gl-findings-count">{open_count}</span></h2>
                <div class="gl-findings-tabs" role="tablist">
                    <button type="button" role="tab" aria-selected=move || (show.get() == Tab::Open).to_string()
                        on:click=move |_| show.set(Tab::Open)>"Open"</button>
                    <button type="button" role="tab" aria-selected=move || (show.get() == Tab::Recent).to_string()
                        on:click=move |_| show.set(Tab::Recent)>"Recent incidents"</button>
                </div>
                <select aria-label="Minimum severity" on:change=move |ev| {
                    min.set(Severity::parse(&event_target_value(&ev)).unwrap_or(Severity::Info));
                }>
                    {Severity::ALL.iter().map(|s| view! { <option value=s.as_str()>{format!("≥ {s}")}</option> }).collect_view()}
                </select>
                <select aria-label="Sort" on:change=move |ev| sort.set(Sort::parse(&event_target_value(&ev)))>
                    <option value="severity">"Worst first"</option>
                    <option value="newest">"Newest first"</option>
                    <option value="subject">"By namespace"</option>
                </select>
                <input type="search" placeholder="Filter" aria-label="Filter findings"
                    on:input=move |ev| text.set(event_target_value(&ev))/>
            </div>
            {move || error.get().map(|e| view! { <p class="gl-findings-error">{e}</p> })}
            <ol class="gl-findings-list">{rows}</ol>
        </aside>
    }
}

/// One finding: a button that selects its subject and lights its chain, and, once expanded, the events that
/// explain it.
fn row(f: &Finding, view: View, expanded: RwSignal<Option<String>>, now: RwSignal<i64>) -> impl IntoView {
    let key = f.key.clone();
    let is_expanded = {
        let key = key.clone();
        move || expanded.get().as_deref() == Some(key.as_str())
    };
    let subject = f.subject.clone();
    let chain = f.entities.clone();
    let select = move |_| {
        view.selected.set(Some(subject.clone()));
        view.highlight.set(chain.clone());
        expanded.update(|e| *e = if e.as_deref() == Some(key.as_str()) { None } else { Some(key.clone()) });
    };
    let id = &f.subject;
    let place = if id.namespace().is_empty() {
        format!("{} {}", id.kind(), id.name())
    } else {
        format!("{} {}/{}", id.kind(), id.namespace(), id.name())
    };
    let (opened, resolved) = (f.opened, f.resolved);
    let when = move || match resolved {
        Some(r) => format!("resolved {} ago, lasted {}", ago(now.get() - r), ago(r - opened)),
        None => format!("for {}", ago(now.get() - opened)),
    };
    let events = f.events.clone();
    view! {
        <li class="gl-finding" data-severity=f.severity.as_str() data-open=f.is_open().to_string()>
            <button type="button" class="gl-finding-head" on:click=select aria-expanded={
                let is_expanded = is_expanded.clone();
                move || is_expanded().to_string()
            }>
                <span class="gl-sev">{f.severity.as_str()}</span>
                <span class="gl-finding-msg">{f.message.clone()}</span>
                <span class="gl-finding-subject">{place}</span>
                <span class="gl-finding-meta">{format!("{} · {}", f.detector, f.tier)} " · " {when}</span>
            </button>
            <Show when=is_expanded>
                <ul class="gl-finding-events">
                    {events.is_empty().then(|| view! { <li>"No warning events recorded."</li> })}
                    {events
                        .iter()
                        .map(|e| view! {
                            <li><b>{e.reason.clone()}</b>" ×"{e.count}": "{e.message.clone()}</li>
                        })
                        .collect_view()}
                </ul>
            </Show>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::finding::{Detector, Tier};
    use topology::{EntityId, Kind};

    fn finding(name: &str, severity: Severity, opened: i64, resolved: Option<i64>) -> Finding {
        let subject = EntityId::new("c", Kind::Pod, "shop", name);
        Finding {
            key: Finding::key_of(Detector::CrashLoop, &subject),
            detector: Detector::CrashLoop,
            severity,
            tier: Tier::P2,
            entities: vec![subject.clone()],
            subject,
            message: format!("{name} is crashing"),
            opened,
            resolved,
            events: Vec::new(),
        }
    }

    fn names(list: &[Finding]) -> Vec<&str> {
        list.iter().map(|f| f.subject.name()).collect()
    }

    #[test]
    fn the_open_tab_lists_open_findings_worst_first_then_newest() {
        let all = [
            finding("a", Severity::Warning, 10, None),
            finding("b", Severity::Critical, 5, None),
            finding("c", Severity::Warning, 20, None),
            finding("d", Severity::Critical, 1, Some(2)),
        ];
        assert_eq!(names(&listed(&all, Tab::Open, Severity::Info, "", Sort::Severity)), ["b", "c", "a"]);
        assert_eq!(names(&listed(&all, Tab::Open, Severity::High, "", Sort::Severity)), ["b"]);
        assert_eq!(names(&listed(&all, Tab::Recent, Severity::Info, "", Sort::Newest)), ["d"]);
        assert_eq!(names(&listed(&all, Tab::Open, Severity::Info, "", Sort::Subject)), ["a", "b", "c"]);
        assert_eq!(names(&listed(&all, Tab::Open, Severity::Info, " C IS", Sort::Severity)), ["c"]);
        assert_eq!(
            names(&listed(&all, Tab::Open, Severity::Info, "crash-loop", Sort::Newest)),
            ["c", "a", "b"]
        );
    }

    #[test]
    fn a_badge_gets_the_worst_open_severity_of_its_subject() {
        let mut oom = finding("a", Severity::Critical, 3, None);
        oom.detector = Detector::OomKilled;
        let all = [
            finding("a", Severity::Warning, 1, None),
            oom,
            finding("b", Severity::Info, 2, None),
            finding("c", Severity::Critical, 1, Some(2)),
        ];
        let worst = worst_open(&all);
        let id = |name| EntityId::new("c", Kind::Pod, "shop", name);
        assert_eq!(worst.len(), 2, "the resolved one carries no badge: {worst:?}");
        assert_eq!(worst[&id("a")], Severity::Critical);
        assert_eq!(worst[&id("b")], Severity::Info);
    }

    #[test]
    fn ages_are_coarse() {
        assert_eq!([ago(-5), ago(59), ago(61), ago(7200), ago(90_000)], ["0s", "59s", "1m", "2h", "1d"]);
    }
}
