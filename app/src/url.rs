//! The page's state as a query string, so any view (filters, selection, camera, table, kiosk) is a link.
//!
//! Pure parse and format, natively tested; the page reads it once at load and mirrors changes back with
//! `history.replaceState` (one history entry per visit, not per keystroke). Unknown or malformed parameters
//! are ignored rather than rejected: a hand-edited link should still open the map.

use std::fmt::Write as _;

use topology::{EntityId, HealthLevel, Kind};

use crate::filters::Filters;
use crate::view::CameraView;

/// Everything the URL carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlState {
    /// `ns`, `kind`, `health`, `q`.
    pub filters: Filters,
    /// `sel`: the selected entity (`cluster/kind/namespace/name`).
    pub selected: Option<EntityId>,
    /// `cam=tx,ty,tz,yaw,pitch,distance`.
    pub camera: Option<CameraView>,
    /// `kiosk=1`.
    pub kiosk: bool,
    /// `view=table`.
    pub table: bool,
}

impl UrlState {
    /// Reads the decoded query pairs; unknown keys and unparsable values are skipped.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> UrlState {
        let mut state = UrlState::default();
        for (key, value) in pairs {
            match key {
                "ns" if !value.is_empty() => state.filters.namespace = Some(value.to_owned()),
                "kind" => state.filters.kind = value.parse::<Kind>().ok(),
                "health" => state.filters.health = parse_health(value),
                "q" => value.clone_into(&mut state.filters.text),
                "sel" => state.selected = value.parse().ok(),
                "cam" => state.camera = parse_camera(value),
                "kiosk" => state.kiosk = matches!(value, "1" | "true"),
                "view" => state.table = value == "table",
                _ => {}
            }
        }
        state
    }

    /// Parses a raw query string (`?a=b&c=d` or `a=b&c=d`), percent-decoding keys and values.
    pub fn from_query(query: &str) -> UrlState {
        let decoded: Vec<(String, String)> = query
            .trim_start_matches('?')
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key), decode(value))
            })
            .collect();
        UrlState::parse(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The query string, `?…` or empty when the state is the default; parameters in a fixed order so equal
    /// states give equal links.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(namespace) = &self.filters.namespace {
            pairs.push(("ns", namespace.clone()));
        }
        if let Some(kind) = self.filters.kind {
            pairs.push(("kind", kind.as_str().to_owned()));
        }
        if let Some(health) = self.filters.health {
            pairs.push(("health", health.as_str().to_owned()));
        }
        if !self.filters.text.is_empty() {
            pairs.push(("q", self.filters.text.clone()));
        }
        if let Some(selected) = &self.selected {
            pairs.push(("sel", selected.to_string()));
        }
        if let Some(camera) = &self.camera {
            pairs.push(("cam", format_camera(camera)));
        }
        if self.table {
            pairs.push(("view", String::from("table")));
        }
        if self.kiosk {
            pairs.push(("kiosk", String::from("1")));
        }
        if pairs.is_empty() {
            return String::new();
        }
        let joined: Vec<String> =
            pairs.iter().map(|(key, value)| format!("{key}={}", encode(value))).collect();
        format!("?{}", joined.join("&"))
    }
}

/// A health level by its lowercase name.
pub fn parse_health(value: &str) -> Option<HealthLevel> {
    HealthLevel::ALL.into_iter().find(|level| level.as_str() == value)
}

/// Six finite numbers, the distance positive; anything else is no camera.
fn parse_camera(value: &str) -> Option<CameraView> {
    let numbers: Vec<f32> =
        value.split(',').map(|part| part.trim().parse::<f32>()).collect::<Result<_, _>>().ok()?;
    let [tx, ty, tz, yaw, pitch, distance] = numbers[..] else { return None };
    if numbers.iter().any(|n| !n.is_finite()) || distance <= 0.0 {
        return None;
    }
    Some(CameraView { target: [tx, ty, tz], yaw, pitch, distance })
}

/// Two decimals are a centimetre and half a milliradian: plenty, and short links.
fn format_camera(camera: &CameraView) -> String {
    let [tx, ty, tz] = camera.target;
    [tx, ty, tz, camera.yaw, camera.pitch, camera.distance]
        .iter()
        .map(|n| {
            let text = format!("{n:.2}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            if text == "-0" {
                String::from("0")
            } else {
                text.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Percent-encodes everything but the unreserved characters, `/` and `,` (ids and cameras stay readable).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/,".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Percent- and `+`-decoding; invalid escapes are kept as written, invalid UTF-8 replaced.
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One hexadecimal digit's value.
fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_state_round_trips_through_the_query_string() {
        let state = UrlState {
            filters: Filters {
                namespace: Some(String::from("kgents-triad")),
                kind: Some(Kind::Pod),
                health: Some(HealthLevel::Unhealthy),
                text: String::from("app=api gateway"),
            },
            selected: Some("demo/pod/kgents-triad/api-0".parse().unwrap()),
            camera: Some(CameraView { target: [1.5, 0.0, -2.25], yaw: 0.5, pitch: -0.3, distance: 40.0 }),
            kiosk: true,
            table: true,
        };
        let query = state.to_query();
        assert_eq!(
            query,
            "?ns=kgents-triad&kind=pod&health=unhealthy&q=app%3Dapi%20gateway&sel=demo/pod/kgents-triad/api-0\
             &cam=1.5,0,-2.25,0.5,-0.3,40&view=table&kiosk=1"
        );
        assert_eq!(UrlState::from_query(&query), state);
    }

    #[test]
    fn the_default_state_is_an_empty_query() {
        assert_eq!(UrlState::default().to_query(), "");
        assert_eq!(UrlState::from_query(""), UrlState::default());
    }

    #[test]
    fn malformed_values_are_ignored_not_fatal() {
        let state =
            UrlState::from_query("?kind=gizmo&health=so-so&sel=nope&cam=1,2,3&kiosk=yes&view=grid&x=1");
        assert_eq!(state, UrlState::default());
        assert_eq!(UrlState::from_query("cam=0,0,0,0,0,-5").camera, None);
        assert_eq!(UrlState::from_query("cam=0,0,0,0,0,NaN").camera, None);
    }

    #[test]
    fn plus_and_bad_escapes_decode_leniently() {
        assert_eq!(UrlState::from_query("q=a+b%2").filters.text, "a b%2");
        assert_eq!(UrlState::from_query("q=%ZZx").filters.text, "%ZZx");
        assert_eq!(UrlState::from_query("kind=svc").filters.kind, Some(Kind::Service));
    }
}
