#!/usr/bin/env python3
"""Our DCSR against the PyTorch reference on the same work, run by run (`make bench-peer`).

    tools/bench_peer.py [--quick] [--all] [--only V1,V2] [--runs N] [--device auto|cpu|cuda]
                        [--torch-malloc tuned|default] [--binary build/bin/dcsr_bench] [--json-only]

Run it with a python that has torch; `make bench-peer` picks the first of $DCSR_PYTHON, python3 and
/usr/bin/python3 that imports torch (tools/with_torch_python.sh), so `DCSR_PYTHON=/usr/bin/python3
make bench-peer` measures Debian's python3-torch (1.13) and plain `make bench-peer` the python3 on PATH
(here a PyPI torch with MKL). The torch version, its BLAS and the libraries it loaded are printed first.

Work (the same on both sides; apps/bench/model_workload.h, tools/bench/peers/model.py and image.py):
    train_l1         one training step: forward, loss "1*L1", backward, Adam; LR 128, Ref 256, batch 1,
                     n_feats 64, float32
    train_cx_vgg     the same with the contextual terms "1*L1+0.05*CX_ref+0.01*CX_hr" on VGG19 relu3_4
                     features (the reference's setting, spec §9.2)
    train_cx_patch4  the same on patch4 features (the project's default feature space; with --all)
    infer_tile       one 4K-mode tile under no-grad, LR 166, Ref window 352
    infer_tile_8k    one 8K-mode tile under no-grad, LR 228x292, Ref window 476x604 (spec §8's centre
                     tile; the model's Mode::K8, the reference's flag_8k)
    conv3x3_fwd      one conv2d forward under no-grad: batch 1, 64 -> 64 channels, 3x3, stride 1, padding
                     1, bias, 256x256, float32; ours on the path the library's plan picks (the line's
                     "conv_path", e.g. "winograd4/avx2", and "isa"), PyTorch's torch.nn.functional.conv2d
                     on the same x, weight and bias (seeded on our side, handed over in a temporary folder
                     that our worker removes when it exits)
The warm-up units are checked: the training steps' loss is finite, the tiles' outputs have the right
shape, our conv matches direct sums in double at 16 points, and PyTorch's conv output is compared with
ours: its largest difference is the line's "max_abs_diff_vs_torch" (above 1e-3 * (1 + max|y|) the
variant fails).
Ours is `dcsr_bench --serve VARIANT`, PyTorch is tests/reference/dcsr_ref.py in a worker process of this
script, in two formulations (--formulation, default both): "fast", the strongest honest peer, with the
matching chunked over blocks of queries and the contextual loss in one pass over blocks of rows
(tools/bench/peers/fast_ops.py, checked against the reference's operators); and "reference", the
reference code's dense matrices. A lead counts against "fast". conv3x3_fwd has one PyTorch side,
F.conv2d, measured once (its line says "F.conv2d" as the formulation). Both workers are started per
variant (ours first), each runs one checked warm-up unit, then the runs ALTERNATE, ours then PyTorch,
run by run, so that drift of the machine hits both sides alike.
Between runs the script pauses 0.2 s (OpenMP threads that spin after a parallel region go to sleep).

Threads: DCSR_NUM_THREADS, else all cores, given to both sides (DCSR_NUM_THREADS, OMP_NUM_THREADS,
MKL_NUM_THREADS, torch.set_num_threads). OpenMP wait policies are left at their defaults, so the
machine must be quiet: other load distorts both sides, unevenly. The 1-minute load average before and
after is printed, with a warning when it is above 0.5 at the start.

PyTorch's malloc: "tuned" (default) tells glibc never to return big blocks to the OS
(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_), as our caching allocator never does, which makes
PyTorch's CX terms several times faster than with glibc's defaults (spec §9.2 cost note); "default"
measures what a plain PyTorch user gets.

Output: one JSON object per line (a "bench_peer_machine" line, then one line per variant and device
with the medians, all run times, both peak RSS and the ratios ours / PyTorch: time_ratio_vs_torch
and rss_ratio_vs_torch, < 1 means ours is faster / smaller), then a short table. Peak RSS is each
worker process's high-water mark over its whole life (model, inputs, warm-up and runs); on CUDA the
peak device memory of the tensors is added. CUDA is measured too when torch sees a GPU (--device
auto); our side then runs on our CUDA backend.

Length: by default train_l1, train_cx_vgg, infer_tile, infer_tile_8k and conv3x3_fwd on the CPU, 3 runs
per side after the warm-up, but fewer (at least 1) where the warm-ups say that the runs of a variant
would take more than 60 s; --quick: train_l1 and infer_tile, 2 runs, 30 s. --runs N asks for exactly N.
Each variant and formulation costs its warm-up pair plus at most the budget. (Measured on a 2-core EPYC
with PyPI torch 2.15, before infer_tile_8k and conv3x3_fwd were added: 3 runs of each of the other
default variants took 345 CPU-seconds, about 3 minutes of wall time when quiet, 8.7 minutes under a
load average of 5. infer_tile_8k does 1.5 times infer_tile's multiply-accumulates (473.9 vs 316.6 GMAC,
spec §8), so expect it to add about 1.5 times infer_tile's share, or less where the budget cuts its runs
(on that EPYC under load its warm-up pair took over 30 s per formulation: 1 run). conv3x3_fwd adds a
few seconds. Debian's torch 1.13 calls the netlib reference BLAS and is 5 to 7 times slower than ours;
the budget cuts it to 1 run per variant.)
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_VARIANTS = ["train_l1", "train_cx_vgg", "infer_tile", "infer_tile_8k", "conv3x3_fwd"]
QUICK_VARIANTS = ["train_l1", "infer_tile"]
ALL_VARIANTS = ["train_l1", "train_cx_patch4", "train_cx_vgg", "infer_tile", "infer_tile_8k", "conv3x3_fwd"]
# Variants whose PyTorch side has one formulation only: measured once, under this label.
SINGLE_FORMULATION = {"conv3x3_fwd": "F.conv2d"}
# Keys of our worker's "ready" line copied into the variant's line.
OURS_INFO_KEYS = ("loss", "features", "forward_gmac", "mode", "conv_path", "isa", "gflop")
PAUSE_S = 0.2
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


# ---------------------------------------------------------------------------------------------
# The PyTorch worker (this script with --worker): same protocol as `dcsr_bench --serve`
# ---------------------------------------------------------------------------------------------

def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def torch_worker(spec, device, threads):
    import torch
    torch.set_num_threads(threads)
    sys.path.insert(0, os.path.join(HERE, "bench"))
    from peers import model as peer_model

    try:
        start = time.perf_counter()
        check, run = peer_model.make_workload(spec, device)
        setup_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        checked = check()
        warmup_ms = (time.perf_counter() - start) * 1e3
    except Exception as e:  # noqa: BLE001 -- reported to the controller
        say({"event": "error", "message": "%s: %s" % (type(e).__name__, e)})
        return 1
    say({"event": "ready", "device": device, "threads": torch.get_num_threads(), "setup_ms": setup_ms,
         "warmup_ms": warmup_ms, "torch": torch.__version__, "check": checked if isinstance(checked, dict) else {}})
    for command in sys.stdin:
        command = command.strip()
        if command == "quit":
            break
        if command != "run":
            say({"event": "error", "message": "unknown command %r (run | quit)" % command})
            continue
        start = time.perf_counter()
        run()
        say({"ms": (time.perf_counter() - start) * 1e3})
    done = {"event": "done", "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if torch.device(device).type == "cuda":
        done["peak_device_mb"] = torch.cuda.max_memory_allocated() / 1048576.0
    say(done)
    return 0


# ---------------------------------------------------------------------------------------------
# The controller
# ---------------------------------------------------------------------------------------------

class Worker:
    """A serving process: one JSON object per stdout line, commands on stdin."""

    def __init__(self, label, argv, env):
        self.label = label
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     text=True, bufsize=1)

    def read(self):
        """The next JSON object the worker prints (other lines are skipped); raises when it exits."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                raise RuntimeError("%s exited with status %s" % (self.label, self.proc.returncode))
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if obj.get("event") == "error":
                    raise RuntimeError("%s: %s" % (self.label, obj.get("message")))
                return obj

    def expect(self, event):
        obj = self.read()
        if obj.get("event") != event:
            raise RuntimeError("%s: expected %r, got %s" % (self.label, event, obj))
        return obj

    def run(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        obj = self.read()
        if "ms" not in obj:
            raise RuntimeError("%s: expected a run time, got %s" % (self.label, obj))
        return obj["ms"]

    def finish(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        obj = self.expect("done")
        self.proc.wait(timeout=60)
        return obj

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def thread_count():
    value = os.environ.get("DCSR_NUM_THREADS", "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise SystemExit("DCSR_NUM_THREADS=%r is not a positive integer" % value)
        return int(value)
    return os.cpu_count() or 1


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def torch_description(torch):
    """Version, BLAS as built (BLAS_INFO, MKL's version when it is built in) and the BLAS / LAPACK /
    OpenMP / oneDNN shared libraries actually mapped into this process (Debian's torch calls whichever
    libblas.so.3 the alternatives system selects; a PyPI torch links MKL statically)."""
    config = torch.__config__.show()
    found = re.search(r"BLAS_INFO=([^,\s]+)", config)
    blas = found.group(1) if found else "unknown"
    mkl = re.search(r"Math Kernel Library Version ([^\s]+)", config)
    if blas == "mkl" and mkl:
        blas = "mkl " + mkl.group(1) + " (linked into torch)"
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.split()
                path = fields[5] if len(fields) >= 6 else ""
                base = os.path.basename(path)
                if base.startswith("libcublas") or base.startswith("libscipy_openblas"):
                    continue  # CUDA's BLAS; numpy's private OpenBLAS (not used by torch)
                if any(k in base for k in ("blas", "mkl", "lapack", "gomp", "iomp", "dnnl", "blis")) \
                        and path not in libs:
                    libs.append(path)
    except OSError:
        pass
    if blas == "generic":  # the system's libblas.so.3: name the implementation behind it
        for path in libs:
            base = os.path.basename(path)
            if "openblas" in path:
                blas = "generic: OpenBLAS (%s)" % path
            elif "blis" in path:
                blas = "generic: BLIS (%s)" % path
            elif base.startswith("libblas.so") and "/blas/" in path:
                blas = "generic: netlib reference BLAS (%s)" % path
    parallel = re.search(r"ATen parallel backend: *([^\n]+)", torch.__config__.parallel_info())
    return {"torch": torch.__version__, "torch_python": sys.executable, "torch_blas": blas,
            "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
            "torch_parallel": parallel.group(1).strip() if parallel else "unknown",
            "torch_libraries": libs, "torch_cuda": bool(torch.cuda.is_available())}


def git_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def measure(variant, device, runs, budget_s, binary, env_ours, env_torch, threads, formulation):
    """Both workers for one variant on one device; runs alternate ours / PyTorch. With budget_s > 0,
    fewer runs (at least 1) when `runs` pairs would take longer than budget_s, estimated from the
    warm-up units (which are a little slower than the runs)."""
    ours = theirs = None
    try:
        ours = Worker("ours (dcsr_bench --serve %s --device %s)" % (variant, device),
                      [binary, "--serve", variant, "--device", device], env_ours)
        ready_ours = ours.expect("ready")
        spec = dict(ready_ours["peer_spec"], formulation=formulation)
        theirs = Worker("PyTorch (%s, %s)" % (spec["op"], formulation),
                        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec),
                         "--device", device, "--threads", str(threads)], env_torch)
        ready_theirs = theirs.expect("ready")
        requested = runs
        if budget_s > 0:
            pair_s = (ready_ours["warmup_ms"] + ready_theirs["warmup_ms"]) / 1e3
            runs = max(1, min(runs, int(budget_s // pair_s)))
        ours_ms, torch_ms = [], []
        for _ in range(runs):
            time.sleep(PAUSE_S)
            ours_ms.append(ours.run())
            time.sleep(PAUSE_S)
            torch_ms.append(theirs.run())
        done_ours, done_theirs = ours.finish(), theirs.finish()
    except Exception as e:  # noqa: BLE001 -- one failed variant does not stop the others
        for w in (ours, theirs):
            if w is not None:
                w.kill()
        return {"name": variant, "variant": variant, "device": device, "torch_formulation": formulation,
                "error": str(e)}
    om, tm = statistics.median(ours_ms), statistics.median(torch_ms)
    line = {"name": ready_ours["name"], "variant": variant, "device": device, "torch_formulation": formulation,
            "runs": runs,
            "runs_requested": requested, "budget_s": budget_s,
            "threads": ready_ours["threads"], "torch_threads": ready_theirs["threads"],
            "ours_ms": om, "torch_ms": tm, "time_ratio_vs_torch": om / tm,
            "ours_runs_ms": ours_ms, "torch_runs_ms": torch_ms,
            "ours_warmup_ms": ready_ours["warmup_ms"], "torch_warmup_ms": ready_theirs["warmup_ms"],
            "ours_peak_rss_mb": done_ours["peak_rss_mb"], "torch_peak_rss_mb": done_theirs["peak_rss_mb"],
            "rss_ratio_vs_torch": done_ours["peak_rss_mb"] / done_theirs["peak_rss_mb"],
            "ours_peak_tensors_mb": done_ours.get("peak_tensors_mb")}
    for key in OURS_INFO_KEYS:
        if key in ready_ours:
            line[key] = ready_ours[key]
    if "max_abs_diff_vs_ours" in ready_theirs.get("check", {}):  # the conv: the same inputs on both sides
        line["max_abs_diff_vs_torch"] = ready_theirs["check"]["max_abs_diff_vs_ours"]
    if "peak_device_mb" in done_ours and "peak_device_mb" in done_theirs:
        line["ours_peak_device_mb"] = done_ours["peak_device_mb"]
        line["torch_peak_device_mb"] = done_theirs["peak_device_mb"]
    return line


def print_table(lines):
    rows = [("variant", "device", "peer", "ours ms", "torch ms", "time o/t", "ours RSS", "torch RSS", "RSS o/t")]
    for ln in lines:
        if "error" in ln:
            rows.append((ln["variant"], ln["device"], ln["torch_formulation"], "error", "", "", "", "", ""))
            continue
        ms = "%.1f" if min(ln["ours_ms"], ln["torch_ms"]) < 100 else "%.0f"
        rows.append((ln["variant"], ln["device"], ln["torch_formulation"], ms % ln["ours_ms"], ms % ln["torch_ms"],
                     "%.2f" % ln["time_ratio_vs_torch"], "%.0f MB" % ln["ours_peak_rss_mb"],
                     "%.0f MB" % ln["torch_peak_rss_mb"], "%.2f" % ln["rss_ratio_vs_torch"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("(medians of %s runs per side; o/t = ours / PyTorch: below 1, ours is faster / smaller)"
          % "/".join(sorted({str(ln["runs"]) for ln in lines if "runs" in ln}) or ["0"]))
    for ln in lines:
        if "error" in ln:
            print("%s on %s: %s" % (ln["variant"], ln["device"], ln["error"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Our DCSR against the PyTorch reference, alternating run by run.")
    ap.add_argument("--quick", action="store_true", help="train_l1 and infer_tile, 2 runs each")
    ap.add_argument("--all", action="store_true", help="also train_cx_patch4")
    ap.add_argument("--only", help="comma-separated variants (%s)" % ", ".join(ALL_VARIANTS))
    ap.add_argument("--runs", type=int,
                    help="timed runs per side, exactly (default: 3 on the CPU, 7 on CUDA, --quick 2 / 3, "
                         "fewer when over the budget)")
    ap.add_argument("--budget-s", type=float,
                    help="seconds of timed runs per variant and device before the default run count is cut "
                         "(default 60, --quick 30; 0: no cut; ignored with --runs)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="auto: the CPU, and CUDA when torch sees a GPU")
    ap.add_argument("--torch-malloc", default="tuned", choices=["tuned", "default"])
    ap.add_argument("--formulation", default="both", choices=["fast", "reference", "both"],
                    help="PyTorch's formulation: fast (chunked matching, single-pass contextual loss: "
                         "tools/bench/peers/fast_ops.py), reference (the reference's dense matrices), or both")
    ap.add_argument("--binary", default=os.path.join(REPO, "build", "bin", "dcsr_bench"))
    ap.add_argument("--json-only", action="store_true", help="no table")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker:
        return torch_worker(json.loads(a.worker), a.device, a.threads)

    try:
        import torch
    except ImportError:
        print("SKIPPED: no torch (run with a python that has torch, e.g. via tools/with_torch_python.sh)")
        return 77
    if not os.access(a.binary, os.X_OK):
        print("error: %s not found (build first: make build)" % a.binary, file=sys.stderr)
        return 1
    if a.only:
        variants = [v.strip() for v in a.only.split(",") if v.strip()]
        unknown = [v for v in variants if v not in ALL_VARIANTS]
        if unknown:
            ap.error("unknown variant(s) %s (known: %s)" % (", ".join(unknown), ", ".join(ALL_VARIANTS)))
    else:
        variants = ALL_VARIANTS if a.all else QUICK_VARIANTS if a.quick else DEFAULT_VARIANTS
    devices = ["cpu", "cuda"] if a.device == "auto" and torch.cuda.is_available() else \
        ["cpu"] if a.device == "auto" else [a.device]

    threads = thread_count()
    env = dict(os.environ, DCSR_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    env_torch = dict(env, **TUNED_MALLOC) if a.torch_malloc == "tuned" else \
        {k: v for k, v in env.items() if k not in TUNED_MALLOC}
    load_start = os.getloadavg()[0]
    machine = {"name": "bench_peer_machine", "cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads,
               "ours": os.path.abspath(a.binary), "ours_commit": git_commit(),
               "torch_malloc": a.torch_malloc, "load_avg_1min_start": load_start}
    machine.update(torch_description(torch))
    say(machine)
    if load_start > 0.5:
        print("warning: 1-minute load average %.2f: the machine is not quiet, so both sides are slowed "
              "unevenly; rerun on a quiet machine for numbers to report" % load_start, file=sys.stderr)

    lines = []
    for device in devices:
        runs = a.runs or ((3 if a.quick else 7) if device == "cuda" else (2 if a.quick else 3))
        budget_s = 0 if a.runs else a.budget_s if a.budget_s is not None else 30 if a.quick else 60
        formulations = ["fast", "reference"] if a.formulation == "both" else [a.formulation]
        for variant in variants:
            for formulation in [SINGLE_FORMULATION[variant]] if variant in SINGLE_FORMULATION else formulations:
                line = measure(variant, device, runs, budget_s, a.binary, env, env_torch, threads, formulation)
                say(line)
                lines.append(line)
    say({"name": "bench_peer_end", "load_avg_1min_end": os.getloadavg()[0]})
    if not a.json_only:
        print_table(lines)
    return 1 if any("error" in ln for ln in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
