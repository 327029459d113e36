//! BIMI logos: the SVG Tiny Portable/Secure profile (draft-svg-tiny-ps-abrotman) as
//! checks over a streaming XML reader. Any bytes in, findings out.

use crate::{finding, Finding, Severity};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The largest logo BIMI allows.
pub const MAX_BYTES: usize = 32 * 1024;

/// Elements the profile leaves out: scripting, animation, interactivity, raster and
/// foreign content.
const SCRIPT: &[&str] = &["script", "handler", "listener"];
const ANIMATION: &[&str] = &[
    "animate",
    "animateMotion",
    "animateColor",
    "animateTransform",
    "set",
    "discard",
    "animation",
    "mpath",
];
const INTERACTIVE: &[&str] = &[
    "a",
    "foreignObject",
    "switch",
    "video",
    "audio",
    "iframe",
    "canvas",
    "textArea",
    "focus",
    "cursor",
];
const EXTERNAL: &[&str] = &["image", "use_external"];

fn bad(id: &'static str, msg: String, fix: &str) -> Finding {
    finding(id, Severity::Error, msg, fix)
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    match s.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => s.to_string(),
    }
}

/// Whether an attribute value refers to something outside the document.
fn is_external(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty() && !v.starts_with('#')
}

/// `url(...)` references in style text that leave the document.
fn style_external(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    if l.contains("@import") {
        return true;
    }
    let mut rest = l.as_str();
    while let Some(i) = rest.find("url(") {
        let arg = rest[i + 4..].trim_start().trim_start_matches(['\'', '"']);
        if !arg.starts_with('#') {
            return true;
        }
        rest = &rest[i + 4..];
    }
    false
}

struct State {
    out: Vec<Finding>,
    depth: usize,
    root_seen: bool,
    title_ok: bool,
    in_title: bool,
    title_text: String,
    seen_ids: Vec<&'static str>,
}

impl State {
    fn once(&mut self, id: &'static str, f: Finding) {
        if !self.seen_ids.contains(&id) {
            self.seen_ids.push(id);
            self.out.push(f);
        }
    }

    fn element(&mut self, e: &BytesStart<'_>) {
        let name = local(e.name().as_ref());
        if self.depth == 0 {
            self.root(e, &name);
        }
        if self.depth == 1 && name == "title" {
            self.in_title = true;
        }
        if SCRIPT.contains(&name.as_str()) {
            self.once(
                "svg-script",
                bad(
                    "svg-script",
                    format!("<{name}> element: logos may not contain scripts"),
                    "remove the script; export the logo as SVG Tiny PS",
                ),
            );
        }
        if ANIMATION.contains(&name.as_str()) {
            self.once(
                "svg-animation",
                bad(
                    "svg-animation",
                    format!("<{name}> element: logos may not be animated"),
                    "remove the animation elements",
                ),
            );
        }
        if INTERACTIVE.contains(&name.as_str()) {
            self.once("svg-interactive", bad("svg-interactive", format!("<{name}> element is not allowed in SVG Tiny PS (no links, foreign or interactive content)"), "remove it"));
        }
        if EXTERNAL.contains(&name.as_str()) {
            self.once(
                "svg-external-ref",
                bad(
                    "svg-external-ref",
                    format!("<{name}> element: logos may not embed or reference images"),
                    "draw the logo with vector shapes only",
                ),
            );
        }
        for a in e.attributes().with_checks(false) {
            let Ok(a) = a else {
                self.once(
                    "svg-xml",
                    bad("svg-xml", "malformed attribute".into(), "fix the XML"),
                );
                continue;
            };
            let key = String::from_utf8_lossy(a.key.as_ref()).to_string();
            let lkey = local(a.key.as_ref());
            let val = a
                .unescape_value()
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
            if lkey.to_ascii_lowercase().starts_with("on") {
                self.once(
                    "svg-script",
                    bad(
                        "svg-script",
                        format!("event attribute {key} on <{name}>: logos may not contain scripts"),
                        "remove on* attributes",
                    ),
                );
            }
            if lkey == "href" && is_external(&val) {
                self.once(
                    "svg-external-ref",
                    bad(
                        "svg-external-ref",
                        format!(
                            "<{name} {key}=\"{}\"> refers outside the document",
                            clip(&val)
                        ),
                        "embed everything; only '#id' references are allowed",
                    ),
                );
            }
            if (lkey == "style"
                || lkey == "fill"
                || lkey == "stroke"
                || lkey == "filter"
                || lkey == "mask"
                || lkey == "clip-path")
                && style_external(&val)
            {
                self.once(
                    "svg-external-ref",
                    bad(
                        "svg-external-ref",
                        format!("{key} on <{name}> refers outside the document"),
                        "only url(#id) references are allowed",
                    ),
                );
            }
            if matches!(
                lkey.as_str(),
                "focusable" | "nav-index" | "nav-next" | "nav-prev"
            ) {
                self.once(
                    "svg-interactive",
                    bad(
                        "svg-interactive",
                        format!("{key} on <{name}>: logos may not be interactive"),
                        "remove it",
                    ),
                );
            }
        }
    }

