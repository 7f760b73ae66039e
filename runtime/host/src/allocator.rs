//! How the idconn binary tunes mimalloc, its global allocator (src/main.rs;
//! the bench's native runner tunes its own the same way, so the two
//! processes allocate alike). An operator's own `MIMALLOC_PURGE_DELAY` or
//! `MIMALLOC_ALLOW_THP` wins over each choice.

/// mimalloc v3's `mi_option_purge_delay` (its `mimalloc.h`; libmimalloc-sys
/// only names v2's options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc v3's `mi_option_allow_thp`.
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Tunes mimalloc for an export's churn; call first thing in `main`.
///
/// - Freed memory goes back to the system after 100 ms instead of
///   mimalloc's default second. An export frees megabytes a second
///   (envelopes, batches), so a second's worth made peak RSS swing by
///   20 MiB from run to run with timing alone; at 100 ms it stays within a
///   few MiB (at 0 ms the purging itself costs a third more time).
/// - No transparent huge pages for this process. mimalloc asks for them
///   (`madvise(MADV_HUGEPAGE)` on its arenas, which Debian's default THP
///   mode, `madvise`, grants), so each page it re-uses after a purge came
///   back as a fresh 2 MiB page the kernel zeroed whole: 8% of a
///   100,000-mailbox export's CPU in `clear_page_erms`, and a peak RSS of
///   about 94 MB where 4 KiB pages need 60 MB (BENCHMARKS.md, "Memory").
///   mimalloc reads its own option when it starts, before `main`, so the
///   process is also marked with `prctl(PR_SET_THP_DISABLE)`, which the
///   kernel applies to every later fault, madvised arenas included.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an option's value; mimalloc
        // reads it on its next purge, from any thread.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: as above; mimalloc reads it before each new mapping.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only
        // this process's huge page policy. A kernel without it (before
        // 3.15) returns an error, and the process keeps its pages as
        // they were: nothing to report.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, not two: the defaults must be read before `tune` runs in
    // any thread of this process.
    #[test]
    fn the_tuned_options_are_the_ones_mimalloc_documents() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
            || std::env::var_os("MIMALLOC_ALLOW_THP").is_some()
        {
            return;
        }
        // mimalloc's documented defaults (1000 ms, THP allowed) show the
        // indexes still name these options.
        // SAFETY (each call below): reads an option's value.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let thp = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_ALLOW_THP) };
        assert_eq!((delay, thp), (1000, 1));
        tune();
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let thp = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_ALLOW_THP) };
        assert_eq!((delay, thp), (100, 0));
        // SAFETY: PR_GET_THP_DISABLE takes no pointer.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1, "the process is not marked THP-disabled");
    }
}
