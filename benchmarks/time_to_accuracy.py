"""Time to accuracy: the course's training path against the typical tutorial's, side by side, one run.

For each model it trains (a) the course path, `course_utils.train.fit` on in-memory data with the
speed options `fast_settings` picks (mixed precision, fused optimizer, channels-last where they pay),
(a') on a GPU, the same with torch.compile ("course-compiled"), and (b) the tutorial baseline
(`benchmarks/baseline.py`: per-sample PIL transforms through a DataLoader, batch 128, matmul-softmax-matmul
attention, fp32, constant-lr Adam), from the same architecture, initial weights and training images. After
every epoch both are tested on the test set,
off the training clock. It reports images/s, seconds per epoch, seconds of training to each target
test accuracy, the best accuracy, wall time and peak memory, prints a table with the ratios
(course / baseline), and writes everything to a JSON file. Each run is a fresh Python process, so
one cannot warm up or share memory with the other.

    python -m benchmarks.time_to_accuracy --device cpu --out benchmarks/results_cpu.json --write-readme
    python -m benchmarks.time_to_accuracy --device cuda --out benchmarks/results_gpu.json --write-readme
    python -m benchmarks.time_to_accuracy --render benchmarks/results_cpu.json --write-readme   # table only
"""
import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
PATHS = ("course", "course-compiled", "baseline")   # course-compiled: the course path with torch.compile

# Per device, per model: what each path trains. Course: TrainConfig fields (the course's recipe:
# AdamW, warm-up + cosine, batch 512 at lr 2e-3). Baseline: its epochs (batch 128, Adam 1e-3 fixed).
# train_size None = all 60,000 images. The CPU preset trains the ViT on a balanced 10,000-image subset so
# the whole run takes ~5-10 minutes on 2 cores; its targets are lower accordingly.
PRESETS = {
    "gpu": {
        "vit": dict(train_size=None, epochs=15, batch_size=512, lr=2e-3, augment=True, baseline_epochs=15,
                    targets=(0.97, 0.985)),
        "lenet": dict(train_size=None, epochs=8, batch_size=512, lr=2e-3, augment=False, baseline_epochs=8,
                      targets=(0.99,)),
        "cnn": dict(train_size=None, epochs=5, batch_size=512, lr=2e-3, augment=False, baseline_epochs=5,
                    targets=(0.99, 0.995)),
    },
    "cpu": {
        "vit": dict(train_size=10_000, epochs=6, batch_size=256, lr=2e-3, augment=False, baseline_epochs=6,
                    targets=(0.85, 0.90)),   # 6 epochs on 10,000 images end near 91%: targets below that
        "lenet": dict(train_size=None, epochs=3, batch_size=256, lr=2e-3, augment=False, baseline_epochs=3,
                      targets=(0.98, 0.985)),
        "cnn": dict(train_size=10_000, epochs=3, batch_size=256, lr=2e-3, augment=False, baseline_epochs=3,
                    targets=(0.97, 0.98)),
    },
    "smoke": {  # seconds, for the tests
        name: dict(train_size=512, epochs=1, batch_size=128, lr=2e-3, augment=False, baseline_epochs=1,
                   targets=(0.2,))
        for name in ("vit", "lenet", "cnn")
    },
}
DEFAULT_MODELS = {"gpu": "vit,lenet", "cpu": "vit,lenet", "smoke": "lenet"}
# On a GPU both course variants run, so one table shows whether compiling pays for its compile time;
# on 2 CPU cores compiling takes minutes (see README), so the CPU run leaves it out.
DEFAULT_PATHS = {"gpu": "course,course-compiled,baseline", "cpu": "course,baseline", "smoke": "course,baseline"}
DEFAULT_TEST_SIZE = {"gpu": None, "cpu": None, "smoke": 500}


# ---------------------------------------------------------------- one run (in its own process)

def subset_indices(data, size, seed):
    """Indices of `balanced_subset(data, size, seed)` (None for all), so both paths see the same images."""
    import torch

    from course_utils.data import balanced_subset

    if size is None or size >= len(data):
        return None
    probe = replace(data, images=torch.arange(len(data)).view(-1, 1, 1, 1))   # images -> their own index
    return balanced_subset(probe, size, seed=seed).images.flatten().tolist()


