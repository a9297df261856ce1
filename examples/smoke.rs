fn main() {
    let v = futures::executor::block_on(async {
        let data = vec![1, 2, 3];
        let data = &data;
        corral::scope(|s| async move {
            let hs: Vec<_> = data.iter().map(|x| s.spawn(async move { smol::future::yield_now().await; Ok::<_, ()>(x * 2) })).collect();
            let mut out = vec![];
            for h in hs { out.push(h.await); }
            Ok(out)
        }).await
    });
    println!("{v:?}");
    let n = 100_000;
    let t = std::time::Instant::now();
    futures::executor::block_on(corral::scope(|s| async move {
        for _ in 0..n { let _ = s.spawn(async { smol::future::yield_now().await; Ok::<_, ()>(()) }); }
        Ok(())
    })).unwrap();
    println!("{n} children: {:?}", t.elapsed());
    let r = futures::executor::block_on(corral::join_all((0..5).map(|i| async move { i })));
    println!("{r:?}");
}
