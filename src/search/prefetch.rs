//! Software prefetch: the one `std::arch` intrinsic the portable search paths use (the vector
//! kernels of `simd` are the other `std::arch` code of the search module).

/// Hints the CPU to bring the cache line holding `p` into L1. Never dereferences `p`, so any address,
/// in bounds or not, is fine; on targets without a prefetch intrinsic it does nothing.
#[inline(always)]
pub(crate) fn prefetch_read<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; a prefetch is only a hint and
        // never faults or reads memory architecturally, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = p;
    }
}
