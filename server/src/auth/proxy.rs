//! Trusted reverse-proxy identity: a proxy that has authenticated the user (oauth2-proxy, an ingress with
//! external auth) passes the user and groups in headers. Anyone can send those headers, so they count only on
//! connections whose TCP peer is in `--auth-proxy-cidrs`. `X-Forwarded-For` is never consulted: it is as easy
//! to forge as the identity headers themselves.

use std::net::IpAddr;
use std::str::FromStr;

/// An IP network, `10.0.0.0/8` or `fd00::/8` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A malformed CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP network such as 10.0.0.0/8")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let error = || CidrError(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| error())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(error)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// Whether `peer` is in this network (IPv4-mapped IPv6 peers count as IPv4).
    pub fn contains(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        match (self.network, peer) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:10.0.0.1` as `10.0.0.1`.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The proxy settings.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The user header.
    pub user_header: axum::http::HeaderName,
    /// The groups header (comma-separated), if any.
    pub groups_header: Option<axum::http::HeaderName>,
    /// The peers trusted to send them.
    pub cidrs: Vec<Cidr>,
}

/// A user the proxy vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUser {
    /// The user.
    pub user: String,
    /// The groups.
    pub groups: Vec<String>,
}

impl Proxy {
    /// The user in the headers, if `peer` is a trusted proxy and the user header is there.
    pub fn user(&self, headers: &axum::http::HeaderMap, peer: Option<IpAddr>) -> Option<ProxyUser> {
        let peer = peer?;
        if !self.cidrs.iter().any(|cidr| cidr.contains(peer)) {
            return None;
        }
        let user = headers.get(&self.user_header)?.to_str().ok()?.trim();
        if user.is_empty() || user.len() > 256 {
            return None;
        }
        let groups = self
            .groups_header
            .as_ref()
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',').map(str::trim).filter(|g| !g.is_empty()).take(256).map(str::to_owned).collect()
            })
            .unwrap_or_default();
        Some(ProxyUser { user: user.to_owned(), groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: Cidr = "192.168.1.7".parse().unwrap();
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("ten/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn identity_headers_count_only_from_a_trusted_peer() {
        let proxy = Proxy {
            user_header: HeaderName::from_static("x-forwarded-user"),
            groups_header: Some(HeaderName::from_static("x-forwarded-groups")),
            cidrs: vec!["10.0.0.0/8".parse().unwrap()],
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-user", HeaderValue::from_static("alice"));
        headers.insert("x-forwarded-groups", HeaderValue::from_static("dev, ops"));
        // The forged X-Forwarded-For changes nothing: only the TCP peer counts.
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        assert_eq!(
            proxy.user(&headers, Some(ip("10.2.3.4"))),
            Some(ProxyUser { user: "alice".into(), groups: vec!["dev".into(), "ops".into()] })
        );
        assert_eq!(proxy.user(&headers, Some(ip("192.168.0.1"))), None);
        assert_eq!(proxy.user(&headers, None), None);
    }
}
