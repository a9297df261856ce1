//! The tests of `tests/context.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// A child sees the values in force where it was spawned, even when it runs
/// after the block that set them has finished; a child spawned outside the
/// block sees none. Ports CPython's `test_context.py`
/// `test_context_copy_2`-style scenario (a task created in a context keeps
/// it) and Swift's "child task reads its parent's binding".
pub(super) async fn a_child_sees_the_values_of_its_spawn_site() {
    let out = open(|s| async move {
        let mut inside = None;
        with_value(RequestId(7), async {
            inside = Some(s.spawn(async {
                yield_times(3).await;
                Ok(context::get::<RequestId>())
            }));
        })
        .await;
        let inside = inside.unwrap();
        let outside = s.spawn(async { Ok(context::get::<RequestId>()) });
        // The block has ended: the body itself sees nothing now.
        let body = context::get::<RequestId>();
        Ok::<_, ()>((inside.await, outside.await, body))
    })
    .await;
    assert_eq!(out, Ok((Some(RequestId(7)), None, None)));
}

/// Values set around the scope reach the body, its children and every
/// level below, whatever the kind of child: plain, in a `JoinSet`,
/// supervised, shielded, started, nested scopes. Ports Java's
/// `ScopedValue` test that forks of a `StructuredTaskScope` (and their
/// forks) see the binding.
pub(super) async fn values_reach_every_kind_of_child_at_every_depth() {
    let out = with_value(
        RequestId(3),
        open(|s| async move {
            let body = context::get::<RequestId>();
            let plain = s.spawn(async {
                // A grandchild in a nested scope, and a great-grandchild.
                open(|s| async move {
                    let grandchild = s.spawn(async {
                        open(|s| async move {
                            let great = s.spawn(async { Ok(context::get::<RequestId>()) });
                            Ok::<_, ()>(great.await)
                        })
                        .await
                    });
                    Ok::<_, ()>(grandchild.await)
                })
                .await
            });
            let mut set = JoinSet::new(&s);
            set.spawn(async {
                yield_now().await;
                Ok(context::get::<RequestId>())
            });
            let supervised = s.spawn(supervised(async {
                yield_now().await;
                Ok::<_, ()>(context::get::<RequestId>())
            }));
            let shielded = s.spawn_shielded(Duration::from_secs(60), async {
                Ok(context::get::<RequestId>())
            });
            let started = s
                .start(|ready: Ready<Option<RequestId>>| async move {
                    ready.send(context::get::<RequestId>()).unwrap();
                    Ok(())
                })
                .await
                .unwrap();
            Ok::<_, ()>([
                body,
                plain.await,
                set.join_next().await.unwrap(),
                supervised.await.unwrap(),
                shielded.await.unwrap(),
                started,
            ])
        }),
    )
    .await;
    assert_eq!(
        out,
        Ok([
            Some(RequestId(3)),
            Some(RequestId(3)),
            Some(RequestId(3)),
            Some(RequestId(3)),
            Some(RequestId(3)),
            Some(RequestId(3))
        ])
    );
}

/// A child shadows a value for its own subtree: its children see the new
/// value, its siblings and the body the old one; another type set further
/// out stays visible through the shadow. Ports Swift's nested `withValue`
/// tests and CPython's "a change inside the task stays there".
pub(super) async fn a_child_shadows_a_value_for_its_own_subtree() {
    let out = with_value(
        Tenant("acme"),
        with_value(
            RequestId(1),
            open(|s| async move {
                let shadowing = s.spawn(with_value(RequestId(2), async {
                    open(|s| async move {
                        let grandchild = s.spawn(async {
                            yield_now().await;
                            Ok((context::get::<RequestId>(), context::get::<Tenant>()))
                        });
                        Ok::<_, ()>(grandchild.await)
                    })
                    .await
                }));
                let sibling = s.spawn(async {
                    yield_times(2).await;
                    Ok(context::get::<RequestId>())
                });
                let (shadowed, sibling) = (shadowing.await, sibling.await);
                Ok::<_, ()>((shadowed, sibling, context::get::<RequestId>()))
            }),
        ),
    )
    .await;
    assert_eq!(
        out,
        Ok((
            (Some(RequestId(2)), Some(Tenant("acme"))),
            Some(RequestId(1)),
            Some(RequestId(1))
        ))
    );
}

