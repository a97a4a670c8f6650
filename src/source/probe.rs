//! Why a stream did not open. OpenCV reports only that an open failed; a user needs to know
//! whether the host is down, the credentials are wrong, or the path does not exist. One RTSP
//! DESCRIBE (or HTTP GET) answers that, in one line. The probe never sends the credentials: FFmpeg
//! has just tried them (with Digest where the server asks for it), and a probe repeated at every
//! reconnection must not put a password on the wire in clear.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The parts of a stream URL a probe needs.
struct Target {
    scheme: String,
    host: String,
    port: u16,
    /// The URL without its user information, as it goes on the request line.
    bare_url: String,
    has_credentials: bool,
}

fn parse(url: &str) -> Option<Target> {
    let (scheme, rest) = url.split_once("://")?;
    let (credentials, host_port, path) = super::split_authority(rest);
    let default_port = match scheme {
        "rtsp" => 554,
        "http" => 80,
        "https" => 443,
        "rtmp" => 1935,
        _ => return None,
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host_port.starts_with('[') => {
            (h.to_string(), p.parse().ok()?)
        }
        _ => (host_port.to_string(), default_port),
    };
    Some(Target {
        scheme: scheme.to_string(),
        bare_url: format!("{scheme}://{host_port}{path}"),
        host,
        port,
        has_credentials: credentials.is_some(),
    })
}

/// A one-line reason the stream at `url` cannot be read, when the server can tell; `None` when
/// it answers normally (the stream itself is then the problem) or the scheme is not probed.
pub fn explain_failure(url: &str, timeout_s: f64) -> Option<String> {
    let target = parse(url)?;
    let timeout = Duration::from_secs_f64(timeout_s.clamp(0.1, 10.0));
    let Some(addr) = resolve(&target.host, target.port, timeout) else {
        return Some(format!("cannot resolve host '{}'", target.host));
    };
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            return Some(format!(
                "cannot connect to {}:{}: {e}",
                target.host, target.port
            ))
        }
    };
    let request = match target.scheme.as_str() {
        "rtsp" => format!(
            "DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n",
            target.bare_url
        ),
        "http" => {
            let path = target.bare_url.splitn(4, '/').nth(3).unwrap_or("");
            format!("GET /{path} HTTP/1.0\r\nHost: {}\r\n", target.host)
        }
        _ => return None, // reachable; its protocol is not probed here
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    if stream
        .write_all(format!("{request}User-Agent: vigil\r\n\r\n").as_bytes())
        .is_err()
    {
        return Some(format!(
            "{}:{} closed the connection",
            target.host, target.port
        ));
    }
    let mut head = [0u8; 256];
    let n = match stream.read(&mut head) {
        Ok(n) => n,
        // A server that takes the connection and says nothing (hung, or not speaking this
        // protocol) is not one that answered with something else.
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            return Some(format!(
                "{}:{} accepted the connection but did not answer within {} s",
                target.host,
                target.port,
                timeout.as_secs_f64()
            ));
        }
        Err(_) => 0,
    };
    let status_line = String::from_utf8_lossy(&head[..n]);
    let status_line = status_line.lines().next().unwrap_or("").trim();
    explain_status(status_line, target.has_credentials)
}

/// The first address of `host`, or `None` when it cannot be found within `timeout`. The system
/// resolver has no timeout of its own, and a probe must not hold the camera's reconnection
/// behind a DNS server that does not answer: the lookup runs on a thread that is left behind
/// if it does not finish in time.
fn resolve(host: &str, port: u16, timeout: Duration) -> Option<SocketAddr> {
    let host = host.trim_matches(['[', ']']).to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("probe-dns".into())
        .spawn(move || {
            let first = (host.as_str(), port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next());
            let _ = tx.send(first);
        })
        .ok()?;
    rx.recv_timeout(timeout).ok().flatten()
}

fn explain_status(status_line: &str, had_credentials: bool) -> Option<String> {
    let mut parts = status_line.splitn(3, ' ');
    let (_, code) = (parts.next(), parts.next());
    // The server's words go into logs and /healthz: printable characters only, and few.
    let reason: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(60)
        .collect();
    let Some(code) = code.and_then(|c| c.parse::<u16>().ok()) else {
        return Some("the server's answer is not RTSP or HTTP".into());
    };
    match code {
        200..=299 => None,
        401 | 403 if had_credentials => Some(format!(
            "the server refused the credentials ({code} {reason})"
        )),
        401 | 403 => Some(format!(
            "the server requires credentials ({code} {reason}): put them in the URL"
        )),
        404 => Some(format!("no such stream on the server ({code} {reason})")),
        _ => Some(format!("the server answered {code} {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_answers_within_its_timeout() {
        let timeout = Duration::from_secs(2);
        assert!(resolve("127.0.0.1", 554, timeout).is_some());
        assert!(resolve("[::1]", 554, timeout).is_some());
        let started = std::time::Instant::now();
        assert!(resolve("no-such-camera.invalid", 554, timeout).is_none());
        // Within its timeout, give or take what a loaded machine adds; a resolver left to
        // itself may wait far longer on a name that does not answer.
        assert!(started.elapsed() < timeout + Duration::from_secs(10));
    }

    #[test]
    fn parse_separates_credentials_from_the_request_url() {
        let t = parse("rtsp://user:p%40ss@10.0.0.1:8554/cam?x=1").unwrap();
        assert_eq!(t.bare_url, "rtsp://10.0.0.1:8554/cam?x=1");
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.1", 8554));
        assert!(t.has_credentials);
        assert_eq!(parse("http://cam.local/mjpg").unwrap().port, 80);
    }

    #[test]
    fn statuses_become_reasons_without_secrets() {
        assert_eq!(explain_status("RTSP/1.0 200 OK", true), None);
        let e = explain_status("RTSP/1.0 401 Unauthorized", true).unwrap();
        assert!(e.contains("refused the credentials"), "{e}");
        assert!(explain_status("RTSP/1.0 404 Not Found", false)
            .unwrap()
            .contains("no such stream"));
    }

    #[test]
    fn a_closed_port_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(); // the listener is dropped: nothing listens there now
        let why = explain_failure(&format!("rtsp://u:secret@127.0.0.1:{port}/cam"), 1.0).unwrap();
        assert!(why.contains(&format!("127.0.0.1:{port}")), "{why}");
        assert!(!why.contains("secret"));
    }

    #[test]
    fn a_server_that_never_answers_is_told_from_one_that_speaks_another_protocol() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts (the kernel does, into the backlog) and never says a word.
        let why = explain_failure(&format!("rtsp://127.0.0.1:{port}/cam"), 0.3).unwrap();
        assert!(why.contains("did not answer within 0.3 s"), "{why}");
        drop(listener);
    }
}
