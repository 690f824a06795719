//! The in-process limiter (the `local` policy) makes the same decisions as the Lua scripts: the same
//! pseudo-random sequence of calls (costs, pauses across window edges, refill and leak) is run through
//! each script on a real Redis, then replayed through `LocalLimiter` at the `now` Redis reported. Some
//! script runs decide several identical calls in a row; each must equal one local decision.

mod support;

use std::time::Duration;

use stratacache::ratelimit::{Algorithm, Decision, LocalLimiter, Params};
use support::RedisServer;

fn script(a: Algorithm) -> redis::Script {
    redis::Script::new(stratacache::ratelimit::script_source(a))
}

/// A small deterministic generator (no dependency): xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn run(url: String, algorithm: Algorithm, seed: u64) {
    let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let s = script(algorithm);
    let local = LocalLimiter::new(16);
    let key = format!("eq:{}", algorithm.key_suffix());
    let mut rng = Rng(seed);
    let (window_ms, limit, rate_per_ms) = (150, 6, 0.03);
    let mut compared = 0;
    for _ in 0..60 {
        let cost = [1, 1, 1, 2, 3, 7][rng.next(6) as usize];
        // Sometimes one script run decides several identical calls in a row (ARGV[4]).
        let n = [1, 1, 1, 2, 4, 9][rng.next(6) as usize];
        let mut inv = s.key(&key);
        match algorithm {
            Algorithm::TokenBucket | Algorithm::LeakyBucket => inv.arg(limit).arg(format!("{rate_per_ms}")).arg(cost),
            _ => inv.arg(window_ms).arg(limit).arg(cost),
        };
        inv.arg(n);
        let r: Vec<u64> = inv.invoke_async(&mut conn).await.unwrap();
        assert_eq!(r.len(), 4 * n + 1);
        let now = r[4 * n];
        let params = Params { window_ms, limit, cost, rate_per_ms };
        for (i, d) in r.chunks_exact(4).enumerate() {
            let redis = Decision { allowed: d[0] == 1, remaining: d[1], reset_ms: d[2], retry_after_ms: d[3] };
            let mine = local.decide(algorithm, &key, &params, now);
            assert_eq!(mine, redis, "{algorithm:?}: call {compared} ({i} of {n} in one run, cost {cost}, now {now})");
            compared += 1;
        }
        if rng.next(4) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.next(60))).await;
        }
    }
}

#[tokio::test]
async fn the_local_limiter_decides_exactly_as_the_scripts() {
    let server = RedisServer::start();
    let tasks: Vec<_> = Algorithm::ALL
        .into_iter()
        .enumerate()
        .map(|(i, a)| tokio::spawn(run(server.url(), a, 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1))))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}
