//! Paired timing: ringroute's builds and publications against the fastest-building peer's builds,
//! taken in alternation, round by round, so that the ratios compare times from the same seconds.
//!
//! The separate medians (`build ms`, `publish idle`) are each taken over about a second, seconds
//! apart from the peer's; on a shared machine whose speed changes from one second to the next,
//! their ratio moves with it. Here each round times one build of each (which goes first
//! alternates) and a few publications, and the ratio is taken within the round; the report gives
//! the median of the rounds' ratios.

use std::time::{Duration, Instant};

/// The most rounds.
pub const ROUNDS: usize = 15;

/// The fewest rounds, however long they take.
const ROUNDS_MIN: usize = 3;

/// Publications (remove or re-add calls) a round times; its publication time is their median.
pub const PUBLISHES: usize = 30;

/// Publications a round makes untimed before those it times (after [`Publishing::warm`]).
const WARM_PUBLISHES: usize = 4;

/// How a round publishes into ringroute's ring.
pub struct Publishing<'a> {
    /// Brings the ring back into the caches, as a ring that serves lookups is: the builds before
    /// the round's publications took the caches, and a publication into a ring no lookup has read
    /// for a while fetches its pages from memory.
    pub warm: &'a mut dyn FnMut(),
    /// One publication (a remove or a re-add), timed.
    pub publish: &'a mut dyn FnMut() -> Duration,
}

/// Ratios of one ring size, measured in alternation.
#[derive(Debug, Clone)]
pub struct Paired {
    /// The peer built in the rounds (the fastest-building one).
    pub peer: &'static str,
    /// Rounds taken.
    pub rounds: usize,
    /// Median over the rounds of the peer's build time / ringroute's.
    pub build_ratio: f64,
    /// Median over the rounds of the peer's build time / the median of the round's ringroute
    /// publications (`None` without publications: Maglev rings).
    pub publish_ratio: Option<f64>,
}

/// How long `f` takes; its result is dropped after the clock stops.
pub fn timed<T>(f: impl FnOnce() -> T) -> Duration {
    let t = Instant::now();
    let r = f();
    let e = t.elapsed();
    drop(r);
    e
}

/// Takes rounds until [`ROUNDS`] or `budget` (at least [`ROUNDS_MIN`]): each times `ours` (a
/// ringroute build) and `theirs` (the peer's), the first of them alternating, each right after an
/// untimed build of its own (as the separate medians take builds back to back: a build's code and
/// memory are then in the caches, where the other's build or the publications left theirs), and
/// [`PUBLISHES`] publications (after a warming and [`WARM_PUBLISHES`] untimed ones), if given.
pub fn measure(
    peer: &'static str,
    mut ours: impl FnMut() -> Duration,
    mut theirs: impl FnMut() -> Duration,
    mut publishing: Option<Publishing<'_>>,
    budget: Duration,
) -> Paired {
    let begin = Instant::now();
    let (mut builds, mut publishes) = (Vec::new(), Vec::new());
    while builds.len() < ROUNDS && (builds.len() < ROUNDS_MIN || begin.elapsed() < budget) {
        let mut ours = || {
            ours();
            ours()
        };
        let mut theirs = || {
            theirs();
            theirs()
        };
        let (a, b) = if builds.len() % 2 == 0 {
            let a = ours();
            (a, theirs())
        } else {
            let b = theirs();
            (ours(), b)
        };
        let peer_s = b.as_secs_f64();
        builds.push(peer_s / a.as_secs_f64().max(1e-9));
        if let Some(p) = publishing.as_mut() {
            (p.warm)();
            for _ in 0..WARM_PUBLISHES {
                (p.publish)();
            }
            let mut calls: Vec<f64> = (0..PUBLISHES)
                .map(|_| (p.publish)().as_secs_f64())
                .collect();
            publishes.push(peer_s / median(&mut calls).max(1e-9));
        }
    }
    Paired {
        peer,
        rounds: builds.len(),
        build_ratio: median(&mut builds),
        publish_ratio: (!publishes.is_empty()).then(|| median(&mut publishes)),
    }
}

/// The median of `v` (the upper one of an even count); `v` is sorted.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_the_medians_of_the_rounds_and_the_order_alternates() {
        // Ours takes 1 ms, theirs 3 ms, and publications 10 µs: every round's ratios are 3 and
        // 300, whichever goes first.
        let ms = Duration::from_millis;
        let order = std::cell::RefCell::new(String::new());
        let mut publish = || {
            order.borrow_mut().push('p');
            Duration::from_micros(10)
        };
        let mut warm = || order.borrow_mut().push('w');
        let p = measure(
            "peer",
            || {
                order.borrow_mut().push('o');
                ms(1)
            },
            || {
                order.borrow_mut().push('t');
                ms(3)
            },
            Some(Publishing {
                warm: &mut warm,
                publish: &mut publish,
            }),
            Duration::ZERO,
        );
        assert_eq!(p.rounds, ROUNDS_MIN);
        assert!((p.build_ratio - 3.0).abs() < 1e-9);
        assert!((p.publish_ratio.unwrap() - 300.0).abs() < 1e-6);
        let pubs = format!("w{}", "p".repeat(WARM_PUBLISHES + PUBLISHES));
        assert_eq!(*order.borrow(), format!("oott{pubs}ttoo{pubs}oott{pubs}"));
        // Rounds go on to the most while the budget lasts.
        let p = measure("peer", || ms(2), || ms(1), None, Duration::from_secs(60));
        assert_eq!(p.rounds, ROUNDS);
        assert!((p.build_ratio - 0.5).abs() < 1e-9 && p.publish_ratio.is_none());
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}
