"""Hyper-parameter search (conf/search/): workers share one Optuna study in a journal file; each
trial is a normal run in a child process, with its own record, so a killed trial fails alone."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from .records import RECORD, UsageError, check_name, read_json, runs_dir, write_json, write_text

PACKAGE = __name__.split(".")[0]  # each trial is `python -m PACKAGE ...` in a child process


def open_study(cfg: DictConfig) -> tuple[optuna.Study, dict[str, BaseDistribution], Path]:
    """The study (made by the first worker, joined by the others), its space and its folder."""
    search = cfg.search
    if missing := {"name", "metric", "direction", "trials", "sampler", "params"} - set(search):
        raise UsageError(f"search has no {', '.join(sorted(missing))}; see conf/search/")
    if search.direction not in ("minimize", "maximize") or not isinstance(search.trials, int):
        raise UsageError("search.direction must be minimize or maximize, search.trials a number")
    if absent := [key for key in search.params if OmegaConf.select(cfg, key) is None]:
        raise UsageError(f"search.params: '{absent[0]}' is not a value of the config; see --help")
    seed = search.sampler.get("seed")  # one seed per worker: a shared one would repeat trials
    offset = {} if seed is None else {"seed": seed + search.get("worker", 0)}
    try:
        space = {str(key): instantiate(spec) for key, spec in search.params.items()}
        sampler = instantiate(search.sampler, **offset)
    except Exception as error:  # Hydra wraps the distribution's or the sampler's own error
        raise UsageError(f"search: {' '.join(str(error).split())}") from error
    if bad := [key for key, value in space.items() if not isinstance(value, BaseDistribution)]:
        raise UsageError(f"search.params.{bad[0]}: not an Optuna distribution (_target_)")
    folder = runs_dir(Path(str(cfg.root))) / "search" / check_name(str(search.name), "search.name")
    folder.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its INFO lines would repeat ours
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    study = optuna.create_study(storage=storage, sampler=sampler, direction=search.direction,
                                study_name=str(search.name), load_if_exists=True)  # fmt: skip
    return study, space, folder


def work(cfg: DictConfig, overrides: list[str]) -> int:
    """Run trials until the study holds `search.trials`, then print and record the best."""
    study, space, folder = open_study(cfg)
    search, runs = cfg.search, runs_dir(Path(str(cfg.root)))
    own = [o for o in overrides if not o.lstrip("+~").startswith(("search=", "search.", "stage="))]
    own += [f"stage={cfg.stage}", f"experiment_name=search-{search.name}"]  # one W&B group
    turn = JournalFileOpenLock(str(folder / "ask"))  # count and ask in turn: no extra trials
    while True:
        turn.acquire()
        try:
            trial = study.ask(space) if len(study.trials) < search.trials else None
        finally:
            turn.release()
        if trial is None:
            return report(cfg)
        marker = f"+search_trial={trial.number}"  # finds the trial's run record
        values = [f"{key}={'null' if v is None else v}" for key, v in trial.params.items()]
        with subprocess.Popen([sys.executable, "-m", PACKAGE, *own, *values, marker]) as child:
            code = child.wait()
        mine = (r for p in runs.glob(f"*/{RECORD}") if (r := read_json(p)).get("pid") == child.pid)
        record = next((r for r in mine if marker in r["overrides"]), {})  # the trial's run record
        metrics, completed = record.get("metrics") or {}, record.get("status") == "completed"
        value = metrics.get(search.metric) if completed else None
        trial.set_user_attr("run_id", record.get("id"))
        trial.set_user_attr("overrides", values)  # the best trial's become an experiment config
        study.tell(trial, value, TrialState.FAIL if value is None else TrialState.COMPLETE)
        if completed and value is None:  # every trial would fail the same way: stop at once
            raise UsageError(f"search.metric '{search.metric}' is not one of {', '.join(metrics)}")
        if not completed:
            why = f"killed by signal {-code}" if code < 0 else record.get("error") or f"exit {code}"
            print(f"search {search.name}: trial {trial.number} failed: {why}", file=sys.stderr)


def report(cfg: DictConfig) -> int:
    """Print the study's best trial; record it in best.json and an experiment config."""
    study, _, folder = open_study(cfg)
    name, metric = cfg.search.name, cfg.search.metric
    counts = Counter(trial.state.name.lower() for trial in study.trials)  # complete, fail, ...
    if not counts["complete"]:
        print(f"search {name}: no trial completed ({counts['fail']} failed); see {folder}")
        return 0
    best, told = study.best_trial, f"{counts['complete']} complete, {counts['fail']} failed"
    source = f"trial {best.number} (run {best.user_attrs.get('run_id')}): {metric}={best.value:.6g}"
    facts = dict(study=name, metric=metric, value=best.value, trial=best.number, trials=counts)
    write_json(folder / "best.json", {**facts, **best.user_attrs, "params": best.params})
    tree = OmegaConf.from_dotlist([f"experiment_name=search_{name}", *best.user_attrs["overrides"]])
    where = Path("conf/experiment") if cfg.runtime.mode == "run" else folder  # debug: not conf/
    text = f"# @package _global_\n# Search {name}'s best, {source}.\n{OmegaConf.to_yaml(tree)}"
    write_text(where / f"search_{name}.yaml", text)
    shown = " ".join(best.user_attrs["overrides"])
    print(f"search {name}: best {source} ({told}): {shown}; experiment=search_{name}")
    return 0
