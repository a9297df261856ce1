//! Reading an inherited value (`corral::context`): the time of one read at
//! depth 1 (one value set around the reader) and at depth 10 (ten values of
//! different types, the one read set outermost, so the read walks all ten),
//! and of a read that finds nothing; against tokio's `task_local!` read
//! (`LocalKey::with` inside `sync_scope`), whose keys are separate
//! thread-locals, so its depth does not matter (it measures one key set
//! among ten).
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p corral-bench --bench context
//! ```
//!
//! `examples/profile_context.rs` counts the instructions of a spawn+join
//! with a value in force (against `profile_scope`, with none).

use std::hint::black_box;

use corral::context;
use criterion::{Criterion, criterion_group, criterion_main};

#[derive(Clone, Copy)]
struct Wanted(u64);

macro_rules! types {
    ($($t:ident),*) => { $( #[derive(Clone, Copy)] struct $t(#[allow(dead_code)] u64); )* };
}
types!(T1, T2, T3, T4, T5, T6, T7, T8, T9);

tokio::task_local! {
    static WANTED: u64;
    static K1: u64;
    static K2: u64;
    static K3: u64;
    static K4: u64;
    static K5: u64;
    static K6: u64;
    static K7: u64;
    static K8: u64;
    static K9: u64;
}

fn corral_read() -> u64 {
    context::with(|w: Option<&Wanted>| w.map_or(0, |w| w.0))
}

fn tokio_read() -> u64 {
    WANTED.try_with(|w| *w).unwrap_or(0)
}

fn reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("context_read");
    group.bench_function("corral/absent", |b| b.iter(|| black_box(corral_read())));
    group.bench_function("tokio/absent", |b| b.iter(|| black_box(tokio_read())));
    context::run_with(Wanted(7), || {
        group.bench_function("corral/depth_1", |b| b.iter(|| black_box(corral_read())));
        group.bench_function("corral/depth_1_get", |b| {
            b.iter(|| black_box(context::get::<Wanted>()).map_or(0, |w| w.0))
        });
    });
    WANTED.sync_scope(7, || {
        group.bench_function("tokio/depth_1", |b| b.iter(|| black_box(tokio_read())));
    });
    context::run_with(Wanted(7), || {
        context::run_with(T1(1), || {
            context::run_with(T2(2), || {
                context::run_with(T3(3), || {
                    context::run_with(T4(4), || {
                        context::run_with(T5(5), || {
                            context::run_with(T6(6), || {
                                context::run_with(T7(7), || {
                                    context::run_with(T8(8), || {
                                        context::run_with(T9(9), || {
                                            group.bench_function("corral/depth_10", |b| {
                                                b.iter(|| black_box(corral_read()))
                                            });
                                        })
                                    })
                                })
                            })
                        })
                    })
                })
            })
        })
    });
    WANTED.sync_scope(7, || {
        K1.sync_scope(1, || {
            K2.sync_scope(2, || {
                K3.sync_scope(3, || {
                    K4.sync_scope(4, || {
                        K5.sync_scope(5, || {
                            K6.sync_scope(6, || {
                                K7.sync_scope(7, || {
                                    K8.sync_scope(8, || {
                                        K9.sync_scope(9, || {
                                            group.bench_function("tokio/depth_10", |b| {
                                                b.iter(|| black_box(tokio_read()))
                                            });
                                        })
                                    })
                                })
                            })
                        })
                    })
                })
            })
        })
    });
    group.finish();
}

criterion_group!(benches, reads);
criterion_main!(benches);
