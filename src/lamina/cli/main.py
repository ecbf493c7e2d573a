"""`lamina` command line. Imports are lazy so `lamina --help` does not load torch.

Exit status: 0 success, 2 bad input or usage (message on stderr, no traceback), 1 internal error.
"""

from __future__ import annotations

import json
import sys

from lamina.cli.launch import in_worker, peer_lost
from lamina.cli.parser import parser as _parser
from lamina.cli.serving import cmd_deploy, cmd_serve


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


def _cmd_datasets(a) -> None:
    from lamina.common.runtime import require_torch

    require_torch("lamina datasets")
    from lamina.datasets.makers import make_dataset

    summary = make_dataset(a.name, a.output, seed=a.seed, overwrite=a.overwrite, source=a.source)
    if a.json:
        _print_json(summary)
    else:
        counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
        print(f"wrote {a.name} to {summary['output']} ({counts})")


def _cmd_train(a) -> None:
    from lamina.api import train
    from lamina.common.runtime import require_torch

    require_torch("lamina train")  # before a distributed launch, which needs torchrun
    if (a.nproc or a.nnodes) and not in_worker():
        from lamina.cli.launch import launch_distributed

        return launch_distributed(a, a.argv)

    flags = {"track.mlflow_uri": a.tracking_uri, "track.registered_model": a.register, "track.alias": a.alias}
    summary = train(
        a.source,
        output=a.output,
        overrides=list(a.overrides),
        seed=a.seed,
        device=a.device,
        skip_bad=a.skip_bad,
        overwrite=a.overwrite,
        quiet=False,
        resume=True if a.resume else None,
        deterministic=a.deterministic or None,
        settings={k: v for k, v in flags.items() if v is not None},
    )
    if summary.get("rank"):
        return  # a worker other than rank 0: rank 0 reports
    if a.json:
        _print_json(summary)
        return
    print(
        f"run: {summary['run']}  ({summary['epochs']} epochs, {summary['train_seconds']:.1f} s, "
        f"{summary['samples_per_s']:.0f} samples/s, {summary['precision']} on {summary['device']})"
    )
    for split, m in summary["metrics"].items():
        print(f"{split}: {_figures(m)}  (n={m['n']})")
    print(f"model package: {summary['model']}")
    if summary.get("report"):
        print(f"report: {summary['report']}")
    if "export" in summary:
        p = summary["export"]["parity"]
        print(
            f"onnx: {summary['export']['path']} (parity on {p['n']} inputs: max |difference| {p['max_abs_diff']:.1e})"
        )
    if summary.get("tracking", {}).get("run_id"):
        t = summary["tracking"]
        version = (
            f", registered as {t['registered_model']} version {t['model_version']}" if t.get("model_version") else ""
        )
        print(f"mlflow: run {t['run_id']} at {t['uri']}{version}")


# what a line of figures shows, when the task has it
FIGURES = (
    ("accuracy", "accuracy"),
    ("micro_f1", "micro-F1"),
    ("macro_f1", "macro-F1"),
    ("mean_average_precision", "mAP"),
    ("mae", "MAE"),
    ("rmse", "RMSE"),
    ("r2", "R2"),
)


def _figures(m: dict) -> str:
    return "  ".join(f"{name} {m[key]:.4f}" for key, name in FIGURES if m.get(key) is not None)


def _cmd_validate(a) -> None:
    from lamina.api import validate
    from lamina.common.listing import names, printed_lines, use_line

    r = validate(a.source, overrides=a.overrides, output=a.output)
    if a.json:
        _print_json(r)
    else:
        if r["files"] is not None:
            counts = "; ".join(
                f"{split}: " + names([f"{k} {v}" for k, v in c.items()]) for split, c in r["counts"].items()
            )
            print(f"{r['path']}: {r['files']} {'rows' if r.get('columns') else 'files'} ({counts})")
        if r.get("columns"):
            print(use_line(r["columns"]))
        where = f"all in {r['output']}" if r.get("output") else "lamina validate --output FILE lists them all"
        for p in r["errors"] + r["warnings"]:
            print("\n".join(printed_lines(p, where=where)))
        print(f"{len(r['errors'])} errors, {len(r['warnings'])} warnings")
    if r["errors"]:
        raise SystemExit(2)


