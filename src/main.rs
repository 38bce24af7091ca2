//! The `datasurface` binary: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    datasurface::cli::main()
}
