"""`python -m bugcases list | run | plot | report`: reproduce a documented bug from the shell."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from bugcases import sources
from bugcases.config import TIERS, load_config_file
from bugcases.errors import BugcasesError
from bugcases.registry import all_cases, get_case


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit 2 like every other usage error here."""

    def error(self, message: str):
        raise BugcasesError(f"{message} (see `{self.prog} --help`)")


def _data_help() -> str:
    real = "; ".join(f"{name}: {d.summary}, for the cases that read {d.format.folder}"
                     for name, d in sources.REAL_DATASETS.items())
    return f"the files written when no --data-root is given: synthetic (default), or a real dataset ({real})"


ROOT_HELP = f"folder holding the real datasets in torchvision's layout (default: ${sources.DATA_ROOT_ENV}, else synthetic)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bugcases", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listing = sub.add_parser("list", help="one case per line: id, domain, title, source, variants, the checks that name it")
    listing.add_argument("--checks", action="store_true", help="list the checks instead: id, severity, needs, summary")
    listing.add_argument("--settings", action="store_true", help="also list each case's own settings (for --set)")
    listing.add_argument("--detectors", action="store_true", help="list the detectors `score` can run")
    listing.add_argument("--loops", action="store_true",
                         help="list the corpus of correct public loops `score` runs: name, repository, path, commit")

    run = sub.add_parser("run", help="train one variant of a case and write its result JSON")
    run.add_argument("case", help="case id, as `list` prints it (e.g. so-60335387)")
    run.add_argument("--variant", help="variant name (default: the buggy one, or as the config's is_fix says)")
    run.add_argument("--config", help="a JSON config: the seeds' fields (learning_rate, num_epoch, output, is_fix) or ours")
    run.add_argument("--tier", choices=TIERS, help="quick (CPU, seconds) or gpu (the document's scale); default quick")
    run.add_argument("--lr", type=float, help="learning rate")
    run.add_argument("--epochs", type=int)
    run.add_argument("--batch-size", type=int)
    run.add_argument("--seed", type=int)
    run.add_argument("--device", help="cpu, cuda or cuda:N (default: the tier's)")
    run.add_argument("--data-root", help=ROOT_HELP)
    run.add_argument("--data", choices=sources.names(), help=_data_help())
    run.add_argument("--weights", help="a local state dict to start from (the cases that declare a weights setting)")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                     help="a setting the case itself declares (e.g. image_size=64; `list --settings` shows them)")
    run.add_argument("--world-size", type=int, help="processes on torch.distributed (distributed cases; default: the tier's)")
    run.add_argument("--progress", action="store_true", help="print a line per epoch on stdout (for logs)")
    run.add_argument("--output", "-o", help="where to write the result JSON (default: CASE__VARIANT.json; "
                     "a folder: CASE__VARIANT.json inside it)")

    plot = sub.add_parser("plot", help="loss and accuracy per epoch of result JSONs, overlaid, as a PNG")
    plot.add_argument("results", nargs="+", help="result JSON files written by `run`")
    plot.add_argument("--output", "-o", required=True, help="the PNG to write")

    report = sub.add_parser("report", help="every case, every variant: result JSONs, a PNG of each case's symptom, summary.md and index.html")
    report.add_argument("--out", default="bugcases-report", help="output folder (default: bugcases-report)")
    report.add_argument("--bugcase", action="append", help="only this case (repeatable)")
    report.add_argument("--tier", choices=TIERS, default="quick")
    report.add_argument("--data-root", help=ROOT_HELP)
    report.add_argument("--data", choices=sources.names(), help=_data_help() + "; with a real dataset and no "
                        "--bugcase, the cases that can read it")
    score = sub.add_parser("score", help="score bug detectors on every case and on the corpus of correct loops")
    score.add_argument("--detector", action="append", metavar="NAME",
                       help="a detector (repeatable; default: all of `list --detectors`)")
    score.add_argument("--out", default="bugcases-score", help="folder for score.json and score.md (and the "
                       "report's index.html, if one is there; default: bugcases-score)")
    score.add_argument("--bugcase", action="append", help="only this case (repeatable)")
    score.add_argument("--loop", action="append", metavar="NAME",
                       help="only this loop of the corpus of correct loops (repeatable; default: all of them; "
                            "`python -m bugcases list --loops` lists them)")
    score.add_argument("--added-since", metavar="YYYY-MM-DD",
                       help="only the cases that entered the catalog on or after this day: a detector on bugs "
                            "that were catalogued after it was written")
    score.add_argument("--overhead-repeats", type=int, default=3,
                       help="interleaved timing pairs per corpus loop for the overhead ratio (0: skip)")

    docs = sub.add_parser("docs", help="write the documentation's domain, case, claim and check tables from the catalogs")
    docs.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 if the tables are stale")
    docs.add_argument("--docs", default="docs", help="the folder of pages holding the tables (default: docs)")
    return parser


