//! What a request sticks by: a header, a cookie, or the client's address.

use std::fmt;
use std::str::FromStr;

use pingora_core::protocols::l4::socket::SocketAddr;
use pingora_http::RequestHeader;

/// The session key of a request: requests with the same key go to the same backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affinity {
    /// The value of this request header (the first one if repeated).
    Header(String),
    /// The value of this cookie.
    Cookie(String),
    /// The client's IP address (not its port, which changes per connection).
    ClientAddr,
}

/// A request with no key under its [`Affinity`] (no such header or cookie) falls back to the
/// client's IP address; one without even that (a Unix-socket client) uses the empty key.
impl Affinity {
    /// The session key of a request from `client` with headers `req`.
    pub fn key(&self, req: &RequestHeader, client: Option<&SocketAddr>) -> Vec<u8> {
        let found = match self {
            Affinity::Header(name) => req
                .headers
                .get(name.as_str())
                .map(|v| v.as_bytes().to_vec()),
            Affinity::Cookie(name) => cookie(req, name),
            Affinity::ClientAddr => None,
        };
        found.unwrap_or_else(|| match client {
            Some(SocketAddr::Inet(addr)) => addr.ip().to_string().into_bytes(),
            _ => Vec::new(),
        })
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(req: &RequestHeader, name: &str) -> Option<Vec<u8>> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (&pair[..eq] == name.as_bytes()).then(|| pair[eq + 1..].to_vec())
        })
}

/// Why an affinity spec did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("affinity {0:?}: expected `header:NAME`, `cookie:NAME` or `client`")]
pub struct BadAffinity(pub String);

impl FromStr for Affinity {
    type Err = BadAffinity;

    /// `header:NAME`, `cookie:NAME` or `client`.
    fn from_str(s: &str) -> Result<Self, BadAffinity> {
        match s.split_once(':') {
            Some(("header", name)) if !name.is_empty() => Ok(Affinity::Header(name.to_owned())),
            Some(("cookie", name)) if !name.is_empty() => Ok(Affinity::Cookie(name.to_owned())),
            None if s == "client" => Ok(Affinity::ClientAddr),
            _ => Err(BadAffinity(s.to_owned())),
        }
    }
}

impl fmt::Display for Affinity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Affinity::Header(n) => write!(f, "header:{n}"),
            Affinity::Cookie(n) => write!(f, "cookie:{n}"),
            Affinity::ClientAddr => f.write_str("client"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn keys_by_header_cookie_and_client() {
        let client = SocketAddr::Inet("192.0.2.7:5555".parse().unwrap());
        let r = req(&[
            ("x-session", "s1"),
            ("cookie", "a=1; sid=abc"),
            ("cookie", "z=9"),
        ]);
        let by = |a: &str| {
            String::from_utf8(a.parse::<Affinity>().unwrap().key(&r, Some(&client))).unwrap()
        };
        assert_eq!(by("header:x-session"), "s1");
        assert_eq!(by("cookie:sid"), "abc");
        assert_eq!(by("cookie:z"), "9");
        assert_eq!(by("client"), "192.0.2.7");
        // Missing header or cookie: the client's address.
        assert_eq!(by("header:x-other"), "192.0.2.7");
        assert_eq!(by("cookie:id"), "192.0.2.7");
        assert_eq!(Affinity::ClientAddr.key(&r, None), b"");
    }

    #[test]
    fn specs_parse_and_print_back() {
        for s in ["header:x-session", "cookie:sid", "client"] {
            assert_eq!(s.parse::<Affinity>().unwrap().to_string(), s);
        }
        for bad in ["", "header:", "cookie", "ip", "client:x"] {
            assert_eq!(bad.parse::<Affinity>(), Err(BadAffinity(bad.to_owned())));
        }
    }
}
