//! The generated site the embedded server serves to the link-following
//! crawl: seeded and reproducible, `pages` pages on each of `hosts` virtual
//! hosts (`a.test`, `b.test`, .., chosen by the `Host` header), every page
//! computed from (seed, host, index) when it is asked for, never held in
//! memory. Pages link to each other: the next page (so every page is
//! reachable), random pages by absolute and by `../` relative paths, the
//! same link twice, the root (a cycle), now and then a page on another host,
//! `mailto:` and `javascript:` links and fragments. Each page is fast, slow,
//! failing, flaky or hung as [`Page::drawn`] says (the root always answers). And a
//! few odd pages, all linked from the root: `/loop/a` and `/loop/b` redirect
//! to each other, `/big` is a 50 MB body, `/broken.html` is broken HTML.
//!
//! [`write_site`] writes the same site as static files, with an nginx
//! configuration snippet; what a static server cannot do is listed there.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::plan::{Page, mix};

/// Links per ordinary page.
const LINKS: u64 = 6;
/// Pages per directory (`/d{i / DIR}/p{i}.html`), so that `../` links
/// cross directories.
const DIR: u64 = 64;
/// The size of `/big`.
pub const BIG_BYTES: u64 = 50 * 1024 * 1024;

/// The generated site's shape.
#[derive(Clone, Copy, Debug)]
pub struct Site {
    pub seed: u64,
    /// Pages per host.
    pub pages: u64,
    pub hosts: usize,
    /// Every answer at once, and no hung pages (they fail instead).
    pub no_delay: bool,
}

/// What the server does for one path of the site.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTML page, after the plan's behaviour (`Page`).
    Html {
        page: Page,
        body: String,
    },
    /// A redirect to this location.
    Redirect(&'static str),
    /// `BIG_BYTES` of text.
    Big,
    NotFound,
}

/// The name of virtual host number `n`: `a.test` .. `z.test`, then `h26.test`..
pub fn host_name(n: usize) -> String {
    if n < 26 {
        format!("{}.test", (b'a' + n as u8) as char)
    } else {
        format!("h{n}.test")
    }
}

/// The path of page `i`: page 0 is the root.
pub fn page_path(i: u64) -> String {
    if i == 0 {
        "/".to_string()
    } else {
        format!("/d{}/p{i}.html", i / DIR)
    }
}

impl Site {
    /// The host number a `Host` header names (its port ignored); an unknown
    /// host is the first (so `http://127.0.0.1:port/` shows the site too).
    pub fn host_of(&self, header: Option<&str>) -> usize {
        let name = header.unwrap_or("");
        let name = name.rsplit_once(':').map_or(name, |(host, _)| host);
        (0..self.hosts)
            .find(|&n| host_name(n).eq_ignore_ascii_case(name))
            .unwrap_or(0)
    }

    fn draw(&self, host: usize, i: u64, salt: u64) -> u64 {
        mix(self.seed ^ mix((host as u64) << 40 ^ i ^ mix(salt)))
    }

    /// How page `i` of `host` behaves; the root always answers.
    pub fn page(&self, host: usize, i: u64) -> Page {
        match Page::drawn(self.draw(host, i, 0), self.no_delay) {
            _ if i == 0 => Page::Ok { delay_ms: 0 },
            page => page,
        }
    }

    /// The page number of `path`, if it is one of the site's pages.
    pub fn page_number(&self, path: &str) -> Option<u64> {
        if path == "/" || path == "/index.html" {
            return Some(0);
        }
        let (dir, file) = path.strip_prefix("/d")?.split_once("/p")?;
        let i: u64 = file.strip_suffix(".html")?.parse().ok()?;
        (i > 0 && i < self.pages && dir.parse::<u64>().ok()? == i / DIR).then_some(i)
    }

    /// What `path` on `host` answers.
    pub fn answer(&self, host: usize, path: &str) -> Answer {
        match path {
            "/loop/a" => return Answer::Redirect("/loop/b"),
            "/loop/b" => return Answer::Redirect("/loop/a"),
            "/big" => return Answer::Big,
            "/broken.html" => {
                return Answer::Html {
                    page: Page::Ok { delay_ms: 0 },
                    body: BROKEN.to_string(),
                };
            }
            _ => {}
        }
        match self.page_number(path) {
            Some(i) => Answer::Html {
                page: self.page(host, i),
                body: self.render(host, i),
            },
            None => Answer::NotFound,
        }
    }

    /// The links of page `i` of `host`, as written in its HTML.
    pub fn links(&self, host: usize, i: u64) -> Vec<String> {
        let n = self.pages.max(1);
        let mut links = Vec::new();
        // The next page, relative to this one's directory: every page is
        // reachable from the root, and the last links back to it.
        let next = (i + 1) % n;
        links.push(relative(i, next));
        for k in 0..LINKS {
            let r = self.draw(host, i, k + 1);
            let j = (r >> 16) % n;
            links.push(match r % 20 {
                // Another host's page, absolute.
                0 if self.hosts > 1 => {
                    let other = (host + 1 + (r >> 8) as usize % (self.hosts - 1)) % self.hosts;
                    format!("http://{}{}", host_name(other), page_path(j))
                }
                1 => format!("mailto:webmaster@{}", host_name(host)),
                2 => "javascript:void(0)".to_string(),
                3 => "/".to_string(),
                4 => format!("{}#top", page_path(j)),
                5..=11 => relative(i, j),
                _ => page_path(j),
            });
        }
        // The same link twice.
        links.push(links[1].clone());
        if i == 0 {
            links.extend(
                ["/loop/a", "/big", "/broken.html", "mailto:root@a.test"].map(String::from),
            );
        }
        links
    }

