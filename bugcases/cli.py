"""`python -m bugcases list | run | plot | report`: reproduce a documented bug from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from bugcases.config import TIERS, load_config_file
from bugcases.errors import BugcasesError
from bugcases.registry import all_cases, get_case


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit 2 like every other usage error here."""

    def error(self, message: str):
        raise BugcasesError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bugcases", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="one case per line: id, title, source")

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
    run.add_argument("--data-root", help="folder holding the real dataset in torchvision's layout (default: synthetic)")
    run.add_argument("--weights", help="a local state dict to start from (cases with pretrained models)")
    run.add_argument("--world-size", type=int, help="processes on torch.distributed (distributed cases; default: the tier's)")
    run.add_argument("--output", "-o", help="where to write the result JSON (default: CASE__VARIANT.json)")

    plot = sub.add_parser("plot", help="loss and accuracy per epoch of result JSONs, overlaid, as a PNG")
    plot.add_argument("results", nargs="+", help="result JSON files written by `run`")
    plot.add_argument("--output", "-o", required=True, help="the PNG to write")

    report = sub.add_parser("report", help="every case, every variant, quick tier: JSON, PNG, summary.md")
    report.add_argument("--out", default="bugcases-report", help="output folder (default: bugcases-report)")
    report.add_argument("--bugcase", action="append", help="only this case (repeatable)")
    report.add_argument("--tier", choices=TIERS, default="quick")
    report.add_argument("--data-root", help="folder holding the real datasets (default: synthetic)")
    return parser


def cmd_list(args) -> int:
    for case in all_cases():
        print(f"{case.id}\t{case.title}\t{case.source}\tvariants: {', '.join(case.variant_names)}")
    return 0


def cmd_run(args) -> int:
    case = get_case(args.case)
    file = load_config_file(args.config) if args.config else {}
    variant = args.variant or file.pop("variant", None)
    is_fix = file.pop("is_fix", None)
    if variant is None:
        variant = case.default_variants[1 if is_fix else 0]
    case.variant(variant)  # fail on an unknown variant before any work
    output = args.output or file.pop("output", None) or f"{case.id}__{variant}.json"
    file.pop("output", None)
    if not output.endswith(".json"):
        output += ".json"  # the seeds' `output` field names the file without its suffix
    tier = args.tier or file.pop("tier", None) or "quick"
    file.pop("tier", None)
    flags = {"lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
             "device": args.device, "data_root": args.data_root, "weights": args.weights,
             "world_size": args.world_size}
    config = case.config(tier, **{**file, **{k: v for k, v in flags.items() if v is not None}})
    if not Path(output).resolve().parent.is_dir():
        raise BugcasesError(f"cannot write {output}: its folder does not exist; create it first")
    case.validate(config)  # a device that is not there is a usage error, before any output
    print(f"{case.id} {variant}: training ({config.tier} tier, {config.device}) ...", flush=True)
    result = case.run(variant, config)
    from bugcases.results import write_text_atomic

    write_text_atomic(output, result.to_json())
    fired = ", ".join(f"{c} @ step {s}" for c, s in result.fired().items()) or "none"
    final = (f"final validation accuracy {result.validation_accuracy[-1]:.4f}" if result.validation_accuracy
             else f"final training loss {result.train_loss[-1]:.4f}" if result.train_loss else "no epochs")
    print(f"{case.id} {variant}: status {result.status}, {final}, checks fired: {fired} -> {output}")
    return 0


def cmd_plot(args) -> int:
    from bugcases.plot import plot_results
    from bugcases.results import load_result

    results = [load_result(p) for p in args.results]
    print(plot_results(results, args.output))
    return 0


def cmd_report(args) -> int:
    from bugcases.report import run_report

    cases = [get_case(c) for c in args.bugcase] if args.bugcase else None
    overrides = {"data_root": args.data_root} if args.data_root else None
    print(run_report(args.out, cases, tier=args.tier, overrides=overrides))
    return 0


COMMANDS = {"list": cmd_list, "run": cmd_run, "plot": cmd_plot, "report": cmd_report}


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except BugcasesError as exc:
        print(f"bugcases: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("bugcases: interrupted; files being written were left as they were", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