    fn root(&mut self, e: &BytesStart<'_>, name: &str) {
        self.root_seen = true;
        if name != "svg" {
            self.out.push(bad(
                "svg-root",
                format!("the root element is <{name}>, not <svg>"),
                "the file must be an SVG document",
            ));
            return;
        }
        let mut base = None;
        let mut version = None;
        let mut view_box = None;
        let (mut width, mut height) = (None, None);
        for a in e.attributes().with_checks(false).flatten() {
            let k = local(a.key.as_ref());
            let v = String::from_utf8_lossy(&a.value).trim().to_string();
            match k.as_str() {
                "baseProfile" => base = Some(v),
                "version" => version = Some(v),
                "viewBox" => view_box = Some(v),
                "width" => width = Some(v),
                "height" => height = Some(v),
                "x" | "y" => self.once(
                    "svg-root-xy",
                    bad(
                        "svg-root-xy",
                        format!("the <svg> element has {k}=: not allowed on the root"),
                        "remove x and y from <svg>",
                    ),
                ),
                _ => {}
            }
        }
        if base.as_deref() != Some("tiny-ps") {
            self.out.push(bad("svg-base-profile", format!("baseProfile is {}, not \"tiny-ps\"", base.map(|b| format!("\"{b}\"")).unwrap_or("missing".into())), "set baseProfile=\"tiny-ps\" on <svg> (after checking the logo follows the profile)"));
        }
        if version.as_deref() != Some("1.2") {
            self.out.push(bad(
                "svg-version",
                format!(
                    "version is {}, not \"1.2\"",
                    version
                        .map(|b| format!("\"{b}\""))
                        .unwrap_or("missing".into())
                ),
                "set version=\"1.2\" on <svg>",
            ));
        }
        match view_box {
            Some(vb) => {
                let nums: Vec<f64> = vb
                    .split([' ', ',', '\t', '\n'])
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| s.parse().ok())
                    .collect();
                if nums.len() != 4 {
                    self.out.push(bad(
                        "svg-viewbox",
                        format!("viewBox \"{}\" is not four numbers", clip(&vb)),
                        "write viewBox=\"0 0 512 512\"",
                    ));
                } else if (nums[2] - nums[3]).abs() > 1e-9 || nums[2] <= 0.0 {
                    self.out.push(bad(
                        "svg-not-square",
                        format!(
                            "viewBox is {} by {}: BIMI logos must be square",
                            nums[2], nums[3]
                        ),
                        "make the viewBox square; mail clients show the logo in a circle or square",
                    ));
                }
            }
            None => {
                let square = matches!((&width, &height), (Some(w), Some(h)) if w == h);
                self.out.push(finding(
                    if square { "svg-no-viewbox" } else { "svg-not-square" },
                    if square { Severity::Warning } else { Severity::Error },
                    "the <svg> element has no viewBox, so the logo's aspect ratio is not declared square",
                    "add viewBox=\"0 0 N N\"",
                ));
            }
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Checks a logo against SVG Tiny PS and BIMI's limits.
pub fn check(bytes: &[u8]) -> Vec<Finding> {
    let mut st = State {
        out: Vec::new(),
        depth: 0,
        root_seen: false,
        title_ok: false,
        in_title: false,
        title_text: String::new(),
        seen_ids: Vec::new(),
    };
    if bytes.len() > MAX_BYTES {
        st.out.push(bad("svg-too-large", format!("the logo is {} bytes; BIMI allows at most {MAX_BYTES}", bytes.len()), "simplify paths, drop metadata and editor attributes, or compress with an SVG optimizer that keeps Tiny PS"));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        st.out.push(bad(
            "svg-xml",
            "the file is not UTF-8 text".into(),
            "save the logo as UTF-8 SVG",
        ));
        return st.out;
    };
    let mut r = Reader::from_str(text);
    r.config_mut().check_end_names = true;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                st.element(&e);
                st.depth += 1;
                if st.depth > 256 {
                    st.out.push(bad(
                        "svg-xml",
                        "elements nest deeper than 256".into(),
                        "flatten the document",
                    ));
                    break;
                }
            }
            Ok(Event::Empty(e)) => {
                st.element(&e);
            }
            Ok(Event::End(_)) => {
                st.depth = st.depth.saturating_sub(1);
                if st.in_title && st.depth == 1 {
                    st.in_title = false;
                    if !st.title_text.trim().is_empty() {
                        st.title_ok = true;
                    }
                }
            }
            Ok(Event::Text(t)) => {
                if st.in_title {
                    if let Ok(s) = t.unescape() {
                        st.title_text.push_str(&s);
                    }
                }
            }
            Ok(Event::CData(t)) => {
                if st.in_title {
                    st.title_text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Ok(Event::DocType(d)) => {
                let d = String::from_utf8_lossy(&d).to_ascii_uppercase();
                if d.contains("SYSTEM") || d.contains("PUBLIC") && d.contains("<!ENTITY") {
                    st.once(
                        "svg-external-ref",
                        bad(
                            "svg-external-ref",
                            "the DOCTYPE declares external entities".into(),
                            "remove the DOCTYPE",
                        ),
                    );
                } else if d.contains("<!ENTITY") {
                    st.once(
                        "svg-entity",
                        bad(
                            "svg-entity",
                            "the DOCTYPE declares entities".into(),
                            "remove the DOCTYPE; expand the entities",
                        ),
                    );
                }
            }
            Ok(Event::PI(p)) => {
                if String::from_utf8_lossy(&p)
                    .to_ascii_lowercase()
                    .contains("xml-stylesheet")
                {
                    st.once(
                        "svg-external-ref",
                        bad(
                            "svg-external-ref",
                            "an xml-stylesheet instruction loads an external style sheet".into(),
                            "inline the styles",
                        ),
                    );
                }
            }
            Ok(Event::Eof) => {
                if st.depth > 0 {
                    st.out.push(bad(
                        "svg-xml",
                        "the document ends inside an open element".into(),
                        "close every element; the file may be cut short",
                    ));
                    return st.out;
                }
                break;
            }
            Ok(_) => {}
            Err(e) => {
                st.out.push(bad(
                    "svg-xml",
                    format!("not well-formed XML at byte {}: {e}", r.error_position()),
                    "fix the XML; open the file in an SVG editor and save again",
                ));
                return st.out;
            }
        }
    }
    if !st.root_seen {
        st.out.push(bad(
            "svg-root",
            "no <svg> element".into(),
            "the file must be an SVG document",
        ));
    } else if !st.title_ok {
        st.out.push(bad(
            "svg-title",
            "no <title> with text as a child of <svg>".into(),
            "add <title>Your Company</title> right inside <svg>",
        ));
    }
    st.out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" viewBox="0 0 100 100">
<title>Example</title>
<defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
<circle cx="50" cy="50" r="40" fill="url(#g)"/>
</svg>"##;

    fn ids(b: &str) -> Vec<&'static str> {
        check(b.as_bytes()).iter().map(|f| f.id).collect()
    }

