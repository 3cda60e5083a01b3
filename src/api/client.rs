//! The client's address: the TCP peer, or — only when that peer is a trusted proxy — the
//! nearest untrusted address in X-Forwarded-For. So a spoofed header from a stranger is ignored
//! and a hospital's proxy does not make all its nurses one client.

use std::net::IpAddr;

use ipnet::IpNet;

pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let hops: Vec<IpAddr> = header
        .split(',')
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .collect();
    // Walk from the nearest hop outwards; the first address not ours is the client.
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(hops.first())
        .copied()
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn table() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let cases = [
            (
                "untrusted peer ignores the header",
                "203.0.113.9",
                Some("198.51.100.1"),
                "203.0.113.9",
            ),
            ("trusted peer without header", "10.0.0.2", None, "10.0.0.2"),
            (
                "trusted peer: nearest untrusted hop",
                "10.0.0.2",
                Some("198.51.100.1, 203.0.113.7"),
                "203.0.113.7",
            ),
            (
                "proxies chained",
                "10.0.0.2",
                Some("198.51.100.1, 10.1.1.1"),
                "198.51.100.1",
            ),
            (
                "all hops trusted: the first",
                "10.0.0.2",
                Some("10.9.9.9, 10.1.1.1"),
                "10.9.9.9",
            ),
            ("garbage header", "10.0.0.2", Some("not-an-ip"), "10.0.0.2"),
        ];
        for (name, peer, header, expected) in cases {
            assert_eq!(
                client_address(Some(ip(peer)), header, &trusted),
                Some(ip(expected)),
                "{name}"
            );
        }
    }
}
