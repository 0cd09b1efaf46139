"""`make bench`: whole-process timings of mlops-dash, with grafanalib alone as the reference.

    python3 benchmarks/bench.py [--runs 5] [--sizes 10,100,1000] [--results benchmarks/RESULTS.md]

Every figure is a complete process (interpreter start included), run ``--runs`` times after one
untimed warm-up, hyperfine-style: median wall time with min and max, median CPU time (user+sys of
the child, from ``os.wait4``: less sensitive to other load on the machine than wall time) and the
child's peak RSS. Cases:

* ``mlops-dash --help``, ``mlops-dash init`` (into a new folder); ``build`` and ``check`` on the shipped specs; ``lint`` when the
  command exists;
* ``build`` (into a new folder, so every file is written) and ``check`` on 10, 100 and
  1,000 synthetic dashboards (``synth_specs.py``); on the largest size also ``build -j 1``
  (one process) and, for information, ``build`` into a folder deleted just before the run;
* grafanalib alone rendering the same number of five-panel dashboards
  (``grafanalib_only.py``): the reference the ratios are quoted against, and of the targets
  of issue 18 (the shipped build at most 2.5× grafanalib-5, 1,000 dashboards at most 3×
  grafanalib-1000, median wall times of the same run). A target's case and its reference
  run in turns (``measure_together``), so a change in the CPU the shared machine gives us
  reaches both sides of the ratio;
* ``drift``: ``mlops-dash drift --dry-run`` on 1,000,000 rows × 20 numeric features (reference
  and current, Parquet) plus a prediction column (``bench_collectors.py``), peak memory of all
  its processes sampled too;
* ``instrument``: CPU cost of one ``PredictionRecorder.observe()``.

``--cases build,drift,instrument`` (the default: all) selects the groups; a run of some groups
writes only their figures (``--results -`` prints them without replacing RESULTS.md).

``--exporter`` runs the exporter's cases instead (``exporter_bench.py``: /metrics latency, full
and incremental KFP polls, idle CPU), which keep their own section of the results.
* ``build`` of one dashboard with 1,000 and 2,000 alerts (``synth_specs.py
  --alerts-per-dashboard``): rules, tests and runbooks must grow linearly in the alerts of a
  dashboard (2×, not the 4× of a per-alert pass over all alerts).

mlops-dash runs as ``python3 -m mlops_dash`` with ``PYTHONPATH`` set to this checkout's ``src``
(``--src`` points it at another checkout, to measure a before/after pair). The results replace
the top of ``benchmarks/RESULTS.md``; anything below the ``<!-- notes -->`` line is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOTES_MARK = "<!-- notes -->"

# Targets of issue 8 (on the 2-core reference machine).
TARGETS = {
    "help": 0.15,
    "init": 0.15,
    "build-shipped": 0.5,
    "check-shipped": 0.5,
    "lint-shipped": 5.0,
    "build-1000": 8.0,
}
# Targets of issue 18: mlops-dash against grafanalib alone, measured in the same run (median
# wall times of whole processes; build-time lint, parameters and templates included).
RATIO_TARGETS = {
    "build-shipped": ("grafanalib-5", 2.5),
    "build-1000": ("grafanalib-1000", 3.0),
}
RSS_TARGET_MB = 500
GROWTH_TARGET = 11.0
# Targets of issue 16: the drift check of 1M rows x 20 features, the instrumentation.
DRIFT_TARGET_S = 10.0
DRIFT_RSS_TARGET_MB = 1536
INSTRUMENT_TARGET_US = 5.0
CASE_GROUPS = ("build", "drift", "instrument")
ALERT_GROWTH_TARGET = 2.5  # doubling the alerts of one dashboard: linear is 2×, quadratic 4×


@dataclass
class Result:
    case: str
    command: str
    wall: list[float]
    cpu: list[float]
    rss_mb: list[float]
    pss_mb: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def peak_mb(self) -> float:
        return max(self.rss_mb)

    @property
    def peak_all_mb(self) -> float | None:
        """Peak memory of the whole process tree (sum of PSS), when it was sampled."""
        return max(self.pss_mb) if self.pss_mb else None


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of ``pid`` and its descendants (shared pages counted once)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
            for thread in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (thread / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # it ended meanwhile
    return total


class _MemorySampler(threading.Thread):
    """Samples the process tree's total PSS every ``interval`` seconds (workers included: the
    peak RSS from wait4 is the largest single process only)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.peak_kb = max(self.peak_kb, _tree_pss_kb(self.pid))


