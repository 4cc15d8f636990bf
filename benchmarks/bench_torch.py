"""Time the pytorch variant: training throughput against a bare PyTorch loop, and its setup.

Measured on the machine running this script, in one bake of the template with
`framework=pytorch` (`project_name="Bench Torch"`), after `prepare` and `featurize`:

1. training throughput, in training rows per second over the epochs (validation
   included), of `python -m bench_torch stage=train logger=none trainer=cpu`
   (its `run.json` notes `samples_per_s`, timed around Lightning's `fit`) beside
   a bare PyTorch loop run by the same interpreter on the same rows, network
   (the project's `MLP`), batch size, optimizer, step-size schedule, per-epoch
   validation and per-epoch checkpoint (the state of the network, the optimizer
   and the schedule saved as last, and as best when the validation loss
   improves), with the same deterministic setting; the two alternate, and the
   ratio is of their medians. Two networks: the default one (`conf/model/mlp.yaml`
   and `train.batch_size`), and a wider one with bigger batches
   (`model.hidden=[1024,1024] train.batch_size=256`), where the work per step
   outweighs the per-step bookkeeping that any training loop with logging does;
2. `make setup`: cold (an empty uv cache, so every wheel is downloaded) and warm
   (the cache filled, `.venv` removed), the bytes of the wheels installed (their
   sizes in uv.lock, for this machine's platform) with torch's and NVIDIA's
   CUDA libraries apart, and the installed `.venv`.

Prints a markdown section and writes it into docs/benchmarks.md between the
`<!-- torch:start -->` and `<!-- torch:end -->` markers, and the figures into
benchmarks/results/torch.json. Exits 1 when the wider network's ratio is below
0.95. --quick (the smoke run under `make test-pytorch`) trains 2 epochs once,
skips the cold setup, and only reports the target. No GPU here: the section says
so; on a machine with one, `--device gpu` measures `trainer=gpu` against the bare
loop on CUDA with bf16 autocast.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import (
    PROJECT_ENV,
    Command,
    bake_project,
    base_parser,
    describe,
    machine_section,
    markers,
    missed,
    parse,
    run,
    say,
    stats,
    uv_version,
    write_results,
    write_section,
)

NAME = "torch"
TITLE = "PyTorch variant: Lightning against a bare loop, and setup"
START, END = markers(NAME)
PROJECT_NAME = "Bench Torch"
PACKAGE = "bench_torch"
MIN_RATIO = 0.95
EPOCHS, QUICK_EPOCHS = 20, 2
NETWORKS = {
    "default": (),
    "wide": ("model.hidden=[1024,1024]", "train.batch_size=256"),
}
JUDGED = "wide"
# In the project's interpreter: the sizes of the wheels uv.lock gives this platform for the
# installed distributions, the most specific tag winning as in uv and pip.
WHEELS = """
import json, tomllib
from importlib.metadata import distributions
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
rank = {tag: index for index, tag in enumerate(sys_tags())}
installed = {canonicalize_name(d.metadata["Name"]) for d in distributions()}
sizes = {"torch": 0, "nvidia": 0, "other": 0}
for package in tomllib.load(open("uv.lock", "rb"))["package"]:
    if package["name"] not in installed or not package.get("wheels"):
        continue
    def fit(wheel):
        tags = parse_wheel_filename(wheel["url"].rsplit("/", 1)[1])[3]
        return min((rank.get(tag, len(rank)) for tag in tags), default=len(rank))
    wheel = min(package["wheels"], key=fit)
    if fit(wheel) < len(rank):
        name = package["name"]
        kind = "torch" if name == "torch" else "nvidia" if name.startswith("nvidia-") else "other"
        sizes[kind] += int(wheel.get("size", 0))
print(json.dumps(sizes))
"""
# The bare loop: run by the project's interpreter with the run's resolved train section.
BARE = """
import json, sys, tempfile, time
from pathlib import Path
import joblib, numpy as np, pandas as pd, torch
from torch.nn import functional
from torch.utils.data import DataLoader, TensorDataset

cfg, package, device = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
MLP = __import__(f"{package}.stages._nets", fromlist=["MLP"]).MLP
torch.use_deterministic_algorithms(bool(cfg["trainer"]["deterministic"]))
preprocess = joblib.load(cfg["preprocessor_path"])
def rows(split, classes=None):
    table = pd.read_parquet(Path(cfg["input_dir"]) / f"{split}.parquet")
    x, y = table.drop(columns=[cfg["target"]]), table[cfg["target"]]
    classes = classes or sorted(y.unique().tolist())
    index = {label: i for i, label in enumerate(classes)}
    x = torch.as_tensor(np.asarray(preprocess.transform(x), dtype=np.float32))
    return TensorDataset(x, torch.as_tensor([index[label] for label in y])), classes
