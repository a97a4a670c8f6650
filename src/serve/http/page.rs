//! The status page: a card per camera with its live preview (or refreshed snapshots) and its
//! counters, which the page's script refreshes from `/healthz`. Built per request from the
//! cameras present then, since cameras can be added and removed while the daemon runs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY};
use axum::response::{IntoResponse, Response};

use super::state::{blocking, ApiError, CameraView};
use super::App;

/// Browsers open at most 6 connections per host over HTTP/1.1 and each live preview holds one:
/// the status page streams this many cameras and refreshes snapshots of the others, so that its
/// `/healthz` polling always has a connection left.
const LIVE_PREVIEWS_ON_PAGE: usize = 4;

/// `GET /` and `/index.html`. The page sends its address nowhere and runs only its own inline
/// script: the token may be in its URL.
pub(super) async fn index(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let cameras = app.state.cameras.clone();
    let views = blocking(move || cameras.views()).await?;
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (REFERRER_POLICY, "no-referrer"),
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                 frame-ancestors 'none'",
            ),
        ],
        status_page(&views),
    )
        .into_response())
}

const PAGE_HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#111;color:#ddd}
header{padding:10px 16px;background:#1c1c1c;display:flex;gap:16px;align-items:baseline}
h1{font-size:18px;margin:0}
a{color:#8ab4f8}
#up{color:#999}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px;padding:12px}
.card{background:#1c1c1c;border-radius:6px;overflow:hidden}
.card img,.none{width:100%;aspect-ratio:16/9;display:block;background:#000;object-fit:contain}
.none{display:flex;align-items:center;justify-content:center;color:#666}
.info{padding:8px 12px}
.name{font-weight:600;margin-right:8px}
.src{color:#888;font-size:12px;word-break:break-all;margin-top:2px}
.state{padding:1px 8px;border-radius:9px;background:#444;font-size:12px}
.streaming{background:#1e6b35}.connecting,.stalled,.backoff{background:#8a6d1a}.failed{background:#8a1f1f}
.for{color:#999;font-size:12px;margin-left:6px}
dl{display:grid;grid-template-columns:repeat(4,auto);gap:2px 10px;margin:8px 0 0;font-size:12px}
dt{color:#888}dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.err{color:#e88;font-size:12px;margin-top:6px;word-break:break-word}
</style></head><body>
<header><h1>vigil</h1><span id="up">connecting…</span><a id="metrics" href="/metrics">metrics</a></header>
<main>
"#;

/// Fills the cards from `/healthz` every 2 s. The token the page was loaded with (still
/// percent-encoded, exactly as the server accepted it) goes on every URL it loads.
const PAGE_TAIL: &str = r#"</main>
<script>
(function () {
  var m = /[?&]token=([^&#]*)/.exec(location.search);
  var q = m ? "?token=" + m[1] : "";
  document.getElementById("metrics").href = "/metrics" + q;
  document.querySelectorAll("img[data-src]").forEach(function (img) {
    var load = function () {
      img.src = img.dataset.src + (q ? q + "&" : "?") + "t=" + Date.now();
    };
    if (img.hasAttribute("data-poll")) {
      img.onload = img.onerror = function () { setTimeout(load, 1000); };
    } else {
      // A live stream that fails (server restarted, too many viewers) is retried.
      img.onerror = function () { setTimeout(load, 5000); };
    }
    load();
  });
  function age(s) {
    if (s < 120) return Math.round(s) + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    return Math.round(s / 3600) + " h";
  }
  function show(card, c) {
    card.querySelectorAll("[data-f]").forEach(function (el) {
      var v = c[el.dataset.f];
      el.textContent = v === null || v === undefined ? "" : String(v);
    });
    card.querySelector(".state").className = "state " + c.state;
    card.querySelector(".for").textContent = "for " + age(c.state_for_s);
  }
  var up = document.getElementById("up");
  function refresh() {
    fetch("/healthz" + q, { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (h) {
        up.textContent = "up " + age(h.uptime_s);
        document.querySelectorAll(".card").forEach(function (card) {
          var c = h.cameras[card.dataset.name];
          if (c) show(card, c);
        });
      })
      .catch(function (e) { up.textContent = "unreachable (" + e.message + ")"; });
  }
  refresh();
  setInterval(refresh, 2000);
})();
</script>
</body></html>
"#;

fn status_page(cameras: &[CameraView]) -> String {
    let mut page = String::from(PAGE_HEAD);
    let mut live = 0;
    for camera in cameras {
        let stream = camera.preview.is_some() && live < LIVE_PREVIEWS_ON_PAGE;
        live += usize::from(stream);
        page.push_str(&camera_card(camera, stream));
    }
    page.push_str(PAGE_TAIL);
    page
}

/// One camera's card; `stream` chooses a live preview over refreshed snapshots.
fn camera_card(camera: &CameraView, stream: bool) -> String {
    let name = html_escape(&camera.name);
    let base = format!("/cameras/{}", percent_encode(&camera.name));
    let picture = match (&camera.preview, stream) {
        (None, _) => r#"<div class="none">no preview</div>"#.to_string(),
        (Some(_), true) => format!(r#"<img data-src="{base}/mjpeg" alt="{name}">"#),
        (Some(_), false) => {
            format!(r#"<img data-src="{base}/snapshot.jpg" data-poll alt="{name}">"#)
        }
    };
    let counters = [
        ("captured", "frames_captured"),
        ("processed", "frames_processed"),
        ("dropped", "frames_dropped"),
        ("reconnects", "reconnects"),
        ("tracks", "active_tracks"),
    ]
    .iter()
    .map(|(label, field)| format!(r#"<dt>{label}</dt><dd data-f="{field}">–</dd>"#))
    .collect::<String>();
    format!(
        r#"<section class="card" data-name="{name}">{picture}
<div class="info"><span class="name">{name}</span><span class="state" data-f="state">…</span><span class="for"></span>
<div class="src">{source}</div>
<dl>{counters}</dl>
<div class="err" data-f="last_error"></div></div></section>
"#,
        source = html_escape(&camera.source),
    )
}

/// `%XX` escapes decoded; `None` for a malformed escape or text that is not UTF-8.
pub(super) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A path segment with every byte but the unreserved ones escaped.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_decode_and_escape() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_encode("a b/<c>"), "a%20b%2F%3Cc%3E");
        assert_eq!(
            html_escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