    /// The HTML of page `i` of `host`.
    pub fn render(&self, host: usize, i: u64) -> String {
        let mut html = String::with_capacity(1024);
        let _ = write!(
            html,
            "<!doctype html>\n<html><head><title>{} page {i}</title></head>\n<body>\n\
             <h1>Page {i} of {}</h1>\n<p>Seed {}, {} pages per host.</p>\n<ul>\n",
            host_name(host),
            host_name(host),
            self.seed,
            self.pages
        );
        for link in self.links(host, i) {
            let _ = writeln!(html, "<li><a href=\"{link}\">{link}</a></li>");
        }
        html.push_str("</ul>\n</body></html>\n");
        html
    }
}

/// The link from page `from` to page `to`, relative to `from`'s directory
/// (`p7.html`, `../d3/p200.html`, or `../` for the root).
fn relative(from: u64, to: u64) -> String {
    let to_path = page_path(to);
    if from == 0 {
        return to_path[1..].to_string();
    }
    if to == 0 {
        return "../".to_string();
    }
    if from / DIR == to / DIR {
        format!("p{to}.html")
    } else {
        format!("..{to_path}")
    }
}

/// Broken HTML: unclosed tags and quotes, an attribute without a value, a
/// comment that never ends. A tokenizer finds two links in it: page 1, and
/// one whose quote runs on into the comment (a 404); the link to page 2 is
/// an attribute of the unclosed `<div`.
const BROKEN: &str = "<html><body><p>broken <b>html<a href=\"/d0/p1.html\">one<div \
<a href='d0/p2.html' class=>two</a <a href <table><tr><td>cell\n<a href=\"/d0/p1.html\
<!-- a comment that never ends <a href=\"/never-linked\">";

/// Writes the site as static files under `dir` (one folder per host, named
/// after it), with `nginx.conf`, a server block per host for nginx, and
/// `urls.txt`, every page's URL. What differs from the embedded server:
/// every page answers 200 at once (no slow, failing, flaky or hung pages:
/// nginx serves files, the same on every request), and `/big` is written once per host. The redirect loop is
/// in the nginx configuration.
pub fn write_site(site: &Site, dir: &Path, listen: &str) -> std::io::Result<u64> {
    let mut written = 0;
    let mut urls = std::io::BufWriter::new(std::fs::File::create(dir.join("urls.txt"))?);
    let abs = std::fs::canonicalize(dir)?;
    let mut conf = String::new();
    let _ = writeln!(
        conf,
        "# nginx serving the crawl's generated site ({} pages on each of {} hosts, seed {}).\n\
         # Run it with: nginx -p {dir}/ -c nginx.conf   (stop: nginx -p {dir}/ -c nginx.conf -s stop)\n\
         # Unlike the embedded server, every page answers 200 at once: no slow,\n\
         # failing (503), flaky (503 once) or hung pages. The redirect loop is below; /big and\n\
         # /broken.html are files. Unknown Host headers get the first host.\n\
         worker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
         events {{ worker_connections 4096; }}\nhttp {{\n    access_log off;\n    \
         keepalive_requests 1000000;\n    default_type text/html;\n    \
         absolute_redirect off;",
        site.pages,
        site.hosts,
        site.seed,
        dir = abs.display()
    );
    for host in 0..site.hosts {
        let name = host_name(host);
        let root = dir.join(&name);
        for i in 0..site.pages {
            let path = page_path(i);
            let file = if i == 0 {
                root.join("index.html")
            } else {
                root.join(&path[1..])
            };
            if i <= 1 || i % DIR == 0 {
                std::fs::create_dir_all(file.parent().expect("a folder"))?;
            }
            std::fs::write(&file, site.render(host, i))?;
            writeln!(urls, "http://{name}{path}")?;
            written += 1;
        }
        std::fs::write(root.join("broken.html"), BROKEN)?;
        let mut big = std::io::BufWriter::new(std::fs::File::create(root.join("big"))?);
        let chunk = [b'x'; 64 * 1024];
        for _ in 0..BIG_BYTES / chunk.len() as u64 {
            big.write_all(&chunk)?;
        }
        let _ = writeln!(
            conf,
            "    server {{\n        listen {listen}{};\n        server_name {name};\n        \
             root {};\n        location = /loop/a {{ return 302 /loop/b; }}\n        \
             location = /loop/b {{ return 302 /loop/a; }}\n    }}",
            // Listen options once per address: on the first host's block.
            if host == 0 { " backlog=4096" } else { "" },
            abs.join(&name).display()
        );
    }
    conf.push_str("}\n");
    std::fs::write(dir.join("nginx.conf"), conf)?;
    urls.flush()?;
    Ok(written)
}
