//! Memory: the process's peak resident set (getrusage `ru_maxrss`), and the heap bytes a ring holds
//! after it is built, counted by a global allocator wrapper while a build runs ([`count_heap`]).
//! Outside a build the wrapper costs one relaxed load of a flag per allocation (lookups of
//! ringroute, pingora-ketama and hashring do not allocate; conhash's allocate a `Vec` each).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The system allocator, counting net bytes allocated while [`COUNTING`] is set.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static NET_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counter has no effect on allocation.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            NET_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` (a ring build, on the calling thread with no other thread allocating) and returns its
/// result with the net heap bytes allocated meanwhile: what the built value holds on the heap.
pub fn count_heap<T>(f: impl FnOnce() -> T) -> (T, u64) {
    NET_BYTES.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let v = f();
    COUNTING.store(false, Ordering::Relaxed);
    (v, NET_BYTES.load(Ordering::Relaxed).max(0) as u64)
}

/// The process's peak resident set size so far, in KiB (`getrusage(RUSAGE_SELF).ru_maxrss`, which
/// Linux reports in KiB); 0 if unavailable.
pub fn peak_rss_kib() -> u64 {
    // SAFETY: getrusage writes only the struct we pass; an all-zero `rusage` is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    let v = ru.ru_maxrss.max(0) as u64;
    if cfg!(target_os = "macos") {
        v / 1024 // bytes there
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_memory() {
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        if cfg!(target_os = "linux") {
            assert!(super::peak_rss_kib() >= 60 << 10);
        }
    }

    #[test]
    fn counts_what_a_build_keeps() {
        let (v, bytes) = super::count_heap(|| {
            let tmp = vec![0u64; 1000];
            std::hint::black_box(&tmp);
            let mut keep = Vec::with_capacity(16);
            keep.extend_from_slice(&[1u32; 16]);
            keep
        });
        assert_eq!(v.len(), 16);
        // Other test threads may allocate meanwhile; this one's 64 bytes are in there.
        assert!(bytes >= 64, "{bytes}");
    }
}
