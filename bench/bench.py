#!/usr/bin/env python3
"""Benchmarks datasurface on generated models and prints a Markdown table.

Usage: python3 bench/bench.py [--runs N] [--dir DIR] [preset ...]
Presets: small medium large huge giant (default: small medium large).

For each preset it generates (once, cached in DIR) a git repository with a `base` commit
and a `head` commit that changes one datastore file, and a checked-out folder of `base`.
It then times, with /usr/bin/time, the release binary on:
  lint (folder)   datasurface lint <folder>
  lint (git)      datasurface lint <repo> --rev base
  check           datasurface check --base base --head head --as-repo gen/t00000
  check (warm)    the same with --cache-dir, after one run that fills the cache
  warm, new change  a check of another one-file change (head2, and on each run a new one)
                  with the same --cache-dir: what a pull request costs once main was checked
and reports the minimum and median wall time over N runs and the peak RSS of each.
`giant` (12 million datasets) is written as a git repository only (about 3.5 minutes and
0.9 GB; a folder would be 8 GB of small files), so its "lint folder" column stays empty.
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
    if preset == "giant":
        return repo, None
    if not os.path.exists(os.path.join(folder, "ecosystem.yaml")):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        archive = subprocess.Popen(["git", "-C", repo, "archive", "base"], stdout=subprocess.PIPE)
        sh(["tar", "-x", "-C", folder], stdin=archive.stdout)
        archive.wait()
    return repo, folder


def one_file_change(repo, tag, n):
    """Commits on `base`, tagged `tag`, a nullable column in the n-th datastore file of the
    n-th team folder: a one-file change that no earlier run has seen."""
    out = lambda *a: subprocess.run(["git", "-C", repo] + list(a), check=True, capture_output=True, text=True).stdout
    teams = [l for l in out("ls-tree", "-d", "--name-only", "base:zones/z000/teams").split()]
    team = teams[(7 * n + 3) % len(teams)]
    stores = out("ls-tree", "--name-only", f"base:zones/z000/teams/{team}/datastores").split()
    path = f"zones/z000/teams/{team}/datastores/{stores[n % len(stores)]}"
    text = out("show", f"base:{path}")
    at = text.index("columns:\n") + len("columns:\n")
    line = text[at:text.index("\n", at) + 1]
    indent = line[:len(line) - len(line.lstrip())]
    text = text[:at] + f"{indent}- {{name: bench_{n}, type: integer}}\n" + text[at:]
    blob = subprocess.run(["git", "-C", repo, "hash-object", "-w", "--stdin"], input=text, check=True,
                          capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, GIT_INDEX_FILE=os.path.join(repo, ".git", "bench-index"))
    run = lambda *a: subprocess.run(["git", "-C", repo] + list(a), check=True, capture_output=True, text=True, env=env).stdout
    run("read-tree", "base")
    run("update-index", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree").strip()
    commit = run("commit-tree", tree, "-p", "base", "-m", f"bench change {n}").strip()
    run("tag", "-f", tag, commit)
    os.remove(env["GIT_INDEX_FILE"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("presets", nargs="*", default=["small", "medium", "large"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "datasurface-bench"))
    args = parser.parse_args()
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    os.makedirs(args.dir, exist_ok=True)
    print("| preset | model on disk (files) | git pack | lint folder min / median | lint git min / median | check min / median | check warm (same) min / median | check warm (new change) min / median | peak RSS lint / check / warm |")
    print("|---|---|---|---|---|---|---|---|---|")
    # Models over the default --max-model-size (4 GiB) are the point of the bigger presets.
    limit = ["--max-model-size", str(16 << 30)]
    for preset in args.presets:
        repo, folder = prepare(preset, args.dir)
        cache = os.path.join(args.dir, f"{preset}-cache")
        shutil.rmtree(cache, ignore_errors=True)
        check = [BIN, "check", "--base", "base", "--head", "head", "--as-repo", "gen/t00000"] + limit
        lint_dir = timed([BIN, "lint", folder] + limit, ROOT, args.runs) if folder else None
        lint_git = timed([BIN, "lint", ".", "--rev", "base"] + limit, repo, args.runs)
        cold = timed(check, repo, args.runs)
        timed(check + ["--cache-dir", cache], repo, 1)
        warm = timed(check + ["--cache-dir", cache], repo, args.runs)
        # Each run a change no run has seen: the cost of a new pull request.
        fresh = []
        for n in range(args.runs):
            one_file_change(repo, "head2", n + 1)
            fresh.append(timed(check[:5] + ["head2"] + check[6:] + ["--cache-dir", cache], repo, 1))
        fresh = (min(f[0] for f in fresh), statistics.median(f[0] for f in fresh), max(f[2] for f in fresh))
        fmt = lambda t: f"{t[0]:.2f} s / {t[1]:.2f} s" if t else "—"
        on_disk = f"{human(du(folder))} ({sum(len(f) for _, _, f in os.walk(folder))})" if folder else "(git only)"
        lint_rss = max(lint_git[2], lint_dir[2] if lint_dir else 0)
        print(f"| {preset} | {on_disk} | {human(du(os.path.join(repo, '.git')))} | {fmt(lint_dir)} | {fmt(lint_git)} | {fmt(cold)} | {fmt(warm)} | {fmt(fresh)} | {human(lint_rss)} / {human(cold[2])} / {human(max(warm[2], fresh[2]))} |", flush=True)


if __name__ == "__main__":
    main()
