//! The page's connection to the live stream, as the status badge shows it.
//!
//! Kept apart from the socket code so the wording is tested natively: what a wall display says when the
//! network drops at night is what people read in the morning.

use topology::protocol::LinkState;

/// What the page knows about its link to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Opening the socket, waiting for the first snapshot.
    Connecting,
    /// Connected; the server's own view of its data.
    Connected {
        /// Live, stale (the server lost its cluster), connecting (the server is still listing) or resyncing.
        server: LinkState,
        /// The server's explanation, possibly empty.
        message: String,
    },
    /// The socket is down and the page retries.
    Reconnecting {
        /// When the link was lost (ms since the epoch).
        since: f64,
        /// When the data shown was last known current (ms since the epoch), if any data was ever shown.
        data_at: Option<f64>,
        /// Retries so far.
        attempt: u32,
    },
}

impl Connection {
    /// A one-word state for styling and tests: `connecting`, `live`, `stale` or `reconnecting`.
    pub fn state(&self) -> &'static str {
        match self {
            Connection::Connecting | Connection::Connected { server: LinkState::Connecting, .. } => {
                "connecting"
            }
            Connection::Connected { server: LinkState::Live | LinkState::Resyncing, .. } => "live",
            Connection::Connected { server: LinkState::Stale, .. } => "stale",
            Connection::Reconnecting { .. } => "reconnecting",
        }
    }

    /// The badge text. `now` is in ms since the epoch; `clock` formats such a time as the viewer's `hh:mm:ss`.
    pub fn label(&self, now: f64, clock: impl Fn(f64) -> String) -> String {
        match self {
            Connection::Connecting => "connecting…".to_owned(),
            Connection::Connected { server, message } => {
                let head = match server {
                    LinkState::Live => "live",
                    LinkState::Resyncing => "catching up",
                    LinkState::Connecting => "server is listing the cluster",
                    LinkState::Stale => "stale",
                };
                if message.is_empty() {
                    head.to_owned()
                } else {
                    format!("{head} · {message}")
                }
            }
            Connection::Reconnecting { since, data_at, attempt } => {
                let head = format!("reconnecting (attempt {attempt}) · stale since {}", clock(*since));
                match data_at {
                    Some(at) => format!("{head} · data {} old", age(now - at)),
                    None => head,
                }
            }
        }
    }
}

/// A duration in ms as people say it: `12 s`, `4 min`, `3 h`, `2 d`.
pub fn age(ms: f64) -> String {
    let secs = (ms / 1000.0).max(0.0) as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86400),
    }
}

/// The delay before reconnection attempt `attempt` (1-based): doubling from 500 ms, capped at 30 s, with up
/// to ±20% jitter from `unit` (a random number in `0..1`) so a fleet of wall displays does not reconnect in
/// lockstep after a server restart.
pub fn backoff_ms(attempt: u32, unit: f64) -> u32 {
    let base = (500.0 * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(30_000.0);
    let jitter = 1.0 + (unit.clamp(0.0, 1.0) - 0.5) * 0.4;
    (base * jitter) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(ms: f64) -> String {
        let secs = (ms / 1000.0) as u64 % 86400;
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }

    #[test]
    fn a_lost_link_says_since_when_and_how_old_the_data_is() {
        let lost = Connection::Reconnecting { since: 45_296_000.0, data_at: Some(45_290_000.0), attempt: 3 };
        assert_eq!(
            lost.label(45_296_000.0 + 120_000.0, utc),
            "reconnecting (attempt 3) · stale since 12:34:56 · data 2 min old"
        );
        assert_eq!(lost.state(), "reconnecting");
        let never = Connection::Reconnecting { since: 0.0, data_at: None, attempt: 1 };
        assert_eq!(never.label(1000.0, utc), "reconnecting (attempt 1) · stale since 00:00:00");
    }

    #[test]
    fn a_connected_page_shows_the_servers_view() {
        let live = Connection::Connected { server: LinkState::Live, message: String::new() };
        assert_eq!((live.label(0.0, utc), live.state()), ("live".to_owned(), "live"));
        let stale = Connection::Connected { server: LinkState::Stale, message: "watch failing".into() };
        assert_eq!((stale.label(0.0, utc), stale.state()), ("stale · watch failing".to_owned(), "stale"));
        assert_eq!(Connection::Connecting.state(), "connecting");
    }

    #[test]
    fn ages_read_like_people_say_them() {
        assert_eq!(age(12_400.0), "12 s");
        assert_eq!(age(4.5 * 60_000.0), "4 min");
        assert_eq!(age(3.0 * 3_600_000.0), "3 h");
        assert_eq!(age(-5.0), "0 s");
        assert_eq!(age(2.0 * 86_400_000.0), "2 d");
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_bounded_jitter() {
        assert_eq!(backoff_ms(1, 0.5), 500);
        assert_eq!(backoff_ms(2, 0.5), 1000);
        assert_eq!(backoff_ms(4, 0.5), 4000);
        assert_eq!(backoff_ms(30, 0.5), 30_000);
        assert_eq!(backoff_ms(1, 0.0), 400);
        assert_eq!(backoff_ms(1, 1.0), 600);
    }
}
