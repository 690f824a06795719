//! Shared completions (`patterns::Coalescer`): the bindings' waiters of one key and group get one
//! load and one result; other groups, abandoned and dropped leads never wedge a key.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use stratacache::patterns::{AsideOptions, Coalescer, Entered, Loader};
use stratacache::ErrorKind;
use support::{cache, unique_ns, RedisServer};

fn counting_loader(count: Arc<AtomicUsize>, json: &'static str) -> Loader {
    Arc::new(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(Some(json.to_string()))
        }
        .boxed()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_one_key_and_group_get_one_result_together() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("co")).await;
    let co = Coalescer::<u32>::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let aside = c.cache_aside();
    let mut lead = None;
    for w in 0..500u32 {
        match aside.enter(&co, 7, "user:1", &AsideOptions::default(), false, || w).unwrap() {
            Entered::Lead(l) => {
                assert!(lead.is_none(), "a second lead for the same key and group");
                lead = Some(l);
            }
            Entered::Waiting => assert!(lead.is_some(), "waiter {w} joined before any lead"),
            Entered::Hit(_) => panic!("no L1 lookup was asked for"),
        }
    }
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let (result, waiters) = lead.unwrap().load(counting_loader(runs.clone(), "{\"id\":1}"), &opts).await;
    assert_eq!(result.unwrap().as_deref(), Some("{\"id\":1}"));
    assert_eq!(waiters, (0..500).collect::<Vec<u32>>(), "every waiter once, the leader first, in join order");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // The load is over: the next caller leads again (and finds the stored value without loading).
    let Entered::Lead(again) = aside.enter(&co, 7, "user:1", &AsideOptions::default(), false, || 900).unwrap() else { panic!("the key stayed wedged") };
    let (result, waiters) = again.load(counting_loader(runs.clone(), "{\"id\":2}"), &opts).await;
    assert_eq!(result.unwrap().as_deref(), Some("{\"id\":1}"));
    assert_eq!(waiters, vec![900]);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "a stored value was loaded again");
}

#[tokio::test]
async fn another_group_never_joins_and_errors_reach_every_waiter() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("co")).await;
    let co = Coalescer::<&'static str>::new();
    let aside = c.cache_aside();
    let Entered::Lead(a) = aside.enter(&co, 1, "k", &AsideOptions::default(), false, || "a1").unwrap() else { panic!() };
    assert!(matches!(aside.enter(&co, 1, "k", &AsideOptions::default(), false, || "a2").unwrap(), Entered::Waiting));
    let Entered::Lead(b) = aside.enter(&co, 2, "k", &AsideOptions::default(), false, || "b1").unwrap() else { panic!("group 2 joined group 1's load") };
    let failing: Loader = Arc::new(|| async { Err(stratacache::Error::new(ErrorKind::Callback, "db down")) }.boxed());
    let opts = AsideOptions::default();
    let (ra, wa) = a.load(failing.clone(), &opts).await;
    assert_eq!(ra.unwrap_err().kind(), ErrorKind::Callback);
    assert_eq!(wa, vec!["a1", "a2"]);
    let (rb, wb) = b.load(failing, &opts).await;
    assert!(rb.is_err());
    assert_eq!(wb, vec!["b1"]);
}

#[tokio::test]
async fn abandoned_and_dropped_leads_free_their_key() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("co")).await;
    let co = Coalescer::<u8>::new();
    let aside = c.cache_aside();
    let Entered::Lead(lead) = aside.enter(&co, 0, "k", &AsideOptions::default(), false, || 1).unwrap() else { panic!() };
    assert!(matches!(aside.enter(&co, 0, "k", &AsideOptions::default(), false, || 2).unwrap(), Entered::Waiting));
    assert_eq!(lead.abandon(), vec![1, 2], "abandon hands back every waiter to fail");
    let Entered::Lead(lead) = aside.enter(&co, 0, "k", &AsideOptions::default(), false, || 3).unwrap() else { panic!("abandoned key stayed wedged") };
    // A load future dropped before it ends (shutdown) frees the key too.
    drop(lead.load(Arc::new(|| async { Ok(None) }.boxed()), &AsideOptions::default()));
    assert!(matches!(aside.enter(&co, 0, "k", &AsideOptions::default(), false, || 4).unwrap(), Entered::Lead(_)), "dropped load left the key wedged");
    assert!(format!("{co:?}").contains("keys_loading"));
}

#[tokio::test]
async fn take_all_hands_back_every_waiter_and_the_loads_still_end() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("co")).await;
    let co = Coalescer::<u8>::new();
    let aside = c.cache_aside();
    let Entered::Lead(a) = aside.enter(&co, 1, "a", &AsideOptions::default(), false, || 1).unwrap() else { panic!() };
    assert!(matches!(aside.enter(&co, 1, "a", &AsideOptions::default(), false, || 2).unwrap(), Entered::Waiting));
    let Entered::Lead(b) = aside.enter(&co, 2, "b", &AsideOptions::default(), false, || 3).unwrap() else { panic!() };
    let mut all = co.take_all();
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3]);
    // The loads end with nobody left to settle, and their keys are free again.
    let (r, waiters) = a.load(Arc::new(|| async { Ok(Some("1".to_owned())) }.boxed()), &AsideOptions::default()).await;
    assert_eq!(r.unwrap().as_deref(), Some("1"));
    assert!(waiters.is_empty());
    drop(b);
    assert!(matches!(aside.enter(&co, 2, "b", &AsideOptions::default(), false, || 4).unwrap(), Entered::Lead(_)));
}

