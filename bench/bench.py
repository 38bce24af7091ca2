#!/usr/bin/env python3
"""Benchmarks datasurface on generated models and prints a Markdown table.

Usage: python3 bench/bench.py [--runs N] [--dir DIR] [--cache-dir DIR] [preset ...]
Presets: small medium large huge (default: small medium large).

For each preset it generates (once, cached in DIR) a git repository with a `base` commit
and a `head` commit that changes one datastore file, and a checked-out folder of `base`.
It then times, with /usr/bin/time, the release binary on:
  lint (folder)   datasurface lint <folder>
  lint (git)      datasurface lint <repo> --rev base
  check           datasurface check --base base --head head --as-repo gen/t00000
  check (warm)    the same with --cache-dir, after one run that fills the cache
and reports the minimum and median wall time over N runs and the largest peak RSS.
Wall times on a shared 2-core VM are noisy: the minimum is the most repeatable figure.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# DATASURFACE_BIN compares another build (say, the previous commit) on the same models.
BIN = os.environ.get("DATASURFACE_BIN") or os.path.join(ROOT, "target", "release", "datasurface")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def du(path):
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def human(n):
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def timed(cmd, cwd, runs):
    walls, rss = [], 0
    for _ in range(runs):
        with tempfile.NamedTemporaryFile("r") as out:
            proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", out.name] + cmd, cwd=cwd,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if proc.returncode not in (0, 1):
                sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")
            wall, kb = out.read().split()[-2:]
            walls.append(float(wall))
            rss = max(rss, int(kb) * 1024)
    return min(walls), statistics.median(walls), rss


def prepare(preset, base_dir):
    repo = os.path.join(base_dir, f"{preset}-git")
    folder = os.path.join(base_dir, f"{preset}-dir")
    if not os.path.exists(os.path.join(repo, ".git")):
        shutil.rmtree(repo, ignore_errors=True)
        sh([BIN, "generate", repo, "--preset", preset, "--git"])
    if not os.path.exists(os.path.join(folder, "ecosystem.yaml")):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        archive = subprocess.Popen(["git", "-C", repo, "archive", "base"], stdout=subprocess.PIPE)
        sh(["tar", "-x", "-C", folder], stdin=archive.stdout)
        archive.wait()
    return repo, folder


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("presets", nargs="*", default=["small", "medium", "large"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "datasurface-bench"))
    args = parser.parse_args()
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    os.makedirs(args.dir, exist_ok=True)
    print("| preset | model on disk (files) | git pack | lint folder min / median | lint git min / median | check min / median | check warm cache min / median | peak RSS lint / check |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        repo, folder = prepare(preset, args.dir)
        files = sum(len(f) for _, _, f in os.walk(folder))
        cache = os.path.join(args.dir, f"{preset}-cache")
        shutil.rmtree(cache, ignore_errors=True)
        check = [BIN, "check", "--base", "base", "--head", "head", "--as-repo", "gen/t00000"]
        lint_dir = timed([BIN, "lint", folder], ROOT, args.runs)
        lint_git = timed([BIN, "lint", ".", "--rev", "base"], repo, args.runs)
        cold = timed(check, repo, args.runs)
        timed(check + ["--cache-dir", cache], repo, 1)
        warm = timed(check + ["--cache-dir", cache], repo, args.runs)
        fmt = lambda t: f"{t[0]:.2f} s / {t[1]:.2f} s"
        print(f"| {preset} | {human(du(folder))} ({files}) | {human(du(os.path.join(repo, '.git')))} | {fmt(lint_dir)} | {fmt(lint_git)} | {fmt(cold)} | {fmt(warm)} | {human(max(lint_dir[2], lint_git[2]))} / {human(max(cold[2], warm[2]))} |", flush=True)


if __name__ == "__main__":
    main()