    #[test]
    fn rules() {
        assert!(ids(GOOD).is_empty(), "{:?}", check(GOOD.as_bytes()));
        let cases = [
            (GOOD.replace("tiny-ps", "tiny"), "svg-base-profile"),
            (GOOD.replace("version=\"1.2\"", "version=\"1.1\""), "svg-version"),
            (GOOD.replace("<title>Example</title>", ""), "svg-title"),
            (GOOD.replace("<title>Example</title>", "<title> </title>"), "svg-title"),
            (GOOD.replace("<circle", "<script>alert(1)</script><circle"), "svg-script"),
            (GOOD.replace("<circle", "<circle onclick=\"x()\""), "svg-script"),
            (GOOD.replace("<circle", "<image href=\"https://e.example/a.png\"/><circle"), "svg-external-ref"),
            (GOOD.replace("fill=\"url(#g)\"", "style=\"fill:url(https://e.example/x#g)\""), "svg-external-ref"),
            (GOOD.replace("<circle", "<use xlink:href=\"other.svg#a\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"/><circle"), "svg-external-ref"),
            (GOOD.replace("/>\n</svg>", "><animate attributeName=\"r\" to=\"10\"/></circle></svg>"), "svg-animation"),
            (GOOD.replace("<circle", "<a href=\"#x\"><rect/></a><circle"), "svg-interactive"),
            (GOOD.replace("viewBox", "x=\"0\" viewBox"), "svg-root-xy"),
            (GOOD.replace("0 0 100 100", "0 0 100 50"), "svg-not-square"),
            (GOOD.replace("</svg>", ""), "svg-xml"),
            (format!("{}<!-- {} -->", GOOD, "x".repeat(MAX_BYTES)), "svg-too-large"),
            ("<html/>".to_string(), "svg-root"),
            ("".to_string(), "svg-root"),
        ];
        for (svg, id) in cases {
            assert!(ids(&svg).contains(&id), "{id}: {:?}", check(svg.as_bytes()));
        }
        assert!(ids("\u{0}\u{ff}<").contains(&"svg-xml") || !ids("\u{0}\u{ff}<").is_empty());
    }
}
