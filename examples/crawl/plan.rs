//! The embedded server's plan: a seeded, reproducible list of pages, each
//! fast, slow, failing for good, failing for a while (flaky) or hung, so
//! that every crawl meets every path.

/// What the embedded server does for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// Answers 200 after this many milliseconds.
    Ok { delay_ms: u64 },
    /// Answers 200 after `slow_ms` on odd-numbered requests (the 1st, 3rd, ..)
    /// and after `delay_ms` on the others: a hedged second try wins.
    Slow { slow_ms: u64, delay_ms: u64 },
    /// Answers 503, always.
    Error,
    /// Answers 503 to its first `fails` requests, then 200 at once: a
    /// transient failure, which a retry gets past.
    Flaky { fails: u32 },
    /// Never answers.
    Hang,
}

/// The seeded, reproducible plan of `pages` pages.
#[derive(Clone, Debug)]
pub struct Plan {
    pub pages: Vec<Page>,
}

/// splitmix64: a tiny seeded generator, so runs reproduce without a
/// dependency.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Plan {
    /// `pages` pages: 1 in 25 slow, 1 in 100 failing, 1 in 50 flaky (one
    /// 503, then 200), 1 in 100 hung, the rest fast, with latencies drawn from `seed`. `no_delay` makes every answer
    /// immediate (to measure the client's own cost): no latency, and the hung
    /// pages fail at once instead.
    pub fn new(pages: usize, seed: u64, no_delay: bool) -> Plan {
        let pages = (0..pages as u64)
            .map(|i| Page::drawn(mix(seed ^ mix(i)), no_delay))
            .collect();
        Plan { pages }
    }
}

impl Page {
    /// The page a random draw `r` makes: 1 in 25 slow, 1 in 100 failing, 1
    /// in 50 flaky, 1 in 100 hung, the rest fast. Shared by the plan and the
    /// generated site.
    pub fn drawn(r: u64, no_delay: bool) -> Page {
        let delay_ms = if no_delay { 0 } else { 1 + (r >> 8) % 20 };
        match r % 100 {
            // With no delay, nothing waits: a hung page answers 503.
            0 if no_delay => Page::Error,
            0 => Page::Hang,
            1 => Page::Error,
            2..=3 => Page::Flaky { fails: 1 },
            4..=7 => Page::Slow {
                slow_ms: if no_delay { 0 } else { 2_000 },
                delay_ms,
            },
            _ => Page::Ok { delay_ms },
        }
    }
}