def peak_memory_mb(device):
    """Peak memory of this process: GPU memory allocated by PyTorch on CUDA, resident set size on the CPU."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10   # bytes on macOS, KiB on Linux


def speed_options(spec, model, device):
    """fit's speed options: fast_settings(device, model), each overridable from the command line;
    the course-compiled path adds torch.compile in the mode --compile names."""
    from course_utils.speed import fast_settings

    chosen = fast_settings(device, model)
    if spec["path"] == "course-compiled":
        chosen["compile"] = spec.get("compile") or "default"
    for key in ("channels_last", "fused_optimizer"):
        if spec.get(key) in ("on", "off"):
            chosen[key] = spec[key] == "on"
    return chosen


class ReachedTarget(Exception):
    """Raised from an epoch callback to stop a run early (--stop-at-target)."""


def run_one(spec):
    """Train one (model, path) as `spec` says; return its per-epoch records and summary."""
    import torch

    from course_utils.data import default_root, load_dataset
    from course_utils.train import amp_settings, seed_everything

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    train = load_dataset(spec["dataset"], "train")          # data load: off every clock
    test = load_dataset(spec["dataset"], "test")
    train_idx = subset_indices(train, spec["train_size"], spec["seed"])
    test_idx = subset_indices(test, spec["test_size"], spec["seed"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(spec["seed"])
    records, top = [], max(spec["targets"])

    def finish_epoch(record, t_start):
        record["wall_s"] = time.perf_counter() - t_start
        records.append(record)
        print(f"  [{spec['path']} {spec['model']}] epoch {record['epoch']}: {record['train_s']:.1f} s training, "
              f"{record['images'] / record['train_s']:.0f} images/s, test accuracy {record['test_acc']:.4f}",
              flush=True)
        if spec.get("stop_at_target") and record["test_acc"] >= top:
            raise ReachedTarget

    if spec["path"].startswith("course"):
        from course_utils.models import build_model
        from course_utils.train import TrainConfig, evaluate, fit

        model = build_model(spec["model"])
        options = speed_options(spec, model, device)
        cfg = TrainConfig(epochs=spec["epochs"], batch_size=spec["batch_size"], lr=spec["lr"],
                          augment=spec["augment"], seed=spec["seed"])
        train = (train[torch.tensor(train_idx)] if train_idx is not None else train).to(device)
        test = (test[torch.tensor(test_idx)] if test_idx is not None else test).to(device)
        amp_dtype, _ = amp_settings(device)
        recipe = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, augment=cfg.augment,
                      optimizer="AdamW, warm-up + cosine", data="in memory" + (" on the GPU" if device.type == "cuda" else ""),
                      precision=str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
                      attention="fused (F.scaled_dot_product_attention)", **options)

        def on_epoch_end(epoch, history):
            acc = evaluate(model, test, device=device).accuracy     # off the training clock
            finish_epoch(dict(epoch=epoch, train_s=history["epoch_time"][-1], train_loss=history["train_loss"][-1],
                              train_acc=history["train_acc"][-1], images=len(train), test_acc=acc), t_start)

        t_start = time.perf_counter()
        try:
            fit(model, train, None, cfg, device=device, progress=False, on_epoch_end=on_epoch_end, **options)
        except ReachedTarget:
            pass
    elif spec["path"] == "baseline":
        from benchmarks import baseline

        model = baseline.build_baseline_model(spec["model"])
        train_set, test_set = baseline.mnist_datasets(default_root(), spec["dataset"])
        train_loader, test_loader = baseline.make_loaders(train_set, test_set, device=device, train_indices=train_idx,
                                                          test_indices=test_idx, num_workers=spec["workers"])
        recipe = dict(epochs=spec["baseline_epochs"], batch_size=baseline.BATCH_SIZE, lr=baseline.LR, augment=False,
                      optimizer="Adam, constant lr", data=f"DataLoader, per-sample PIL transforms, {spec['workers']} workers",
                      precision="fp32", attention="matmul-softmax-matmul" if spec["model"] == "vit" else "-")
        t_start = time.perf_counter()
        try:
            baseline.train(model, train_loader, test_loader, epochs=spec["baseline_epochs"], device=device,
                           on_epoch_end=lambda record: finish_epoch(record, t_start))
        except ReachedTarget:
            pass
    else:
        raise ValueError(f"path must be one of {PATHS}, got {spec['path']!r}")
    return summarize(spec, records, recipe, peak_memory_mb(device))


def summarize(spec, records, recipe, peak_mb):
    """Per-run figures from the per-epoch records."""
    steady = records[1:] or records          # epoch 1 pays for warm-up (compilation, worker start)
    clock = 0.0
    to_target = {str(t): None for t in spec["targets"]}
    wall_to_target = dict(to_target)
    for r in records:
        clock += r["train_s"]
        r["train_s_total"] = clock
        for t in spec["targets"]:
            if r["test_acc"] >= t and to_target[str(t)] is None:
                to_target[str(t)], wall_to_target[str(t)] = clock, r["wall_s"]
    best = max(records, key=lambda r: r["test_acc"])
    return dict(
        model=spec["model"], path=spec["path"], recipe=recipe, targets=list(spec["targets"]),
        train_images=records[0]["images"],
        images_per_s=statistics.median(r["images"] / r["train_s"] for r in steady),
        epoch_s=statistics.median(r["train_s"] for r in steady),
        first_epoch_s=records[0]["train_s"],
        time_to_target=to_target, wall_to_target=wall_to_target,
        best_acc=best["test_acc"], best_epoch=best["epoch"], final_acc=records[-1]["test_acc"],
        train_s=clock, wall_s=records[-1]["wall_s"], peak_memory_mb=peak_mb, epochs=records,
    )


def run_in_subprocess(spec):
    """run_one(spec) in a fresh Python process (clean memory peak, no shared warm-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, result_file = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        cmd = [sys.executable, "-m", "benchmarks.time_to_accuracy", "--run-one", str(spec_file),
               "--result-file", str(result_file)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        done = subprocess.run(cmd, cwd=ROOT, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"The {spec['path']} run of {spec['model']} failed (exit code {done.returncode}); "
                               f"its output is above.")
        return json.loads(result_file.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the whole benchmark

def hardware(device):
    """The machine in words, e.g. 'NVIDIA H100 80GB HBM3 (capability 9.0); host: AMD EPYC, 16 CPU cores'."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    host = f"{cpu}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}"
    if torch.device(device).type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} (capability {major}.{minor}); host: {host}"
    return host


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def make_specs(args):
    preset = PRESETS[args.preset]
    specs = []
    for name in args.models:
        p = dict(preset[name])
        for key in ("train_size", "epochs", "batch_size", "lr", "baseline_epochs"):
            if getattr(args, key) is not None:
                p[key] = getattr(args, key)
        if args.train_size == 0:
            p["train_size"] = None
        if args.augment is not None:
            p["augment"] = args.augment
        if args.targets:
            p["targets"] = tuple(args.targets)
        for path in args.paths:
            specs.append(dict(p, model=name, path=path, device=args.device, dataset="mnist", seed=args.seed,
                              test_size=args.test_size, workers=args.workers, threads=args.threads,
                              compile=args.compile, channels_last=args.channels_last,
                              fused_optimizer=args.fused_optimizer, stop_at_target=args.stop_at_target))
    return specs


def run_benchmark(args):
    import torch

    from course_utils.data import load_dataset

    load_dataset("mnist", "train", download=args.download)   # places the files torchvision's MNIST reads
    meta = dict(command="python -m benchmarks.time_to_accuracy " + shlex.join(args.argv),
                device=args.device, preset=args.preset, hardware=hardware(args.device),
                torch=torch.__version__, python=platform.python_version(),
                date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), load_average_start=load_average(),
                baseline_workers=args.workers)
    runs = []
    for spec in make_specs(args):
        print(f"== {spec['model']}: {spec['path']} path on {spec['device']}", flush=True)
        runs.append(run_one(spec) if args.in_process else run_in_subprocess(spec))
    meta["load_average_end"] = load_average()
    results = dict(meta=meta, runs=runs, ratios=ratios(runs))
    return results


def ratios(runs):
    """Per model and course variant, course / baseline for every figure (times: < 1 is faster; images/s:
    > 1 is faster): {model: {path: {...}}}."""
    out = {}
    div = lambda x, y: x / y if x is not None and y else None   # noqa: E731
    for model in dict.fromkeys(r["model"] for r in runs):
        by_path = {r["path"]: r for r in runs if r["model"] == model}
        if "baseline" not in by_path:
            continue
        b = by_path["baseline"]
        out[model] = {path: dict(
            images_per_s=div(c["images_per_s"], b["images_per_s"]),
            epoch_s=div(c["epoch_s"], b["epoch_s"]),
            first_epoch_s=div(c["first_epoch_s"], b["first_epoch_s"]),
            time_to_target={t: div(c["time_to_target"].get(t), b["time_to_target"].get(t)) for t in c["time_to_target"]},
            peak_memory=div(c["peak_memory_mb"], b["peak_memory_mb"]),
            best_acc_difference=c["best_acc"] - b["best_acc"],
        ) for path, c in by_path.items() if path != "baseline"}
    return out


# ---------------------------------------------------------------- tables

def _pct(x):
    return f"{100 * x:.2f}%"


def _s(x):
    return "not reached" if x is None else f"{x:.1f} s"


def _x(x):
    return "-" if x is None else f"{x:.2f}"


def render_markdown(results):
    """Markdown: the hardware and command, then one table per model with the ratio rows."""
    meta = results["meta"]
    mem = "GPU memory (max allocated)" if meta["device"].startswith("cuda") else "peak RSS of the process"
    lines = [f"Measured {meta['date']} on **{meta['hardware']}**; torch {meta['torch']}, Python {meta['python']}; "
             f"load average at start {meta.get('load_average_start')}, at end {meta.get('load_average_end')}.", "",
             f"Command: `{meta['command']}`", ""]
    for model in dict.fromkeys(r["model"] for r in results["runs"]):
        runs = {r["path"]: r for r in results["runs"] if r["model"] == model}
        first = next(iter(runs.values()))
        targets = first["targets"]
        lines += [f"**{model}**, {first['train_images']:,} training images; test accuracy after every epoch.", "",
                  "| path | epochs, batch, lr | images/s | s/epoch | epoch 1 s | " +
                  " | ".join(f"s to {_pct(t)}" for t in targets) +
                  " | best test acc (epoch) | training s | wall s | peak MB |",
                  "|---|---|---:|---:|---:|" + "---:|" * len(targets) + "---:|---:|---:|---:|"]
        for path in PATHS:
            if path not in runs:
                continue
            r, rec = runs[path], runs[path]["recipe"]
            lines.append(f"| {path} | {len(r['epochs'])}, {rec['batch_size']}, {rec['lr']:g} | {r['images_per_s']:,.0f} | "
                         f"{r['epoch_s']:.2f} | {r['first_epoch_s']:.2f} | " +
                         " | ".join(_s(r["time_to_target"][str(t)]) for t in targets) +
                         f" | {_pct(r['best_acc'])} ({r['best_epoch']}) | {r['train_s']:.1f} | {r['wall_s']:.1f} | "
                         f"{r['peak_memory_mb']:,.0f} |")
        for path, q in results["ratios"].get(model, {}).items():
            lines.append(f"| **{path} / baseline** | | **{_x(q['images_per_s'])}** | {_x(q['epoch_s'])} | "
                         f"{_x(q['first_epoch_s'])} | " +
                         " | ".join(f"**{_x(q['time_to_target'][str(t)])}**" for t in targets) +
                         f" | {100 * q['best_acc_difference']:+.2f} points | | | {_x(q['peak_memory'])} |")
        lines.append("")
        for path in PATHS:
            if path in runs:
                rec = runs[path]["recipe"]
                extras = ", ".join(f"{k}={v}" for k, v in rec.items() if k not in ("epochs", "batch_size", "lr"))
                lines.append(f"- {path}: {extras}")
        lines.append("")
    lines.append(f"images/s and s/epoch: median over epochs 2+; epoch 1 also pays for warm-up (compilation, "
                 f"DataLoader workers). 's to X%': training seconds, epoch 1 included and test evaluation excluded, "
                 f"until the test accuracy first reaches X. Ratios: course / baseline (times: below 1 is faster). "
                 f"Peak memory: {mem}.")
    return "\n".join(lines)


def summary_lines(results):
    """One sentence per model and course variant: how much faster and sooner it is than the baseline."""
    out = []
    for model, per_path in results["ratios"].items():
        for path, q in per_path.items():
            bits = [f"{q['images_per_s']:.2f}x the baseline's images/s"]
            for t, v in q["time_to_target"].items():
                bits.append(f"reaches {_pct(float(t))} {1 / v:.1f}x sooner" if v else f"{_pct(float(t))}: not reached by both")
            out.append(f"{model}, {path}: " + ", ".join(bits))
    return out


def write_readme(results, readme=README):
    """Put the tables between the README's markers for this device kind (cpu or gpu)."""
    kind = "gpu" if results["meta"]["device"].startswith("cuda") else "cpu"
    begin, end = f"<!-- results:{kind} -->", f"<!-- /results:{kind} -->"
    block = f"{begin}\n{render_markdown(results)}\n{end}"
    text = Path(readme).read_text(encoding="utf-8") if Path(readme).exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + f"\n\n## Results ({kind})\n\n{block}\n"
    Path(readme).write_text(text, encoding="utf-8")
    return readme


# ---------------------------------------------------------------- command line

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.time_to_accuracy", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when there is one)")
    parser.add_argument("--preset", default="auto", choices=["auto", *PRESETS],
                        help="per-model epochs, sizes and targets (default: gpu on cuda, cpu on the cpu)")
    parser.add_argument("--models", default=None, help="comma-separated: vit, lenet, cnn (default: vit,lenet)")
    parser.add_argument("--paths", default=None,
                        help="comma-separated: course, course-compiled, baseline (default: all three on a GPU, "
                             "course,baseline on the CPU)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="balanced subset of the training set (0 = all 60,000; default: the preset's)")
    parser.add_argument("--test-size", type=int, default=None, help="balanced subset of the test set (default: all 10,000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the course path (default: the preset's)")
    parser.add_argument("--baseline-epochs", type=int, default=None, help="epochs of the baseline (default: the preset's)")
    parser.add_argument("--batch-size", type=int, default=None, help="course path's batch size (default: the preset's)")
    parser.add_argument("--lr", type=float, default=None, help="course path's peak learning rate (default: the preset's)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="course path's augmentation (default: the preset's)")
    parser.add_argument("--targets", default=None, help="comma-separated test accuracies, e.g. 0.97,0.985")
    parser.add_argument("--compile", default="default",
                        help="torch.compile mode of the course-compiled path: default, reduce-overhead (CUDA graphs), "
                             "max-autotune, max-autotune-no-cudagraphs")
    parser.add_argument("--channels-last", default="auto", choices=["auto", "on", "off"], help="course path, CNNs")
    parser.add_argument("--fused-optimizer", default="auto", choices=["auto", "on", "off"], help="course path")
    parser.add_argument("--workers", type=int, default=2, help="baseline DataLoader workers (default 2, as on Colab)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads in every run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop-at-target", action="store_true", help="stop each run once it reaches the top target")
    parser.add_argument("--download", action="store_true", help="allow torchvision to download MNIST")
    parser.add_argument("--in-process", action="store_true", help="run everything in this process (debugging)")
    parser.add_argument("--out", default=None, help="write the results to this JSON file")
    parser.add_argument("--write-readme", action="store_true", help="put the tables into benchmarks/README.md")
    parser.add_argument("--render", default=None, metavar="JSON", help="only render the tables of a results file")
    parser.add_argument("--run-one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.run_one or args.render:
        return args
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda, but PyTorch sees no GPU here.")
    if args.preset == "auto":
        args.preset = "gpu" if args.device.startswith("cuda") else "cpu"
    args.models = [m.strip().lower() for m in (args.models or DEFAULT_MODELS[args.preset]).split(",") if m.strip()]
    args.paths = [p.strip().lower() for p in (args.paths or DEFAULT_PATHS[args.preset]).split(",") if p.strip()]
    for m in args.models:
        if m not in PRESETS[args.preset]:
            parser.error(f"unknown model {m!r}; choose from {', '.join(PRESETS[args.preset])}")
    for p in args.paths:
        if p not in PATHS:
            parser.error(f"unknown path {p!r}; choose from {', '.join(PATHS)}")
    args.targets = [float(t) for t in args.targets.split(",")] if args.targets else None
    if args.test_size is None:
        args.test_size = DEFAULT_TEST_SIZE[args.preset]
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.run_one:
        result = run_one(json.loads(Path(args.run_one).read_text(encoding="utf-8")))
        Path(args.result_file).write_text(json.dumps(result), encoding="utf-8")
        return 0
    results = json.loads(Path(args.render).read_text(encoding="utf-8")) if args.render else run_benchmark(args)
    print()
    print(render_markdown(results))
    print()
    for line in summary_lines(results):
        print(line)
    if args.out and not args.render:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"results written to {args.out}")
    if args.write_readme:
        print(f"tables written to {write_readme(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
