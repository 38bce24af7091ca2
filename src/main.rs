//! The `datasurface` binary: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    // A one-shot command frees and reallocates gigabytes while it loads a model. With
    // mimalloc's default purge delay (1 s) freed pages go back to the kernel and come back
    // zeroed moments later: 12% of a 1M-dataset lint was the kernel clearing pages, and not
    // purging took 10-15% off its time at the same peak (docs/performance.md). The service
    // lives on and should give memory back after a big check, so it keeps the default.
    // `MIMALLOC_PURGE_DELAY` in the environment still wins.
    let one_shot = std::env::args_os().nth(1).is_none_or(|command| command != "serve");
    if one_shot && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        keep_freed_pages();
    }
    datasurface::cli::main()
}

/// Tells mimalloc not to return freed pages to the kernel before the process exits.
fn keep_freed_pages() {
    /// `mi_option_purge_delay` in mimalloc.h (v3): the 16th option, counting from 0.
    const PURGE_DELAY: std::ffi::c_int = 15;
    unsafe extern "C" {
        /// mimalloc's `mi_option_set`.
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: mimalloc (linked by the `mimalloc` crate) defines this function with this
    // signature; it only stores the value, and it is called before any other thread starts.
    unsafe { mi_option_set(PURGE_DELAY, -1) }
}

// Loading a model allocates millions of small objects on every core; mimalloc does that
// markedly faster than the system allocator (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
