//! Rate limiting against a real Redis: exact counts under concurrency for every algorithm, the
//! countdown, cost, refill/leak, SCRIPT FLUSH, expiries, the Redis-down policies and recovery.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use stratacache::ratelimit::{Algorithm, BucketOptions, LimitOptions, RedisErrorPolicy};
use stratacache::ErrorKind;
use support::{cache, command_calls, unique_ns, RedisServer};

const HOUR: u64 = 3_600_000;

#[tokio::test]
async fn every_algorithm_admits_exactly_n_of_3n_concurrent_calls() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rl_exact")).await;
    let n = 50u64;
    for algorithm in Algorithm::ALL {
        let id = format!("exact:{}", algorithm.name());
        let opts = LimitOptions::new(HOUR, n).algorithm(algorithm);
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (c, id) = (c.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for _ in 0..(3 * n as usize).div_ceil(64) {
                    out.push(c.rate_limiter().limit(&id, &opts).await.unwrap());
                }
                out
            }));
        }
        let mut allowed = Vec::new();
        let mut denied = 0;
        for t in tasks {
            for r in t.await.unwrap() {
                assert_eq!(r.total, n);
                if r.allowed {
                    assert_eq!(r.retry_after, None);
                    allowed.push(r.remaining);
                } else {
                    denied += 1;
                    let ra = r.retry_after.expect("a denial says when to retry");
                    assert!((1..=3600).contains(&ra), "{algorithm:?}: retryAfter {ra}");
                }
            }
        }
        assert_eq!(allowed.len() as u64, n, "{algorithm:?}: exactly N allowed");
        assert!(denied >= 2 * n as usize, "{algorithm:?}");
        let seen: BTreeSet<u64> = allowed.into_iter().collect();
        assert_eq!(seen, (0..n).collect::<BTreeSet<_>>(), "{algorithm:?}: remaining took each of N-1..0 once");
    }
}

#[tokio::test]
async fn countdown_cost_and_every_key_expires() {
    let server = RedisServer::start();
    let ns = unique_ns("rl_count");
    let c = cache(&server.url(), &ns).await;
    let rl = c.rate_limiter();
    let mut raw = server.raw().await;
    for algorithm in Algorithm::ALL {
        let id = format!("count:{}", algorithm.name());
        let opts = LimitOptions::new(HOUR, 5).algorithm(algorithm);
        let first = rl.limit(&id, &opts).await.unwrap();
        assert!(first.allowed);
        assert_eq!(first.remaining, 4);
        assert!(first.reset_time > 1_700_000_000_000, "resetTime is epoch ms");
        // A cost larger than what remains is denied and consumes nothing.
        let big = rl.limit(&id, &opts.cost(5)).await.unwrap();
        assert!(!big.allowed, "{algorithm:?}");
        assert_eq!(big.remaining, 4, "{algorithm:?}: nothing consumed");
        let two = rl.limit(&id, &opts.cost(2)).await.unwrap();
        assert!(two.allowed);
        assert_eq!(two.remaining, 2);
        for expect in [1, 0] {
            let r = rl.limit(&id, &opts).await.unwrap();
            assert!(r.allowed);
            assert_eq!(r.remaining, expect, "{algorithm:?}");
        }
        let over = rl.limit(&id, &opts).await.unwrap();
        assert!(!over.allowed);
        assert_eq!(over.remaining, 0);

        let key = format!("{ns}:rl:{{{id}}}:{}", algorithm.key_suffix());
        let ttl: i64 = raw.pttl(&key).await.unwrap();
        assert!(ttl > 0 && ttl <= 2 * HOUR as i64, "{key} must expire, PTTL {ttl}");
        if algorithm == Algorithm::SlidingLog {
            let calls: u64 = raw.zcount(&key, 0, "+inf").await.unwrap();
            assert_eq!(calls, 4, "one member per admitted call (costs 1, 2, 1, 1)");
            let total: f64 = raw.zscore(&key, "sum").await.unwrap();
            assert_eq!(total, -6.0, "the running total: 5 units, never more than maxRequests");
        }
    }
    // reset forgets every algorithm's state.
    rl.reset("count:fixed-window").await.unwrap();
    let r = rl.limit("count:fixed-window", &LimitOptions::new(HOUR, 5).algorithm(Algorithm::FixedWindow)).await.unwrap();
    assert_eq!(r.remaining, 4);
}