#[tokio::test]
async fn a_bad_key_is_refused_before_anyone_waits() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("co")).await;
    let co = Coalescer::<u8>::new();
    let err = c.cache_aside().enter(&co, 0, "", &AsideOptions::default(), false, || 1).err().expect("an empty key was accepted");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(matches!(c.cache_aside().enter(&co, 0, "", &AsideOptions::default(), false, || 2), Err(_)));
}

#[tokio::test]
async fn enter_checks_options_first_then_joins_then_looks_l1_up() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("co")).await;
    let co = Coalescer::<u32>::new();
    let aside = c.cache_aside();
    c.manager().set("hot", "1", &stratacache::SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    // A hit makes no waiter.
    let mut made = 0;
    match aside.enter(&co, 0, "hot", &AsideOptions::default(), true, || { made += 1; 1 }).unwrap() {
        Entered::Hit(e) => assert_eq!(&*e.json, "\"1\""),
        _ => panic!("an L1 hit was not returned"),
    }
    assert_eq!(made, 0, "a waiter was made for a hit");
    // A miss leads; while that load runs, a caller joins it (no L1 lookup).
    let Entered::Lead(lead) = aside.enter(&co, 0, "cold", &AsideOptions::default(), true, || 2).unwrap() else { panic!() };
    assert!(matches!(aside.enter(&co, 0, "cold", &AsideOptions::default(), true, || 3).unwrap(), Entered::Waiting));
    // A write resolves meanwhile: the load began before it, so a caller from now on is not handed
    // that load's result but reads the written value.
    c.manager().set("cold", "meanwhile", &stratacache::SetOptions::default()).await.unwrap();
    match aside.enter(&co, 0, "cold", &AsideOptions::default(), true, || 9).unwrap() {
        Entered::Hit(e) => assert_eq!(&*e.json, "\"meanwhile\""),
        _ => panic!("a caller after the write joined the older load"),
    }
    // A bad option is refused, running load or not, and adds no waiter.
    let mut bad = AsideOptions::default();
    bad.tags = vec![String::new()];
    assert!(aside.enter(&co, 0, "cold", &bad, true, || 4).is_err());
    assert!(aside.enter(&co, 0, "hot", &bad, true, || 5).is_err());
    let (_, waiters) = lead.load(Arc::new(|| async { Ok(Some("\"loaded\"".to_owned())) }.boxed()), &AsideOptions::default()).await;
    assert_eq!(waiters, vec![2, 3]);
}

#[tokio::test]
async fn a_caller_after_an_invalidation_does_not_join_a_load_that_began_before_it() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("co")).await;
    let co = Coalescer::<u32>::new();
    let aside = c.cache_aside();
    let Entered::Lead(old) = aside.enter(&co, 0, "doc", &AsideOptions::default(), true, || 1).unwrap() else { panic!() };
    assert!(matches!(aside.enter(&co, 0, "doc", &AsideOptions::default(), true, || 2).unwrap(), Entered::Waiting));
    // The key is invalidated while that load runs: a caller arriving now starts a new load.
    c.manager().del("doc").await.unwrap();
    let Entered::Lead(new) = aside.enter(&co, 0, "doc", &AsideOptions::default(), true, || 3).unwrap() else {
        panic!("joined a load that began before the invalidation resolved")
    };
    assert!(matches!(aside.enter(&co, 0, "doc", &AsideOptions::default(), true, || 4).unwrap(), Entered::Waiting));
    let (r_new, w_new) = new.load(Arc::new(|| async { Ok(Some("\"new\"".to_owned())) }.boxed()), &AsideOptions::default()).await;
    assert_eq!((r_new.unwrap().as_deref(), w_new), (Some("\"new\""), vec![3, 4]));
    let (_, w_old) = old.load(Arc::new(|| async { Ok(Some("\"old\"".to_owned())) }.boxed()), &AsideOptions::default()).await;
    assert_eq!(w_old, vec![1, 2], "the first load keeps its own waiters");
    // The same for a tag of the load.
    let tagged = AsideOptions::default().with_tags(["t1"]);
    let Entered::Lead(_before) = aside.enter(&co, 0, "tagged", &tagged, true, || 5).unwrap() else { panic!() };
    c.manager().invalidate_by_tags(&["t1".to_owned()]).await.unwrap();
    assert!(matches!(aside.enter(&co, 0, "tagged", &tagged, true, || 6).unwrap(), Entered::Lead(_)), "joined across a tag invalidation");
}