def cmd_docs(args) -> int:
    from bugcases.docs import update

    return update(args.docs, args.check)


def cmd_score(args) -> int:
    from bugcases.detectors import all_detectors
    from bugcases.score import run_score

    cases = [get_case(c) for c in args.bugcase] if args.bugcase else None
    if args.added_since is not None:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.added_since):
            raise BugcasesError(f"--added-since takes a day as YYYY-MM-DD, got {args.added_since!r}")
        cases = [c for c in (cases or all_cases()) if c.added >= args.added_since]
        if not cases:
            raise BugcasesError(f"no case entered the catalog on or after {args.added_since}; "
                                f"`python -m bugcases list` shows the cases")
    if args.overhead_repeats < 0:
        raise BugcasesError(f"--overhead-repeats must be 0 or more, got {args.overhead_repeats}")
    loops = None
    if args.loop:
        from bugcases.corpus import LOOPS

        unknown = [name for name in args.loop if name not in LOOPS]
        if unknown:
            raise BugcasesError(f"no corpus loop named {', '.join(map(repr, unknown))}; "
                                f"`python -m bugcases list --loops` lists the {len(LOOPS)} loops")
        loops = {name: LOOPS[name] for name in args.loop}
    path = run_score(args.detector or list(all_detectors()), args.out, cases, args.overhead_repeats, loops)
    print(path.read_text().split("\n\n### ")[0])
    print(f"-> {path} and {path.with_suffix('.json')}")
    return 0


def cmd_list(args) -> int:
    if args.detectors:
        from bugcases.detectors import all_detectors

        for detector in all_detectors().values():
            print(f"{detector.name}\t{detector.doc}")
        return 0
    if args.loops:
        from bugcases.corpus import LOOPS

        for name, loop in LOOPS.items():
            print(f"{name}\t{loop.SOURCE['repo']}\t{loop.SOURCE['path']}\t{loop.SOURCE['commit']}")
        return 0
    if args.checks:
        from assertions.checks import CHECKS

        for check in CHECKS.values():
            print(f"{check.id}\t{check.severity}\tneeds: {', '.join(check.needs) or '-'}\t{check.summary()}")
        return 0
    for case in all_cases():
        named = ", ".join(case.naming_checks) or "no check yet"
        print(f"{case.id}\t{case.domain}\t{case.title}\t{case.source}\tvariants: {', '.join(case.variant_names)} "
              f"(buggy: {', '.join(case.buggy)})\tnamed by: {named}")
        if args.settings:
            for name, option in case.options.items():
                print(f"\t--set {name}=<{option.kind.__name__}>\t{option.help}")
    return 0


