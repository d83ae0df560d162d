"""genlab-sweep-report: summary.csv and PNG plots of an Optuna study (a sweep dir or a storage URL).

    genlab-sweep-report outputs/sweeps/gan_digits                      # reads <dir>/study.json
    genlab-sweep-report postgresql://u:pw@host/db --study gan_mnist --out report/

Plots (Optuna's matplotlib visualisations): optimisation history, parameter importances, parallel
coordinates. genlab's sweeper writes the same report to `<sweep dir>/report/` at the end of a sweep.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

STUDY_FILE = "study.json"
#: file name -> the optuna.visualization.matplotlib function that draws it.
PLOTS = {
    "optimization_history.png": "plot_optimization_history",
    "param_importances.png": "plot_param_importances",
    "parallel_coordinate.png": "plot_parallel_coordinate",
}


def write_study_file(sweep_dir: str | Path, storage: str | None, study_name: str) -> None:
    """Where a sweep dir's study lives, for genlab-sweep-report DIR."""
    path = Path(sweep_dir) / STUDY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"storage": storage, "study_name": study_name}))


def summary_rows(study: Any) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of every trial, best first: number, state, value, parameters, pruned step, duration, error."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    params = sorted({k for t in trials for k in t.params})
    metric = (study.metric_names or ["value"])[0]
    sign = -1.0 if study.direction.name == "MAXIMIZE" else 1.0

    def key(t: Any) -> tuple[int, float]:
        ranked = t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.value is not None and math.isfinite(t.value)
        # Completed trials first, then pruned ones (their value is from an earlier evaluation), then the rest.
        return ({TrialState.COMPLETE: 0, TrialState.PRUNED: 1}.get(t.state, 2) if ranked else 3, sign * t.value if ranked else 0.0)

    header = ["number", "state", metric, *params, "pruned_at_step", "duration_s", "error"]
    rows = [
        [
            t.number,
            t.state.name,
            "" if t.value is None else t.value,
            *(t.params.get(k, "") for k in params),
            t.user_attrs.get("pruned_at_step", ""),
            "" if t.duration is None else round(t.duration.total_seconds(), 3),
            t.user_attrs.get("error", ""),
        ]
        for t in sorted(trials, key=key)
    ]
    return header, rows


def write_report(study: Any, out_dir: str | Path) -> list[Path]:
    """Write summary.csv and the plots that the study's trials allow; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display (also on a cluster node)
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm
    from optuna.exceptions import ExperimentalWarning

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header, rows = summary_rows(study)
    with (out / "summary.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    written = [out / "summary.csv"]
    import warnings

    if not any(row[1] == "COMPLETE" for row in rows):
        return written  # nothing to plot yet
    for filename, function in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                axes = getattr(ovm, function)(study)
        except Exception as err:  # e.g. importances need two finished trials; the other plots still come
            print(f"genlab: {filename} skipped: {err}", file=sys.stderr)
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.savefig(out / filename, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(out / filename)
    return written


def locate(target: str, study_name: str | None) -> tuple[str, str]:
    """(storage URL, study name) from a sweep dir (its study.json, or its optuna.db) or a storage URL."""
    import optuna

    from genlab.errors import ConfigError
    from genlab.studies import open_storage

    path = Path(target)
    if path.is_dir():
        if (path / STUDY_FILE).is_file():
            info = json.loads((path / STUDY_FILE).read_text())
            return info["storage"], study_name or info["study_name"]
        if (path / "optuna.db").is_file():
            target = f"sqlite:///{(path / 'optuna.db').resolve()}"
        else:
            raise ConfigError(f"{target}: no {STUDY_FILE} or optuna.db in this dir; pass a storage URL and --study")
    if study_name is None:
        names = [s.study_name for s in optuna.get_all_study_summaries(open_storage(target))]
        if len(names) != 1:
            raise ConfigError(f"{target} holds studies {names}: pick one with --study NAME")
        study_name = names[0]
    return target, study_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genlab-sweep-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a sweep dir, or a storage URL (sqlite:///..., postgresql://..., journal:///abs/path.log)")
    parser.add_argument("--study", default=None, help="study name (default: the sweep dir's, or the storage's only study)")
    parser.add_argument("--out", default=None, help="output dir (default: <sweep dir>/report, or ./report)")
    args = parser.parse_args(argv)
    import optuna

    from genlab.errors import ConfigError
    from genlab.studies import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage, name = locate(args.target, args.study)
        study = optuna.load_study(study_name=name, storage=open_storage(storage))
    except (ConfigError, KeyError) as err:
        print(f"genlab: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else (Path(args.target) / "report" if Path(args.target).is_dir() else Path("report"))
    files = write_report(study, out)
    print(f"genlab: study {name}: {len(study.trials)} trials; wrote {', '.join(str(f) for f in files)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
