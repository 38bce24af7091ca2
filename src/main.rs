//! The `datasurface` binary: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    datasurface::cli::main()
}

// Loading a model allocates millions of small objects on every core; mimalloc does that
// markedly faster than the system allocator (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
