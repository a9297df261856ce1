//! A tour of corral in one program: a task group whose children borrow from the
//! caller, a concurrency limit, fail-fast cancellation, the gather family, and a
//! scope of 100,000 children.
//!
//! Run it with `cargo run --release --example tour`. The main example, a web
//! crawler, is `examples/crawl` (`cargo run --release --example crawl`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use smol::Timer;

/// Pretends to fetch a document: waits a little, returns its word count.
async fn fetch(doc: &str) -> Result<usize, String> {
    Timer::after(Duration::from_millis(5 + doc.len() as u64 % 7)).await;
    if doc.contains("broken") {
        return Err(format!("could not fetch {doc:?}"));
    }
    Ok(doc.split_whitespace().count())
}

/// Drops count themselves, so the cancellation below is visible.
struct Guard<'a>(&'a AtomicUsize);
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn main() -> Result<(), String> {
    smol::block_on(async {
        // 1. A task group: children borrow `docs` and write into `counts`, at most
        //    three at a time.
        let docs: Vec<String> = (1..=12).map(|i| "word ".repeat(i)).collect();
        let mut counts = vec![0; docs.len()];
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let (docs_ref, counts_ref, running_ref, peak_ref) = (&docs, &mut counts, &running, &peak);
        let started = Instant::now();
        corral::Nursery::new()
            .max_concurrency(3)
            .scope(|s| async move {
                for (doc, slot) in docs_ref.iter().zip(counts_ref.iter_mut()) {
                    s.spawn(async move {
                        let now = running_ref.fetch_add(1, Ordering::SeqCst) + 1;
                        peak_ref.fetch_max(now, Ordering::SeqCst);
                        *slot = fetch(doc).await?;
                        running_ref.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    });
                }
                Ok::<_, String>(())
            })
            .await?;
        println!(
            "1. counted {} documents in {:?}, at most {} at once: {:?}",
            docs.len(),
            started.elapsed(),
            peak.load(Ordering::SeqCst),
            counts
        );

        // 2. Fail fast: the first error cancels the siblings before the scope returns.
        let cancelled = AtomicUsize::new(0);
        let cancelled_ref = &cancelled;
        let outcome = corral::scope(|s| async move {
            for i in 0..5 {
                s.spawn(async move {
                    let _guard = Guard(cancelled_ref);
                    Timer::after(Duration::from_secs(3600)).await; // never finishes
                    Ok::<_, String>(i)
                });
            }
            s.spawn(fetch("a broken link"));
            Ok(())
        })
        .await;
        println!(
            "2. scope failed with {:?}; {} slow siblings were cancelled",
            outcome,
            cancelled.load(Ordering::SeqCst)
        );

        // 3. The gather family: every result in order, and the first success.
        let lengths = corral::try_join_all(docs.iter().take(4).map(|d| fetch(d))).await?;
        let mirrors = ["mirror one is broken", "mirror two works"];
        let first_ok = corral::race_ok(mirrors.iter().map(|m| fetch(m))).await;
        println!("3. try_join_all: {lengths:?}; race_ok over mirrors: {first_ok:?}");

        // 4. Many children: one allocation each, a wake polls only its child.
        let n = 100_000;
        let done = AtomicUsize::new(0);
        let done_ref = &done;
        let started = Instant::now();
        corral::scope(|s| async move {
            for _ in 0..n {
                s.spawn(async move {
                    smol::future::yield_now().await;
                    done_ref.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, ()>(())
                });
            }
            Ok(())
        })
        .await
        .map_err(|()| "unreachable".to_string())?;
        let elapsed = started.elapsed();
        println!(
            "4. {} children spawned, yielded once and joined in {:?} ({:.0} ns each)",
            done.load(Ordering::Relaxed),
            elapsed,
            elapsed.as_nanos() as f64 / n as f64
        );
        Ok(())
    })
}
