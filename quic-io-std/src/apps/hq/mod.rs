//! hq-interop: HTTP/0.9 over QUIC, as the QUIC interop runner uses it.
//!
//! The client opens one bidirectional stream per request, writes
//! `GET /path\r\n` and ends its side; the server answers with the file's
//! raw bytes and ends its side. There are no headers and no status: a failed
//! request is a stream reset with one of the codes below (ours; the protocol
//! defines none). They mirror HTTP status codes so logs read naturally.
//!
//! | code | constant | meaning |
//! |---|---|---|
//! | 400 | [`ERROR_BAD_REQUEST`] | not `GET /path`, not UTF-8, bad percent-escape, or over [`MAX_REQUEST`] bytes |
//! | 403 | [`ERROR_FORBIDDEN`] | the path leaves the root (`..`, a symlink pointing outside) or the file is not readable |
//! | 404 | [`ERROR_NOT_FOUND`] | no such file |
//! | 500 | [`ERROR_INTERNAL`] | reading the file failed midway |
//! | 0 | [`ERROR_CANCELLED`] | the client gave up on a response (STOP_SENDING) |

mod client;
mod server;

pub use self::client::{
    HqClient, HqUrl, Output, RequestError, RequestReport, RequestState, UrlError,
};
pub use self::server::{HqServer, HqServerStats, LogEntry, LogOutcome};

/// The ALPN protocol name.
pub const ALPN: &[u8] = b"hq-interop";

/// Reset code: the request is malformed or too long.
pub const ERROR_BAD_REQUEST: u32 = 400;
/// Reset code: the path leaves the root, or the file may not be read.
pub const ERROR_FORBIDDEN: u32 = 403;
/// Reset code: no such file.
pub const ERROR_NOT_FOUND: u32 = 404;
/// Reset code: reading the file failed after the response began.
pub const ERROR_INTERNAL: u32 = 500;
/// Reset / stop code for a transfer abandoned on purpose.
pub const ERROR_CANCELLED: u32 = 0;

/// The longest request line the server reads, in bytes (`GET `, the path
/// and the line end). A longer request is reset with
/// [`ERROR_BAD_REQUEST`].
pub const MAX_REQUEST: usize = 4096;

/// The size of the chunks files are read and written in; also the most a
/// stream buffers outside the transport.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Why a request was refused, before any response byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    BadRequest,
    Forbidden,
    NotFound,
}

impl Refusal {
    pub(crate) fn code(self) -> u32 {
        match self {
            Self::BadRequest => ERROR_BAD_REQUEST,
            Self::Forbidden => ERROR_FORBIDDEN,
            Self::NotFound => ERROR_NOT_FOUND,
        }
    }
}

/// The path of a complete request line (`GET /path` with `\r\n`, `\n` or
/// nothing after it), or why it is refused.
pub(crate) fn parse_request(line: &[u8]) -> Result<&str, Refusal> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = core::str::from_utf8(line).map_err(|_| Refusal::BadRequest)?;
    let path = line.strip_prefix("GET ").ok_or(Refusal::BadRequest)?;
    let path = path.trim();
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(Refusal::BadRequest);
    }
    Ok(path)
}

/// Decodes `%XX` escapes; refuses bad escapes, NUL and non-UTF-8 results.
pub(crate) fn percent_decode(s: &str) -> Result<String, Refusal> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Refusal::BadRequest)?;
            let hex = core::str::from_utf8(hex).map_err(|_| Refusal::BadRequest)?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| Refusal::BadRequest)?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(Refusal::BadRequest);
    }
    String::from_utf8(out).map_err(|_| Refusal::BadRequest)
}

/// The relative path below the root that a request path names: the query
/// and fragment are dropped, escapes decoded, empty and `.` segments
/// skipped; `..` and segments with a backslash or a drive colon are
/// refused, so the result never climbs out of the root lexically.
pub(crate) fn request_relative_path(path: &str) -> Result<std::path::PathBuf, Refusal> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path)?;
    let mut rel = std::path::PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(Refusal::Forbidden),
            s if s.contains(['\\', ':']) => return Err(Refusal::Forbidden),
            s => rel.push(s),
        }
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_parse_or_are_refused() {
        assert_eq!(parse_request(b"GET /a.txt\r\n"), Ok("/a.txt"));
        assert_eq!(parse_request(b"GET /a.txt\n"), Ok("/a.txt"));
        assert_eq!(parse_request(b"GET /a.txt"), Ok("/a.txt"));
        assert_eq!(parse_request(b"GET /"), Ok("/"));
        assert_eq!(parse_request(b"POST /a\r\n"), Err(Refusal::BadRequest));
        assert_eq!(parse_request(b"GET a\r\n"), Err(Refusal::BadRequest));
        assert_eq!(parse_request(b"GET /a b\r\n"), Err(Refusal::BadRequest));
        assert_eq!(parse_request(b"GET /\xff\r\n"), Err(Refusal::BadRequest));
        assert_eq!(parse_request(b""), Err(Refusal::BadRequest));
    }

    #[test]
    fn paths_stay_below_the_root() {
        let ok = |p: &str| request_relative_path(p).unwrap();
        assert_eq!(ok("/a/b.txt"), std::path::Path::new("a/b.txt"));
        assert_eq!(ok("//a/./b.txt?x=1#f"), std::path::Path::new("a/b.txt"));
        assert_eq!(ok("/a%20b"), std::path::Path::new("a b"));
        assert_eq!(ok("/"), std::path::Path::new(""));
        for bad in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/secret",
            "/a%2f..%2f..%2fb",
            "/a\\..\\b",
            "/c:/windows",
        ] {
            assert_eq!(request_relative_path(bad), Err(Refusal::Forbidden), "{bad}");
        }
        for bad in ["/%zz", "/%0", "/a%00b", "/%ff"] {
            assert_eq!(
                request_relative_path(bad),
                Err(Refusal::BadRequest),
                "{bad}"
            );
        }
    }
}
