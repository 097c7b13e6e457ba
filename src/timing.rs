//! Publication times: a histogram a router keeps once asked to ([`Router::track_publish_times`]),
//! for metrics exporters.
//!
//! [`Router::track_publish_times`]: crate::Router::track_publish_times

use std::time::Duration;

/// The upper bounds (seconds) of [`PublishTimes`]' buckets, from 10 µs to 10 s.
pub const PUBLISH_BUCKETS: [f64; 13] = [
    1e-5, 2.5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 2.5e-2, 0.1, 0.5, 2.5, 10.0,
];

/// How long a router's publications took: from the start of the commit (the build of the new
/// snapshot included) to the pointer swap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishTimes {
    /// Publications timed.
    pub count: u64,
    /// Their total duration, in seconds.
    pub sum: f64,
    /// Publications at or under each bound of [`PUBLISH_BUCKETS`] (cumulative, as Prometheus
    /// buckets are); the `+Inf` bucket is `count`.
    pub buckets: [u64; PUBLISH_BUCKETS.len()],
}

impl PublishTimes {
    pub(crate) fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        self.count += 1;
        self.sum += s;
        for (b, &le) in self.buckets.iter_mut().zip(&PUBLISH_BUCKETS) {
            if s <= le {
                *b += 1;
            }
        }
    }
}