train, classes = rows("train")
val, _ = rows("val", classes)
torch.manual_seed(cfg["seed"])
model = cfg["model"]
net = MLP(train.tensors[0].shape[1], len(classes), model["hidden"], model["dropout"]).to(device)
options = cfg["optimizer"]
optimizer = torch.optim.AdamW(
    net.parameters(), lr=options["lr"], weight_decay=options["weight_decay"]
)
train_rows = DataLoader(train, batch_size=cfg["batch_size"], shuffle=True)
val_rows = DataLoader(val, batch_size=cfg["batch_size"])
steps = cfg["epochs"] * len(train_rows)
schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")
folder, best = Path(tempfile.mkdtemp()), float("inf")
start = time.perf_counter()
for epoch in range(cfg["epochs"]):
    net.train()
    for x, y in train_rows:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        with autocast:
            loss = functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()
    total = 0.0
    with torch.no_grad(), autocast:
        for x, y in val_rows:
            total += float(functional.cross_entropy(net(x.to(device)), y.to(device))) * len(y)
    state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(),
             "schedule": schedule.state_dict(), "epoch": epoch}
    torch.save(state, folder / "last.ckpt")
    if total / len(val) < best:
        best = total / len(val)
        torch.save(state, folder / "best.ckpt")
seconds = time.perf_counter() - start
print(json.dumps({"samples_per_s": len(train) * cfg["epochs"] / seconds}))
"""


def python_of(project: Path) -> str:
    """The project's interpreter."""
    return str(project / ".venv" / "bin" / "python")


def stage(project: Path, *args: str) -> dict[str, Any]:
    """Run one stage in the project; return its run record."""
    run(Command((python_of(project), "-m", PACKAGE, *args, "logger=none"), project, PROJECT_ENV))
    newest = max((project / "runs").glob("*/run.json"), key=lambda path: path.parent.name)
    record: dict[str, Any] = json.loads(newest.read_text(encoding="utf-8"))
    return record


def throughput(
    project: Path, network: tuple[str, ...], epochs: int, repeats: int, device: str
) -> dict[str, Any]:
    """Samples per second of train and of the bare loop, alternating; their ratio of medians."""
    trainer = "trainer=gpu" if device == "cuda" else "trainer=cpu"
    variant, bare, batch = [], [], 0
    for index in range(repeats):
        say(NAME, f"train {' '.join(network) or 'default'}: run {index + 1} of {repeats}")
        record = stage(project, "stage=train", trainer, f"train.epochs={epochs}", *network)
        variant.append(float(record["notes"]["samples_per_s"]))
        config = (project / "runs" / record["id"] / "config.yaml").read_text(encoding="utf-8")
        train = yaml.safe_load(config)["train"]  # resolved, as the run saw it
        section, batch = json.dumps(train), int(train["batch_size"])
        command = (python_of(project), "-c", BARE, section, PACKAGE, device)
        bare.append(json.loads(run(Command(command, project, PROJECT_ENV)))["samples_per_s"])
    fast, slow = statistics.median(bare), statistics.median(variant)
    # Milliseconds per optimizer step: the bare loop's, and what train adds to each.
    step_ms, added_ms = 1000 * batch / fast, 1000 * batch * (1 / slow - 1 / fast)
    return {
        "variant": stats(variant),
        "bare": stats(bare),
        "ratio": round(slow / fast, 3),
        "batch_size": batch,
        "step_ms": round(step_ms, 3),
        "added_ms": round(added_ms, 3),
    }


def wheel_bytes(project: Path) -> dict[str, int]:
    """Bytes of the wheels uv.lock gives this platform, for the packages in .venv (read by
    the project's interpreter: its tomllib, packaging and installed distributions)."""
    sizes: dict[str, int] = json.loads(run(Command((python_of(project), "-c", WHEELS), project)))
    return sizes