def cmd_run(args) -> int:
    case = get_case(args.case)
    file = load_config_file(args.config) if args.config else {}
    variant = args.variant if args.variant is not None else file.pop("variant", None)
    is_fix = file.pop("is_fix", None)
    if variant is None:
        variant = case.default_variants[1 if is_fix else 0]
    if not variant:
        raise BugcasesError(f"--variant must name a variant; choose one of: {', '.join(case.variant_names)}")
    case.variant(variant)  # fail on an unknown variant before any work
    output = args.output or file.pop("output", None) or f"{case.id}__{variant}.json"
    file.pop("output", None)
    if Path(output).is_dir():  # a folder: the default file name inside it
        output = str(Path(output) / f"{case.id}__{variant}.json")
    elif not output.endswith(".json"):
        output += ".json"  # the seeds' `output` field names the file without its suffix
    tier = args.tier or file.pop("tier", None) or "quick"
    file.pop("tier", None)
    kind, root = file.pop("data", None), file.pop("data_root", None)  # the config file's data source,
    if args.data or args.data_root:  # unless the flags choose one
        kind, root = args.data, args.data_root
    flags = {"lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
             "device": args.device, "data": sources.choose(kind, root), "world_size": args.world_size}
    options = {**file.pop("options", {}), **_settings(case, args.settings)}
    if args.weights is not None:
        options["weights"] = args.weights
    from bugcases.distributed import launcher_rank, launcher_world_size, under_launcher

    launched = under_launcher()
    if launched and launcher_world_size() > 1:  # torchrun started this process as one rank of WORLD_SIZE
        if not case.distributed:
            raise BugcasesError(f"case {case.id} trains in one process; run it without torchrun "
                                f"(the distributed cases: {', '.join(c.id for c in all_cases() if c.distributed)})")
        if args.world_size is not None and args.world_size != launcher_world_size():
            raise BugcasesError(f"--world-size {args.world_size} disagrees with torchrun's {launcher_world_size()} "
                                "ranks; leave --world-size out under torchrun")
        flags["world_size"] = launcher_world_size()
    config = case.config(tier, options=options, **{**file, **{k: v for k, v in flags.items() if v is not None}})
    if not Path(output).resolve().parent.is_dir():
        raise BugcasesError(f"cannot write {output}: its folder does not exist; create it first")
    case.validate(config)  # a device that is not there is a usage error, before any output
    if args.progress:
        os.environ["BUGCASES_PROGRESS"] = "1"
    rank = f" rank {launcher_rank()}/{config.world_size}" if launched and config.world_size > 1 else ""
    print(f"{case.id} {variant}{rank}: training ({config.tier} tier, {config.device}) ...", flush=True)
    result = case.run(variant, config)
    if result is None:  # a torchrun rank other than 0: rank 0 writes every rank's result
        print(f"{case.id} {variant}{rank}: done; rank 0 writes the result", flush=True)
        return 0
    from bugcases.results import write_text_atomic

    write_text_atomic(output, result.to_json())
    fired = ", ".join(f"{c} @ step {s}" for c, s in result.fired().items()) or "none"
    final = (f"final validation accuracy {result.validation_accuracy[-1]:.4f}" if result.validation_accuracy
             else f"final training loss {result.train_loss[-1]:.4f}" if result.train_loss else "no epochs")
    warned = f", PyTorch warnings kept in the result: {len(result.warnings)}" if result.warnings else ""
    print(f"{case.id} {variant}: status {result.status}, {final}, checks fired: {fired}{warned} -> {output}")
    return 0


def _settings(case, pairs) -> dict:
    """`--set NAME=VALUE` pairs, typed as the case declares them."""
    out = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise BugcasesError(f"--set expects NAME=VALUE, got {pair!r}")
        option = case.options.get(name)
        if option is None:
            declared = ", ".join(case.options) or "none"
            raise BugcasesError(f"case {case.id} takes no {name!r} setting; its settings: {declared}")
        try:
            out[name] = option.kind(text)
        except ValueError:
            raise BugcasesError(f"--set {name}: expected a {option.kind.__name__}, got {text!r}") from None
    return out


def cmd_plot(args) -> int:
    from bugcases.plot import plot_results
    from bugcases.results import load_result

    results = [load_result(p) for p in args.results]
    print(plot_results(results, args.output))
    return 0


def cmd_report(args) -> int:
    from bugcases.report import run_report

    cases = [get_case(c) for c in args.bugcase] if args.bugcase else None
    source = sources.choose(args.data, args.data_root)
    if cases is None and source.real is not None:
        cases = [c for c in all_cases() if c.can_read(source)]
    for case in cases or ():
        case.config(args.tier, data=source)  # a case that cannot read that data: one line, before any work
    print(run_report(args.out, cases, tier=args.tier, overrides={"data": source}))
    return 0


COMMANDS = {"score": cmd_score, "docs": cmd_docs, "list": cmd_list, "run": cmd_run, "plot": cmd_plot, "report": cmd_report}


class Terminated(BaseException):
    """SIGTERM (a CI runner's or scheduler's time-out), raised where the process is, like Ctrl-C. A
    BaseException, as KeyboardInterrupt is: the guards that catch Exception (the watch's around a
    check, a dataset read) must not swallow it, or the run trains on and exits 0."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: Optional[Sequence[str]] = None) -> int:
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except BugcasesError as exc:
        print(f"bugcases: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("bugcases: interrupted; files being written were left as they were", file=sys.stderr)
        return 130
    except Terminated:
        print("bugcases: terminated (SIGTERM); files being written were left as they were", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def one_line(message: str) -> str:
    """The message with control characters (a newline or carriage return inside an argument the
    user typed) written as escapes, so an error stays on one line."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in message)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
