"""`make run`: every registered job on the sample data, as the registry says to run it.

    python -m tools.demo --root data

The samples sit where the registry's layout puts inputs (`<root>/input/<dataset>/`, generated
by `make run`); each job then runs as a user would run it (`python -m jobs.<job>` with the
registry's arguments for that root), pipelines one after another and each pipeline in order,
so scoring finds the model training wrote. After each job its run report is summarised.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.emr import registry
from tools.show_report import summarise


def output_root(job: registry.Job, root: str) -> Path:
    return Path(job.output[1].format(root=root))


def run_demo(root: str, jobs: Sequence[registry.Job]) -> int:
    for job in jobs:
        arguments = job.invocation(root=root)
        print(f"running {job.name} {' '.join(arguments)}", flush=True)
        result = subprocess.run([sys.executable, "-m", job.module, *arguments], check=False)
        if result.returncode != 0:
            return result.returncode
        report = output_root(job, root) / "run_report.json"
        print(summarise(json.loads(report.read_text())))
        print(f"  report: {report}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description="Run every registered job on the sample data.")
    parser.add_argument("--root", default="data", help="data root: inputs under <root>/input/<dataset>/")
    parser.add_argument("--job", action="append", help="run only these jobs (default: all, in pipeline order)")
    args = parser.parse_args(argv)
    jobs = [job for job in registry.in_run_order(registry.present()) if not args.job or job.name in args.job]
    try:
        return run_demo(args.root, jobs)
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
