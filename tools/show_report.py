"""Print where a job's outputs are and a short summary of its run report.

python -m tools.show_report data/output/log_analytics
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summarise(report: dict) -> str:
    """A few lines a person reads. A run that read no input (table maintenance that was not
    due) has no row accounting in its report, and may have written no table."""
    lines = [f"{report['job']} {report['version']} {report['status']} in {report['timings_seconds']['total']}s"]
    if "rows_read" in report:
        lines.append(
            f"  rows read {report['rows_read']:,}: valid {report['rows_valid']:,}, "
            f"quarantined {report['rows_quarantined']:,}"
        )
        for reason, count in report["quarantined_by_reason"].items():
            lines.append(f"    {reason:<24} {count:,}")
    else:
        lines.append("  rows read: none (this run read no input)")
    lines.append("  tables:" if report["tables"] else "  tables: none written")
    for name, table in report["tables"].items():
        lines.append(f"    {name:<18} {table['rows']:>10,} rows  {table['format']:<8} {table['path']}")
    checks = report["validation"]
    passed = sum(1 for suite in checks.values() if suite["success"])
    lines.append(f"  expectation suites passed: {passed}/{len(checks)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    roots = argv if argv is not None else sys.argv[1:]
    for root in roots:
        report_path = Path(root) / "run_report.json"
        if not report_path.exists():
            print(f"show_report: error: no run report at {report_path}", file=sys.stderr)
            return 1
        print(summarise(json.loads(report_path.read_text())))
        print(f"  report: {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