#[tokio::test]
async fn refill_and_leak_after_waiting_admit_exactly_the_expected_number() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rl_refill")).await;
    let rl = c.rate_limiter();
    // 10 units per second: 250 ms later 2.5 units are back, so 2 more calls pass. The count is checked
    // against the time that really passed (a loaded machine may oversleep): one unit per full 100 ms.
    let bucket = BucketOptions {
        window_ms: 60_000,
        max_requests: 5,
        rate_per_sec: Some(10.0),
        bucket_size: Some(5),
        cost: 1,
        on_redis_error: RedisErrorPolicy::Local,
    };
    let units = |d: Duration| (d.as_millis() / 100) as u32;
    for leaky in [false, true] {
        let id = format!("refill:{leaky}");
        let call = || async { if leaky { rl.leaky_bucket(&id, &bucket).await } else { rl.token_bucket(&id, &bucket).await }.unwrap() };
        let started = Instant::now();
        let mut allowed = 0;
        for _ in 0..8 {
            allowed += call().await.allowed as u32;
        }
        let first = started.elapsed();
        assert!((5..=5 + units(first)).contains(&allowed), "leaky={leaky}: the bucket starts full: {allowed} in {first:?}");
        let emptied = Instant::now();
        tokio::time::sleep(Duration::from_millis(250)).await;
        let before = emptied.elapsed();
        let mut again = 0;
        for _ in 0..4 {
            again += call().await.allowed as u32;
        }
        let after = emptied.elapsed();
        // The refill counts from the last admitted call, which happened between `started` and `emptied`.
        assert!(
            (units(before).min(4)..=units(first + after).min(4)).contains(&again),
            "leaky={leaky}: {again} admitted {before:?}..{after:?} after the bucket ran empty"
        );
        assert!(again >= 2, "leaky={leaky}: 2.5 units came back in 250 ms");
    }
    // Window algorithms: once the window has passed, the full quota is back. Each round starts early
    // in a window (fixed windows are aligned on the epoch, by Redis's clock), so that its five calls
    // cannot straddle two windows even on a loaded machine.
    let mut raw = server.raw().await;
    let window = 400u64;
    for algorithm in [Algorithm::FixedWindow, Algorithm::SlidingLog] {
        let id = format!("win:{}", algorithm.name());
        let opts = LimitOptions::new(window, 3).algorithm(algorithm);
        for round in 0..2 {
            let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut raw).await.unwrap();
            let into = (secs * 1000 + micros / 1000) % window;
            if into > window / 4 {
                tokio::time::sleep(Duration::from_millis(window - into + 5)).await;
            }
            let mut n = 0;
            for _ in 0..5 {
                n += rl.limit(&id, &opts).await.unwrap().allowed as u32;
            }
            assert_eq!(n, 3, "{algorithm:?}, round {round}: N of 5 in one window (round 1: a new window admits N again)");
            tokio::time::sleep(Duration::from_millis(window + 50)).await;
        }
    }
}

#[tokio::test]
async fn script_flush_mid_run_changes_nothing() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rl_flush")).await;
    let mut raw = server.raw().await;
    for algorithm in Algorithm::ALL {
        let id = format!("flush:{}", algorithm.name());
        let opts = LimitOptions::new(HOUR, 10).algorithm(algorithm);
        let mut allowed = 0;
        for i in 0..30 {
            if i == 4 || i == 17 {
                let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut raw).await.unwrap();
            }
            allowed += c.rate_limiter().limit(&id, &opts).await.unwrap().allowed as u32;
        }
        assert_eq!(allowed, 10, "{algorithm:?}");
    }
}

