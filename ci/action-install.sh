#!/usr/bin/env bash
# The GitHub Action's install step: a released binary when INPUT_VERSION names one for this
# runner, otherwise a build of the action's own source (cached by the previous step).
# It only ever runs code of the action, never of the pull request being checked.
set -euo pipefail

target=""
case "${RUNNER_OS:-}-${RUNNER_ARCH:-}" in
    Linux-X64) target=x86_64-unknown-linux-gnu ;;
    Linux-ARM64) target=aarch64-unknown-linux-gnu ;;
    macOS-ARM64) target=aarch64-apple-darwin ;;
    macOS-X64) target=x86_64-apple-darwin ;;
esac
bin_dir="${RUNNER_TEMP:-/tmp}/datasurface-bin"
mkdir -p "$bin_dir"

if [ -n "${INPUT_VERSION:-}" ] && [ -n "$target" ]; then
    version="${INPUT_VERSION#v}"
    url="https://github.com/datasurface/datasurface/releases/download/v${version}/datasurface-${version}-${target}.tar.gz"
    if curl -fsSL "$url" | tar -xz -C "$bin_dir" datasurface 2>/dev/null; then
        echo "$bin_dir" >> "${GITHUB_PATH:-/dev/null}"
        "$bin_dir/datasurface" --version
        exit 0
    fi
    echo "::notice title=datasurface::no release ${version} for ${target}; building from source"
fi

cargo build --release --locked --manifest-path "$ACTION_PATH/Cargo.toml"
cp "$ACTION_PATH/target/release/datasurface" "$bin_dir/"
echo "$bin_dir" >> "${GITHUB_PATH:-/dev/null}"
"$bin_dir/datasurface" --version