/// Parallel children (`spawn_on`, on a smol executor's threads) see the
/// values of their spawn site, and so do the children of a scope opened
/// inside one; the deadline they carry still holds beside the values.
pub(super) async fn parallel_children_carry_the_values_to_their_runtime() {
    let ex = support::smol_executor();
    let deadline = std::time::Instant::now() + Duration::from_secs(3600);
    let out = corral::time::timeout_at(
        deadline,
        open(|s| async move {
            let parallel = context::run_with(RequestId(11), || {
                s.spawn_on(ex, async {
                    yield_now().await;
                    let inner = corral::scope(|s| async move {
                        let child = s.spawn(async { Ok(context::get::<RequestId>()) });
                        Ok::<_, ()>(child.await)
                    })
                    .await
                    .unwrap();
                    Ok((
                        context::get::<RequestId>(),
                        inner,
                        corral::time::current_deadline(),
                    ))
                })
            });
            let mut set = JoinSet::new(&s);
            with_value(RequestId(12), async {
                set.spawn_on(ex, async { Ok(context::get::<RequestId>()) });
            })
            .await;
            let bare = s.spawn_on(ex, async { Ok(context::get::<RequestId>()) });
            Ok::<_, ()>((parallel.await, set.join_next().await.unwrap(), bare.await))
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        Ok((
            (Some(RequestId(11)), Some(RequestId(11)), Some(deadline)),
            Some(RequestId(12)),
            None
        ))
    );
}

/// A value lives as long as the longest child that inherited it: the block
/// that set it ends first, the value stays until the child is done, and is
/// dropped then (not leaked). A child's destructor runs with its context in
/// force too.
pub(super) async fn a_value_lives_until_the_last_child_that_inherited_it() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    struct ReadsOnDrop(Arc<AtomicUsize>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            if context::with(|c: Option<&Counted>| c.is_some()) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let seen_on_drop = Arc::new(AtomicUsize::new(0));
    let (dropped_ref, seen_ref) = (&dropped, &seen_on_drop);
    let out = open(|s| async move {
        let (go_tx, go_rx) = futures::channel::oneshot::channel::<()>();
        let child = context::run_with(Counted(dropped_ref.clone()), || {
            s.spawn(async move {
                let guard = ReadsOnDrop(seen_ref.clone());
                go_rx.await.unwrap();
                drop(guard);
                Ok(context::with(|c: Option<&Counted>| c.is_some()))
            })
        });
        // The block is over; the child still holds the value.
        yield_times(3).await;
        let before = dropped_ref.load(Ordering::SeqCst);
        go_tx.send(()).unwrap();
        let found = child.await;
        yield_times(2).await;
        Ok::<_, ()>((before, found, dropped_ref.load(Ordering::SeqCst)))
    })
    .await;
    assert_eq!(out, Ok((0, true, 1)));
    assert_eq!(
        seen_on_drop.load(Ordering::SeqCst),
        1,
        "the guard saw the value as it dropped"
    );
}

/// A child dropped unfinished (its scope failed), local or parallel, runs
/// its destructor with its context in force, and the value is released
/// with it.
pub(super) async fn a_dropped_childs_destructor_sees_its_context() {
    struct ReadsOnDrop(Arc<AtomicUsize>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            if context::get::<RequestId>() == Some(RequestId(4)) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let seen_ref = &seen;
    let out = open(|s| async move {
        let ex = support::smol_executor();
        let seen = seen_ref.clone();
        with_value(RequestId(4), async {
            s.spawn(async move {
                let _guard = ReadsOnDrop(seen_ref.clone());
                futures::future::pending::<()>().await;
                Ok(())
            });
            // A parallel child, dropped on its runtime (from the outside
            // review: its destructor ran without its values).
            // The guard is in the future from the start: started or not,
            // dropping the future drops it.
            let guard = ReadsOnDrop(seen);
            s.spawn_on(ex, async move {
                let _guard = guard;
                futures::future::pending::<()>().await;
                Ok(())
            });
        })
        .await;
        yield_times(2).await;
        Err::<(), _>("failed")
    })
    .await;
    assert_eq!(out, Err("failed"));
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

/// The stream helpers run each item inside the context of the code that
/// pulls the stream.
pub(super) async fn stream_items_see_the_values_of_the_consumer() {
    let out = open(|s| async move {
        let seen: Vec<Option<RequestId>> = with_value(RequestId(8), async {
            corral::stream::map_unordered(&s, futures::stream::iter(0..4), 2, |_| async {
                yield_now().await;
                Ok::<_, ()>(context::get::<RequestId>())
            })
            .collect()
            .await
        })
        .await;
        Ok::<_, ()>(seen)
    })
    .await;
    assert_eq!(out, Ok(vec![Some(RequestId(8)); 4]));
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            a_child_sees_the_values_of_its_spawn_site,
            values_reach_every_kind_of_child_at_every_depth,
            a_child_shadows_a_value_for_its_own_subtree,
            parallel_children_carry_the_values_to_their_runtime,
            a_value_lives_until_the_last_child_that_inherited_it,
            a_dropped_childs_destructor_sees_its_context,
            stream_items_see_the_values_of_the_consumer,
        );
    };
}