#[tokio::test]
async fn redis_down_applies_the_policy_and_shared_limits_return_with_redis() {
    let mut server = RedisServer::start();
    let port = server.url().rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let c = cache(&server.url(), &unique_ns("rl_down")).await;
    let rl = c.rate_limiter();
    let opts = LimitOptions::new(HOUR, 3);
    assert!(rl.limit("down", &opts).await.unwrap().allowed);
    server.kill();

    let t = Instant::now();
    assert!(rl.limit("down", &opts.on_redis_error(RedisErrorPolicy::Allow)).await.unwrap().allowed);
    let denied = rl.limit("down", &opts.on_redis_error(RedisErrorPolicy::Deny)).await.unwrap();
    assert!(!denied.allowed);
    assert!(denied.retry_after.unwrap() >= 1);
    // local (the default): an in-process limiter of the same algorithm, starting full.
    let local: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(rl.limit("down", &opts).await.unwrap().allowed);
        }
        v
    };
    assert_eq!(local, [true, true, true, false, false]);
    assert!(t.elapsed() < Duration::from_secs(6), "decisions without Redis must not hang: {:?}", t.elapsed());
    assert!(rl.stats().fallbacks >= 7);

    // Redis back (empty): decisions are shared again, by themselves.
    let _server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut raw = _server.raw().await;
    loop {
        let r = rl.limit("down", &opts).await.unwrap();
        let in_redis: bool = raw.exists(format!("{}:rl:{{down}}:sc", c.manager().keys().namespace())).await.unwrap();
        if in_redis {
            assert!(r.allowed, "a fresh Redis has the full quota");
            break;
        }
        assert!(Instant::now() < deadline, "rate limiting did not return to Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_a_clear_error() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rl_bad")).await;
    let rl = c.rate_limiter();
    let e = rl.limit("", &LimitOptions::new(1000, 5)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey);
    assert!(e.message().contains("identifier"), "{}", e.message());
    let e = rl.limit("x", &LimitOptions::new(0, 5)).await.unwrap_err();
    assert!(e.message().contains("windowMs"), "{}", e.message());
    let e = rl.limit("x", &LimitOptions::new(1000, 5).cost(0)).await.unwrap_err();
    assert!(e.message().contains("cost"), "{}", e.message());
    let bad_rate = BucketOptions {
        window_ms: 1000,
        max_requests: 5,
        rate_per_sec: Some(-1.0),
        bucket_size: None,
        cost: 1,
        on_redis_error: RedisErrorPolicy::Local,
    };
    let e = rl.token_bucket("x", &bad_rate).await.unwrap_err();
    assert!(e.message().contains("refillRate") && e.message().contains("-1"), "{}", e.message());
    // A rate so small that "time until full" overflows the key expiry is refused, not stored with a
    // negative expiry (which would delete the state): issue 19.
    let tiny = BucketOptions { rate_per_sec: Some(1e-12), ..bad_rate };
    let e = rl.token_bucket("x", &tiny).await.unwrap_err();
    assert!(e.message().contains("refillRate is too small") && e.message().contains("more than a year"), "{}", e.message());
    let e = rl.leaky_bucket("x", &tiny).await.unwrap_err();
    assert!(e.message().contains("leakRate is too small"), "{}", e.message());
    let slow_but_fine = BucketOptions { rate_per_sec: Some(1e-6), ..bad_rate };
    assert!(rl.token_bucket("ok", &slow_but_fine).await.unwrap().allowed, "5 units at 1e-6/s fill in ~58 days: accepted");
    let e = stratacache::dynopts::limit_options(serde_json::json!({"windowMs": 1000, "maxRequests": 5, "algorithm": "banana"})).unwrap_err();
    assert!(e.message().contains("banana"), "{}", e.message());
    let e = stratacache::dynopts::limit_options(serde_json::json!({"windowMs": 1000, "maxRequests": 5, "onRedisError": "retry"})).unwrap_err();
    assert!(e.message().contains("retry"), "{}", e.message());
    let e = stratacache::dynopts::limit_options(serde_json::json!({"windowMs": 1000})).unwrap_err();
    assert!(e.message().contains("maxRequests"), "{}", e.message());
}

#[tokio::test]
async fn a_foreign_value_under_a_limit_key_is_an_error_not_a_silent_fallback() {
    let server = RedisServer::start();
    let ns = unique_ns("rl_wrongtype");
    let c = cache(&server.url(), &ns).await;
    let mut raw = server.raw().await;
    let _: () = raw.set(format!("{ns}:rl:{{clash}}:sc"), "not a hash").await.unwrap();
    let e = c.rate_limiter().limit("clash", &LimitOptions::new(HOUR, 5)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Redis, "{}", e.message());
    assert_eq!(c.rate_limiter().stats().fallbacks, 0, "a Redis that answers is not a Redis that is down");
}

#[tokio::test]
async fn identifiers_with_braces_colons_and_unicode_stay_separate() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rl_ids")).await;
    let rl = c.rate_limiter();
    let opts = LimitOptions::new(HOUR, 2);
    let ids = ["a}b", "a}c", "{x}", "user:1", "user:1:", "東京", "a b"];
    for id in ids {
        assert_eq!(rl.limit(id, &opts).await.unwrap().remaining, 1, "{id}");
    }
    for id in ids {
        let r = rl.limit(id, &opts).await.unwrap();
        assert_eq!((r.allowed, r.remaining), (true, 0), "{id}: each identifier has its own quota");
    }
}