def run_once(argv: list[str], env: dict[str, str], cwd: Path, memory: bool = False
             ) -> tuple[float, float, float, float | None]:
    """Wall seconds, CPU seconds (user+sys, workers included), peak RSS (MB) of the largest
    process and, with ``memory``, the sampled peak PSS (MB) of all its processes together."""
    sampler = None
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        if memory and Path(f"/proc/{proc.pid}/smaps_rollup").exists():
            sampler = _MemorySampler(proc.pid)
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if sampler is not None:
            sampler.done.set()
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0,):
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n"
                             f"{err.read().decode(errors='replace')[-2000:]}")
    # ru_maxrss is in KiB on Linux
    pss = sampler.peak_kb / 1024 if sampler is not None and sampler.peak_kb else None
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, pss


OUT = "{out}"  # in an argv: a new, never used folder for each run
MEMORY_RUNS = 2  # untimed runs sampling the memory of all processes


@dataclass
class Case:
    """One command to time (see measure)."""

    case: str
    argv: list[str]
    show: str | None = None
    fresh: Path | None = None
    before_each: list[str] | None = None
    memory: bool = False


def measure(case: str, argv: list[str], env: dict[str, str], cwd: Path, runs: int,
            before_each: list[str] | None = None, show: str | None = None,
            fresh: Path | None = None, memory: bool = False) -> Result:
    """Time ``argv`` ``runs`` times after a warm-up. With ``fresh``, each run's ``{out}`` is a
    new folder ``<fresh>-<run>`` (left in place until the benchmark ends: deleting thousands of
    files makes the next creations slow on some file systems, see the notes in RESULTS.md);
    ``before_each`` folders are deleted before every run."""
    return measure_together([Case(case, argv, show, fresh, before_each, memory)], env, cwd,
                            runs)[0]


def measure_together(cases: list[Case], env: dict[str, str], cwd: Path, runs: int
                     ) -> list[Result]:
    """Time ``cases`` in turns (run i of every case, then run i + 1), so that a ratio between
    them compares runs made under the same conditions: on a shared machine the CPU available
    changes by 2x within minutes (steal time), and timing one case after the other would put
    that change into the ratio."""
    results = [Result(c.case, c.show or " ".join(c.argv), [], [], []) for c in cases]
    for i in range(runs + 1):
        for c, res in zip(cases, results, strict=True):
            for path in c.before_each or ():
                shutil.rmtree(path, ignore_errors=True)
            run_argv = [str(c.fresh) + f"-{i}" if a == OUT and c.fresh else a for a in c.argv]
            wall, cpu, rss, _ = run_once(run_argv, env, cwd)
            if i == 0:
                continue  # warm-up: file cache, .pyc files
            res.wall.append(wall)
            res.cpu.append(cpu)
            res.rss_mb.append(rss)
    for c, res in zip(cases, results, strict=True):
        # memory of all processes: sampled in extra runs, so sampling never slows a timed one
        for i in range(MEMORY_RUNS if c.memory else 0):
            run_argv = [str(c.fresh) + f"-mem{i}" if a == OUT and c.fresh else a
                        for a in c.argv]
            _, _, _, pss = run_once(run_argv, env, cwd, memory=True)
            if pss is not None:
                res.pss_mb.append(pss)
        print(f"  {res.case:<22} median {res.median:7.3f} s  (min {min(res.wall):.3f}, max "
              f"{max(res.wall):.3f})  cpu {res.cpu_median:7.3f} s  rss {res.peak_mb:6.1f} MB"
              + (f"  all processes {res.peak_all_mb:6.1f} MB" if res.peak_all_mb else ""),
              file=sys.stderr, flush=True)
    return results


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "unknown",
        "load": "%.2f %.2f %.2f" % os.getloadavg(),
    }


def lint_available(env: dict[str, str], cwd: Path, base: list[str]) -> bool:
    r = subprocess.run(base + ["lint", "--help"], env=env, cwd=cwd, capture_output=True,
                       check=False)
    return r.returncode == 0


def has_jobs_option(env: dict[str, str], cwd: Path, base: list[str]) -> bool:
    """Whether ``build`` takes ``--jobs`` (older checkouts measured with --src do not)."""
    r = subprocess.run(base + ["build", "--help"], env=env, cwd=cwd, capture_output=True,
                       text=True, check=False)
    return "--jobs" in r.stdout