def _cmd_explain(a) -> None:
    from lamina.api import explain

    records = explain(a.model, a.inputs, output=a.output, method=a.method)
    if a.json:
        _print_json({"explanations": records})
        return
    for r in records:
        where = f"  -> {r['files']['map']}" if "files" in r else ""
        print(f"{r['input']}: {r['label']} ({r['score']:.4f}), {r['method']} map{where}")


def _cmd_review(a) -> None:
    from lamina.api import review

    r = review(a.source, output=a.output, folds=a.folds, repeats=a.repeats, overrides=a.overrides, quiet=a.json)
    if a.json:
        _print_json(r)
        return
    print(f"{r['flagged']} of {r['samples']} samples flagged as likely mislabelled ({r['folds']} folds)")
    print(f"ranked list: {r['csv']}")
    print(f"top suspects: {r['page']}")


def _cmd_tune(a) -> None:
    from lamina.api import tune

    r = tune(
        a.config, trials=a.trials, storage=a.storage, study=a.study, output=a.output, pruner=a.pruner, quiet=a.json
    )
    if a.json:
        _print_json(r)
        return
    counts = ", ".join(f"{v} {k}" for k, v in sorted(r["trials"].items()))
    print(f"study {r['study']}: {counts}")
    print(f"best: trial {r['best_trial']} ({r['best_run']}), val {r['best_value']:.4f}, {r['best_params']}")
    print(f"best config: {r['best_config']}")


def _cmd_evaluate(a) -> None:
    from lamina.api import evaluate

    r = evaluate(a.model, a.data, split=a.split, skip_bad=a.skip_bad, report=a.report)
    if a.json:
        _print_json(r)
        return
    print(f"{r['data']}{' [' + r['split'] + ']' if r['split'] else ''}: {_figures(r)}  n {r['n']}")
    table = r.get("per_class") or r.get("per_label") or {}
    width = max((len(k) for k in table), default=5)
    if table:
        print(f"{'label':<{width}}  precision  recall     f1  support" + ("  threshold" if "per_label" in r else ""))
    for label, c in table.items():
        print(
            f"{label:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:.4f}  {c['support']:7d}"
            + (f"  {c['threshold']:9.2f}" if "threshold" in c else "")
        )
    if r.get("report"):
        print(f"report: {r['report']}")


def _score_to_file(a) -> None:
    from lamina.api import score

    if len(a.inputs) != 1 or a.batch_size < 1:
        from lamina.common.errors import LaminaError

        raise LaminaError("predict --output: give one folder, manifest or text table, and --batch-size >= 1")
    summary = score(
        a.model,
        a.inputs[0],
        a.output,
        shard=a.shard,
        column=a.column,
        batch_size=a.batch_size,
        top_k=a.top_k,
        quiet=a.json,
    )
    if a.json:
        _print_json(summary)
    else:
        resumed = f" (after {summary['resumed_after']} rows of an earlier run)" if summary["resumed_after"] else ""
        print(
            f"{summary['output']}: {summary['scored']} rows scored{resumed}, {summary['errors']} of them errors, "
            f"in {summary['seconds']:.1f} s"
        )