def tree_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (each hard link once)."""
    seen, total = set(), 0
    for path in folder.rglob("*"):
        info = path.lstat()
        if path.is_file() and not path.is_symlink() and (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_size
    return total


def setup_times(project: Path, uv: str, quick: bool) -> dict[str, Any]:
    """`make setup`: cold (empty uv cache) unless quick, then warm (.venv removed)."""
    times: dict[str, Any] = {}
    cache = Path(tempfile.mkdtemp(prefix="bench-torch-uv-cache-"))
    try:
        for kind in ([] if quick else ["cold"]) + ["warm"]:
            shutil.rmtree(project / ".venv", ignore_errors=True)
            env = {**PROJECT_ENV} if quick else {**PROJECT_ENV, "UV_CACHE_DIR": str(cache)}
            say(NAME, f"make setup, {kind}")
            start = time.perf_counter()
            run(Command(("make", "setup", f"UV={uv}"), project, env))
            times[kind] = round(time.perf_counter() - start, 1)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return times


def render(results: dict[str, Any], machine: list[str], repeats: int, epochs: int) -> str:
    """The markdown section."""
    lines = [START, f"## {TITLE}", ""]
    lines += [
        f"Training rows per second over {epochs} epochs on digits (1,149 training rows), "
        f"validation and per-epoch checkpoints included, median of {repeats} alternating "
        "runs each. `train` is the project's stage (Lightning, `trainer=cpu`, deterministic); "
        "the bare loop is plain PyTorch doing the same work with the same network. Target: "
        f"at least {MIN_RATIO} on the {JUDGED} network.",
        "",
        "| Network | `train` (rows/s) | Bare loop (rows/s) | Ratio | Bare step | Added per step |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, figures in results["throughput"].items():
        lines.append(
            f"| {name} ({' '.join(NETWORKS[name]) or 'conf/ as shipped'}) | "
            f"{figures['variant']['median']:,.0f} | {figures['bare']['median']:,.0f} | "
            f"{figures['ratio']:.2f} | {figures['step_ms']:.2f} ms | {figures['added_ms']:.2f} ms |"
        )
    lines += [
        "",
        "A step's time includes its share of the epoch's validation and checkpoints. What "
        "`train` adds per step (Lightning's loop, hooks and callbacks, the run's metrics) is "
        "about the same for any network: beside the default network's short steps it shows; "
        "beside steps of a network with real work, such as the wide one, it is noise.",
    ]
    sizes, setup = results["wheels"], results["setup"]
    lines += [
        "",
        "| `make setup` | Seconds |",
        "| --- | ---: |",
        *(f"| {kind} | {seconds:.1f} |" for kind, seconds in setup.items()),
        "",
        f"Wheels installed (sizes in uv.lock for this platform): torch "
        f"{sizes['torch'] / 1e9:.2f} GB, NVIDIA's CUDA libraries {sizes['nvidia'] / 1e9:.2f} GB, "
        f"everything else {sizes['other'] / 1e9:.2f} GB; `.venv` installed: "
        f"{results['venv_bytes'] / 1e9:.2f} GB. torch from the package index is the CUDA "
        "build on Linux x86-64: the CUDA libraries come with it.",
        "",
        f"GPU: {results['gpu']}",
        "",
        *machine_section(machine),
        END,
    ]
    return "\n".join(lines)


def main() -> int:
    """Measure, print the section, update the docs; 1 if the target is missed."""
    parser = base_parser(__doc__, repeats=3)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where to train")
    args = parse(parser)
    epochs = QUICK_EPOCHS if args.quick else EPOCHS
    device = "cuda" if args.device == "gpu" else "cpu"
    with tempfile.TemporaryDirectory(prefix="bench-torch-") as scratch:
        answers = (f"project_name={PROJECT_NAME}", "framework=pytorch")
        out = Path(scratch) / "out"
        project = bake_project(args.cookiecutter, args.template.resolve(), out, *answers)
        setup = setup_times(project, args.uv, args.quick)
        for name in ("prepare", "featurize"):
            stage(project, f"stage={name}")
        networks = {"default": NETWORKS["default"]} if args.quick else NETWORKS
        measured = {
            name: throughput(project, network, epochs, args.repeats, device)
            for name, network in networks.items()
        }
        versions = run(Command((python_of(project), "-c", VERSIONS), project)).strip()
        results = {
            "throughput": measured,
            "setup": setup,
            "wheels": wheel_bytes(project),
            "venv_bytes": tree_bytes(project / ".venv"),
            "gpu": "measured with trainer=gpu"
            if device == "cuda"
            else "none on this machine; the gpu and bf16 configs were not measured here",
        }
    machine = describe(f"{uv_version(args.uv)}, {versions}")
    section = render(results, machine, args.repeats, epochs)
    print(section)
    write_section(args.output, section, NAME)
    measures = {**results, "min_ratio": MIN_RATIO, "judged": JUDGED, "epochs": epochs}
    write_results(args.results, NAME, TITLE, machine, measures)
    judged = measured.get(JUDGED) or measured["default"]
    if judged["ratio"] < MIN_RATIO:
        return missed(f"train ran at {judged['ratio']:.2f} of the bare loop's speed", args.quick)
    return 0


VERSIONS = (
    "import platform, torch, lightning; "
    "print(f'Python {platform.python_version()}, torch {torch.__version__}, "
    "Lightning {lightning.__version__}')"
)

if __name__ == "__main__":
    sys.exit(main())