def run_bench(args: argparse.Namespace) -> tuple[list[Result], dict[str, str]]:
    src = Path(args.src).resolve()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("MLOPS_DASH_DEBUG", None)
    # Let the warm-up run cache bytecode, as `pip install` does for an installed tool (some
    # images set PYTHONDONTWRITEBYTECODE, and then every run would compile our modules again).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    tool = [py, "-m", "mlops_dash"]
    work = Path(tempfile.mkdtemp(prefix="mlops-dash-bench-"))
    info = machine()
    info["src"] = str(src)
    results: list[Result] = []
    print(f"benchmarking {src} ({args.runs} runs per case) in {work}", file=sys.stderr)
    try:
        if "drift" in args.cases or "instrument" in args.cases:
            collector_cases(args, env, work, tool, results, info)
        if "build" in args.cases:
            build_cases(args, env, work, tool, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    return results, info


def collector_cases(args: argparse.Namespace, env: dict[str, str], work: Path,
                    tool: list[str], results: list[Result], info: dict[str, str]) -> None:
    """The drift check (whole process) and the instrumentation overhead (in a process)."""
    py = sys.executable
    helper = str(HERE / "bench_collectors.py")
    if "drift" in args.cases:
        print("  writing the drift case's data (1,000,000 rows x 20 features, twice)",
              file=sys.stderr)
        config = subprocess.run([py, helper, "data", str(work / "drift")], env=env,
                                check=True, capture_output=True, text=True).stdout.strip()
        results.append(measure(
            "drift-1m-x20", tool + ["drift", "--config", config, "--dry-run"], env, work,
            min(args.runs, 3), memory=True,
            show="mlops-dash drift --dry-run (1,000,000 rows × 20 features + prediction, "
                 "reference and current Parquet)"))
    if "instrument" in args.cases:
        out = subprocess.run([py, helper, "instrument"], env=env, check=True,
                             capture_output=True, text=True).stdout
        info["instrument_us"] = "%.3f" % json.loads(out)["us_per_prediction"]
        print(f"  instrument             {info['instrument_us']} µs per prediction",
              file=sys.stderr)


def build_cases(args: argparse.Namespace, env: dict[str, str], work: Path, tool: list[str],
                results: list[Result]) -> None:
    py = sys.executable
    specs = ROOT / "specs"
    results.append(measure("python -c pass", [py, "-c", "pass"], env, work, args.runs))
    results.append(measure("help", tool + ["--help"], env, work, max(args.runs, 10),
                           show="mlops-dash --help"))
    if subprocess.run(tool + ["init", "--help"], env=env, cwd=work, capture_output=True,
                      check=False).returncode == 0:  # a checkout (--src) without init: skipped
        results.append(measure("init", tool + ["init", OUT], env, work, max(args.runs, 10),
                               fresh=work / "init", show="mlops-dash init (a new folder)"))
    out = work / "out-shipped"
    gl = work / "grafanalib-out"
    # each ratio target's case and its reference in turns (measure_together)
    results += measure_together([
        Case("build-shipped", tool + ["build", "-q", "--specs", str(specs), "--out", OUT],
             "mlops-dash build (shipped specs, new --out)", fresh=out),
        Case("grafanalib-5", [py, str(HERE / "grafanalib_only.py"), "-n", "5", "--out", OUT],
             "grafanalib_only.py -n 5", fresh=Path(f"{gl}-5")),
    ], env, work, args.runs)
    subprocess.run(tool + ["build", "-q", "--specs", str(specs), "--out", str(out)],
                   env=env, cwd=work, check=True)
    results.append(measure(
        "check-shipped", tool + ["check", "--specs", str(specs), "--out", str(out)],
        env, work, args.runs, show="mlops-dash check (shipped specs)"))
    if lint_available(env, ROOT, tool):
        try:  # a lint that fails is reported, not fatal to the rest of the benchmark
            results.append(measure(
                "lint-shipped", tool + ["lint", "--specs", str(specs)], env, ROOT,
                args.runs, show="mlops-dash lint (shipped specs, promtool and amtool)"))
        except SystemExit as exc:
            print(f"  lint-shipped skipped: {exc}", file=sys.stderr)
    for n in args.sizes:
        sdir = work / f"specs-{n}"
        subprocess.run([py, str(HERE / "synth_specs.py"), "-n", str(n), "--out", str(sdir)],
                       check=True, capture_output=True)
        out = work / f"out-{n}"
        build_n, grafanalib_n = measure_together([
            Case(f"build-{n}", tool + ["build", "-q", "--specs", str(sdir), "--out", OUT],
                 f"mlops-dash build ({n} dashboards, new --out)", fresh=Path(f"{out}-new"),
                 memory=n == max(args.sizes)),
            Case(f"grafanalib-{n}",
                 [py, str(HERE / "grafanalib_only.py"), "-n", str(n), "--out", OUT],
                 f"grafanalib_only.py -n {n}", fresh=Path(f"{gl}-{n}")),
        ], env, work, args.runs)
        results.append(build_n)
        if n == max(args.sizes) and has_jobs_option(env, work, tool):
            results.append(measure(
                f"build-{n}-j1", tool + ["build", "-q", "-j", "1", "--specs", str(sdir),
                                       "--out", OUT],
                env, work, args.runs, fresh=Path(f"{out}-j1"),
                show=f"mlops-dash build -j 1 ({n} dashboards, one process, new --out)"))
        subprocess.run(tool + ["build", "-q", "--specs", str(sdir), "--out", str(out)],
                       env=env, cwd=work, check=True)
        results.append(measure(
            f"check-{n}", tool + ["check", "--specs", str(sdir), "--out", str(out)],
            env, work, args.runs, show=f"mlops-dash check ({n} dashboards)"))
        results.append(grafanalib_n)
        if n == max(args.sizes) and args.refill:
            # informational: the old way of this benchmark, deleting the previous output
            # just before each run (see the notes on ext4 without a journal)
            results.append(measure(
                f"refill-{n}", tool + ["build", "-q", "--specs", str(sdir), "--out",
                                       str(out)],
                env, work, args.runs, before_each=[str(out)],
                show=f"mlops-dash build ({n} dashboards, --out deleted just before)"))
    for n in args.alert_sizes:
        sdir = work / f"specs-alerts-{n}"
        subprocess.run([py, str(HERE / "synth_specs.py"), "--alerts-per-dashboard", str(n),
                        "--out", str(sdir)], check=True, capture_output=True)
        results.append(measure(
            f"alerts-{n}", tool + ["build", "-q", "--specs", str(sdir), "--out", OUT],
            env, work, args.runs, fresh=work / f"out-alerts-{n}",
            show=f"mlops-dash build (one dashboard, {n} alerts, new --out)"))


def _ratio(results: dict[str, Result], case: str) -> str:
    n = case.split("-")[1]
    ref = results.get(f"grafanalib-{'5' if n == 'shipped' else n}")
    if ref is None or case not in results:
        return ""
    wall = results[case].median / ref.median
    cpu = results[case].cpu_median / ref.cpu_median
    return f"{wall:.1f}× / {cpu:.1f}×"


def render(results: list[Result], info: dict[str, str], args: argparse.Namespace) -> str:
    by = {r.case: r for r in results}
    lines = [
        "# mlops-dash benchmark results",
        "",
        f"Written by `make bench` (`benchmarks/bench.py`) on {info['date']}.",
        "",
        f"* machine: {info['cpu']}, {info['cores']} cores, {info['os']}",
        f"* Python {info['python']}; mlops-dash sources: `{info['src']}` (commit {info['commit']})",
        f"* load average at start {info['load']}, at end {info['load_end']} "
        "(wall times grow with other load; CPU time much less)",
        f"* {args.runs} timed runs per case after one warm-up (`--help`: at least 10); "
        "whole processes, interpreter start included",
        "",
        "| case | command | median wall (s) | min–max (s) | median CPU (s) | peak RSS (MB) "
        "| vs grafanalib (wall / CPU) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.case} | {r.command} | {r.median:.3f} | {min(r.wall):.3f}–{max(r.wall):.3f} "
            f"| {r.cpu_median:.3f} | {r.peak_mb:.0f} "
            f"| {_ratio(by, r.case) if r.case.startswith(('build', 'check')) else ''} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    for case, limit in TARGETS.items():
        if case in by:
            ok = by[case].median <= limit
            lines.append(f"| {case} median ≤ {limit:g} s | {by[case].median:.3f} s "
                         f"| {'yes' if ok else 'NO'} |")
    for case, (ref, limit) in RATIO_TARGETS.items():
        if case in by and ref in by:
            wall = by[case].median / by[ref].median
            cpu = by[case].cpu_median / by[ref].cpu_median
            paired = statistics.median(
                c / r for c, r in zip(by[case].wall, by[ref].wall, strict=False))
            lines.append(f"| {case} ≤ {limit:g}× {ref} (median wall, runs in turns) "
                         f"| {wall:.2f}× ({by[case].median:.3f} s / {by[ref].median:.3f} s; "
                         f"CPU {cpu:.2f}×; median of the {len(by[case].wall)} back-to-back "
                         f"pairs {paired:.2f}×) | {'yes' if wall <= limit else 'NO'} |")
    big = max((n for n in args.sizes), default=None)
    if big is not None and f"build-{big}" in by:
        r = by[f"build-{big}"]
        peak = max(r.peak_mb, r.peak_all_mb or 0)
        what = f"{r.peak_mb:.0f} MB"
        if r.peak_all_mb:
            what += (f" largest process, {r.peak_all_mb:.0f} MB all processes (PSS, sampled "
                     f"every 50 ms in {MEMORY_RUNS} extra untimed runs)")
        lines.append(f"| build-{big} peak memory ≤ {RSS_TARGET_MB} MB | {what} "
                     f"| {'yes' if peak <= RSS_TARGET_MB else 'NO'} |")
    if "drift-1m-x20" in by:
        r = by["drift-1m-x20"]
        peak = max(r.peak_mb, r.peak_all_mb or 0)
        lines.append(f"| drift-1m-x20 median ≤ {DRIFT_TARGET_S:g} s, both cores | "
                     f"{r.median:.3f} s wall, {r.cpu_median:.3f} s CPU "
                     f"({r.cpu_median / r.median:.2f} cores busy) "
                     f"| {'yes' if r.median <= DRIFT_TARGET_S else 'NO'} |")
        lines.append(f"| drift-1m-x20 peak memory ≤ {DRIFT_RSS_TARGET_MB} MB | {peak:.0f} MB "
                     f"| {'yes' if peak <= DRIFT_RSS_TARGET_MB else 'NO'} |")
    if "instrument_us" in info:
        us = float(info["instrument_us"])
        lines.append(f"| instrumentation ≤ {INSTRUMENT_TARGET_US:g} µs per prediction | "
                     f"{us:.2f} µs (CPU, best of 5 × 200,000 observe() calls) "
                     f"| {'yes' if us <= INSTRUMENT_TARGET_US else 'NO'} |")
    if "build-100" in by and "build-1000" in by:
        g = by["build-1000"].median / by["build-100"].median
        gc = by["build-1000"].cpu_median / by["build-100"].cpu_median
        lines.append(f"| build 100 → 1,000 dashboards grows ≤ {GROWTH_TARGET:g}× "
                     f"| {g:.1f}× (CPU {gc:.1f}×) | {'yes' if g <= GROWTH_TARGET else 'NO'} |")
    sizes = sorted(n for n in args.alert_sizes if f"alerts-{n}" in by)
    if len(sizes) >= 2:
        lo, hi = by[f"alerts-{sizes[0]}"], by[f"alerts-{sizes[-1]}"]
        limit = ALERT_GROWTH_TARGET * sizes[-1] / sizes[0] / 2
        g, gc = hi.median / lo.median, hi.cpu_median / lo.cpu_median
        lines.append(f"| alerts per dashboard {sizes[0]:,} → {sizes[-1]:,} grows ≤ {limit:g}× "
                     f"| {g:.1f}× (CPU {gc:.1f}×) | {'yes' if g <= limit else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    ap.add_argument("--sizes", default="10,100,1000",
                    help="synthetic dashboard counts (default 10,100,1000)")
    ap.add_argument("--alert-sizes", default="1000,2000",
                    help="alerts of the one-dashboard cases (default 1000,2000; '' for none)")
    ap.add_argument("--src", default=str(ROOT / "src"), help="mlops-dash sources to measure")
    ap.add_argument("--no-refill", dest="refill", action="store_false",
                    help="skip the informational case that deletes the output before each run")
    ap.add_argument("--cases", default=",".join(CASE_GROUPS),
                    help=f"groups to run, comma-separated (default all: {','.join(CASE_GROUPS)})")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md",
                    help="Markdown file to write ('-' for standard output)")
    ap.add_argument("--exporter", action="store_true",
                    help="run only the exporter cases (benchmarks/exporter_bench.py) and "
                    "update their section of the results")
    args = ap.parse_args(argv)
    if args.exporter:
        import exporter_bench

        return exporter_bench.main(["--results", str(args.results)])
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(args.cases) - set(CASE_GROUPS))
    if unknown:
        ap.error(f"unknown case group(s) {', '.join(unknown)}; choose from "
                 f"{', '.join(CASE_GROUPS)}")
    args.alert_sizes = [int(s) for s in args.alert_sizes.split(",") if s.strip()]
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    results, info = run_bench(args)
    text = render(results, info, args)
    if str(args.results) == "-":
        sys.stdout.write(text)
        return 0
    notes = ""
    if args.results.exists():
        old = args.results.read_text(encoding="utf-8")
        if NOTES_MARK in old:
            notes = old[old.index(NOTES_MARK):]
        start, end = "<!-- exporter -->", "<!-- /exporter -->"
        if start in old and end in old:  # the exporter cases' section stays
            text += "\n" + old[old.index(start):old.index(end) + len(end)] + "\n"
    args.results.write_text(text + ("\n" + notes if notes else ""), encoding="utf-8")
    print(f"wrote {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