def _cmd_predict(a) -> None:
    if a.output is not None:
        _score_to_file(a)
        return
    if a.shard is not None or a.column is not None:
        from lamina.common.errors import LaminaError

        raise LaminaError("predict: --shard and --column need --output (batch scoring)")
    from lamina.api import load

    results = load(a.model).predict(a.inputs, top_k=a.top_k)
    if a.json:
        _print_json({"predictions": results})
        return
    for r in results:
        if "value" in r:
            print(f"{r['input']}: {r['value']:.6g}")
        elif "labels" in r:
            best = sorted(r["scores"].items(), key=lambda kv: -kv[1])[: a.top_k]
            print(f"{r['input']}: {'; '.join(r['labels']) or '(none)'}  ({', '.join(f'{k} {v:.3f}' for k, v in best)})")
        else:
            rest = ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["top_k"])
            print(f"{r['input']}: {r['label']}  ({rest})")


def _cmd_export(a) -> None:
    from lamina.api import export

    section = export(a.model, format=a.format, quantize=a.quantize)
    if a.json:
        _print_json(section)
        return
    p = section["parity"]
    print(
        f"wrote {section['path']} (parity on {p['n']} inputs: max |difference| {p['max_abs_diff']:.1e}, same labels: {p['argmax_equal']})"
    )
    if "int8" in section:
        v, speed = section["int8"]["val"], section["int8"]["speed"]
        print(
            f"wrote {section['int8']['path']} (val {v['metric']} on {v['n']} samples: {v['fp32']:.4f} fp32, {v['int8']:.4f} int8; "
            "served in place of model.onnx)"
        )
        print(
            "int8 speed-up on this machine: "
            + ", ".join(
                f"{k.replace('_', ' ')} {s['speedup']:.2f}x ({s['fp32_ms']:.3g} -> {s['int8_ms']:.3g} ms)"
                for k, s in speed.items()
            )
        )
        if any(s["speedup"] < 1 for s in speed.values()):
            print(
                "warning: the int8 graph is slower here at some batch size; a server on this kind of CPU is faster on "
                "model.onnx: re-run `lamina export` without --quantize to serve fp32",
                file=sys.stderr,
            )


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "-" if v is None else str(v)


def _cmd_runs(a) -> None:
    from lamina.training.runs import compare_runs, list_runs, show_run

    if a.action == "ls":
        runs = list_runs(a.root)
        if a.json:
            _print_json({"runs": runs})
            return
        cols = ("name", "status", "modality", "model", "val_accuracy", "test_accuracy", "epochs", "started")
        rows = [[_fmt(r[c]) for c in cols] for r in runs]
        widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    elif a.action == "show":
        r = show_run(a.run)
        if a.json:
            _print_json(r)
            return
        import yaml

        print(
            f"{r['name']}: {r['status']}  model {r['model']}  val accuracy {_fmt(r['val_accuracy'])}  test accuracy {_fmt(r['test_accuracy'])}"
        )
        for name, path in r["files"].items():
            print(f"  {name}: {path}")
        print(yaml.safe_dump(r["config"], sort_keys=False).rstrip())
    else:
        r = compare_runs(a.a, a.b)
        if a.json:
            _print_json(r)
            return
        print(f"{'':24}{r['runs'][0]:>30}  {r['runs'][1]:>30}")
        for k, (x, y) in {**r["side_by_side"], **r["config_diff"]}.items():
            print(f"{k:24}{_fmt(x):>30}  {_fmt(y):>30}")


COMMANDS = {
    "deploy": cmd_deploy,
    "datasets": _cmd_datasets,
    "train": _cmd_train,
    "validate": _cmd_validate,
    "review": _cmd_review,
    "explain": _cmd_explain,
    "tune": _cmd_tune,
    "evaluate": _cmd_evaluate,
    "predict": _cmd_predict,
    "export": _cmd_export,
    "serve": cmd_serve,
    "runs": _cmd_runs,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.version:
        from lamina import __version__

        print(f"lamina {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    from lamina.common.errors import LaminaError

    try:
        COMMANDS[args.command](args)
    except LaminaError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lamina runs ls | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if in_worker() and peer_lost(e):
            return 1
        import traceback

        traceback.print_exc()
        print("internal error: this is a bug in lamina; please report it with the lines above.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