#[tokio::test]
async fn a_batch_decides_each_call_as_if_alone_in_order() {
    use stratacache::ratelimit::RateLimitCall;
    let mut server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rl_batch")).await;
    let rl = c.rate_limiter();
    let mut raw = server.raw().await;
    let two = LimitOptions::new(HOUR, 2);
    let bucket = BucketOptions { window_ms: HOUR, max_requests: 1, rate_per_sec: None, bucket_size: None, cost: 1, on_redis_error: RedisErrorPolicy::Local };
    let calls = |id: &str| {
        vec![
            (id.to_owned(), RateLimitCall::Limit(two)),
            (id.to_owned(), RateLimitCall::Limit(two)),
            (String::new(), RateLimitCall::Limit(two)),
            (id.to_owned(), RateLimitCall::Limit(two)),
            (id.to_owned(), RateLimitCall::Limit(LimitOptions::new(HOUR, 0))),
            (id.to_owned(), RateLimitCall::TokenBucket(bucket)),
            (id.to_owned(), RateLimitCall::TokenBucket(bucket)),
            (id.to_owned(), RateLimitCall::LeakyBucket(bucket)),
            (id.to_owned(), RateLimitCall::Limit(two.algorithm(Algorithm::SlidingLog).cost(3))),
        ]
    };
    let view = |results: Vec<stratacache::Result<stratacache::ratelimit::RateLimitResult>>| -> Vec<Result<(bool, u64), ErrorKind>> {
        results.into_iter().map(|r| r.map(|r| (r.allowed, r.remaining)).map_err(|e| e.kind())).collect()
    };
    let expected = vec![
        Ok((true, 1)),
        Ok((true, 0)),
        Err(ErrorKind::InvalidKey),
        Ok((false, 0)),
        Err(ErrorKind::InvalidArgument),
        Ok((true, 0)),
        Ok((false, 0)),
        Ok((true, 0)),
        Ok((false, 2)),
    ];
    assert_eq!(view(rl.decide_batch(&calls("batch:a")).await), expected);

    // After SCRIPT FLUSH the same batch on a fresh identifier decides the same (NOSCRIPT reloads).
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut raw).await.unwrap();
    assert_eq!(view(rl.decide_batch(&calls("batch:b")).await), expected);
    let before = command_calls(&mut raw, "evalsha").await;
    assert_eq!(view(rl.decide_batch(&calls("batch:c")).await), expected);
    let after = command_calls(&mut raw, "evalsha").await;
    // Identical calls on one identifier share a script run: the three sliding-counter calls, the two
    // token-bucket calls, the leaky bucket and the sliding log make 4 runs for 7 valid calls.
    assert_eq!(after - before, 4, "one EVALSHA per run of identical calls");

    // Redis gone: each call follows its own policy.
    server.kill();
    let down = vec![
        ("batch:d".to_owned(), RateLimitCall::Limit(two.on_redis_error(RedisErrorPolicy::Allow))),
        ("batch:d".to_owned(), RateLimitCall::Limit(two.on_redis_error(RedisErrorPolicy::Deny))),
        ("batch:d".to_owned(), RateLimitCall::Limit(two)),
        ("batch:d".to_owned(), RateLimitCall::Limit(two)),
        ("batch:d".to_owned(), RateLimitCall::Limit(two)),
    ];
    let got: Vec<bool> = rl.decide_batch(&down).await.into_iter().map(|r| r.unwrap().allowed).collect();
    assert_eq!(got, [true, false, true, true, false]);
}

#[tokio::test]
async fn a_huge_cost_is_one_member_and_keeps_redis_responsive() {
    // Issue 19: sliding-log used to run one ZADD per unit of cost inside its script.
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rl_cost")).await;
    let rl = c.rate_limiter();
    let opts = LimitOptions::new(HOUR, 20_000_000).algorithm(Algorithm::SlidingLog).cost(10_000_000);
    let mut probe = server.raw().await;
    let pinger = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        for _ in 0..40 {
            let t = Instant::now();
            let _: String = redis::cmd("PING").query_async(&mut probe).await.unwrap();
            worst = worst.max(t.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worst
    });
    let first = rl.limit("bulk", &opts).await.unwrap();
    let second = rl.limit("bulk", &opts).await.unwrap();
    let third = rl.limit("bulk", &opts).await.unwrap();
    assert_eq!((first.allowed, first.remaining), (true, 10_000_000));
    assert_eq!((second.allowed, second.remaining), (true, 0));
    assert!(!third.allowed && third.retry_after.is_some_and(|s| s > 0), "{third:?}");
    let worst = pinger.await.unwrap();
    assert!(worst < Duration::from_millis(50), "PING took {worst:?} while the limiter ran");
    let mut raw = server.raw().await;
    let key = format!("{}:rl:{{bulk}}:sl", c.redis_config().namespace);
    let calls: u64 = raw.zcount(&key, 0, "+inf").await.unwrap();
    assert_eq!(calls, 2, "one member per admitted call, whatever its cost");
    c.close().await;
}
