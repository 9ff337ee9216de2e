//! Playbooks rendered from Markdown, safely: raw HTML in the source is shown as text, and
//! links or images with a script-capable scheme (`javascript:`, `data:`, `vbscript:`) lose
//! their target.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    if ["javascript:", "data:", "vbscript:", "file:"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        CowStr::Borrowed("#")
    } else {
        url
    }
}

/// `md` as HTML, with raw HTML escaped.
pub fn to_html(md: &str) -> String {
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(md, opts).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        e => e,
    });
    let mut out = String::with_capacity(md.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_headings_lists_code_and_tables() {
        let html = to_html("# Title\n\n- one\n- two\n\n```\nkubectl get pods\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(html.contains("<h1>Title</h1>"));
        assert!(html.contains("<li>one</li>"));
        assert!(html.contains("<code>kubectl get pods\n</code>"));
        assert!(html.contains("<table>"));
    }

    #[test]
    fn raw_html_and_script_links_are_neutralised() {
        let html = to_html(
            "<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> [x](javascript:alert(1))",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("href=\"#\""), "{html}");
    }
}
