"""Reading the Markdown docs the way a person does, to check them against the code.

Each job's page (`docs/jobs/<job>.md`) has an `## Arguments` section whose table lists every
option with its default, and a `## Tables` section with one `### \\`<table>\\`` subsection per
output table, each with a `| column | type | ... |` table. The functions here return the
disagreements as sentences naming the page and the option or column, so a failing test says
what to fix.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql.types import StructType

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"

OPTION = re.compile(r"`(--[a-z0-9][a-z0-9-]*)")
LITERAL = re.compile(r"`([^`]+)`")
# Options every job has from JobArgumentParser itself, documented once in the README.
BUILT_IN = {"--help", "--version"}


def job_page(job: str) -> Path:
    return DOCS / "jobs" / f"{job}.md"


def section(text: str, title: str) -> str:
    """The body of the `## <title>` section: up to the next heading of level 1 or 2."""
    match = re.search(rf"^## {re.escape(title)}\s*$", text, flags=re.MULTILINE)
    if not match:
        return ""
    rest = text[match.end() :]
    end = re.search(r"^#{1,2} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def subsections(text: str) -> dict[str, str]:
    """`### <title>` -> its body, up to the next heading of level 3 or less."""
    parts = re.split(r"^### (.+?)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def cells(row: str) -> list[str]:
    """A table row's cells; `\\|` is a literal bar inside a cell."""
    inner = row.strip().removeprefix("|").removesuffix("|")
    return [cell.replace("\\|", "|").strip() for cell in re.split(r"(?<!\\)\|", inner)]


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table outside code blocks: (header cells, body rows' cells)."""
    found: list[tuple[list[str], list[list[str]]]] = []
    block: list[str] = []
    in_code = False
    for line in [*text.splitlines(), ""]:
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            found.append((cells(block[0]), [cells(row) for row in block[2:]]))
        block = []
    return found


def first_table(text: str, first_header: str) -> list[list[str]] | None:
    """The rows of the first table whose first header cell is `first_header`."""
    for header, rows in tables(text):
        if header and header[0].lower() == first_header:
            return rows
    return None


# ── options ──────────────────────────────────────────────────────────────────────────────


def parser_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The long options the parser accepts (what its --help lists), but the built-in ones."""
    return {
        option: action
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option not in BUILT_IN
    }


def _same_value(documented: str, default: object) -> bool:
    if documented == str(default):
        return True
    try:
        return float(documented) == float(default)  # `1` documents 1.0
    except (TypeError, ValueError):
        return False


def default_problem(action: argparse.Action, cell: str) -> str | None:
    """Why a documented default is not the parser's, or None when it is."""
    if action.required:
        return None if cell == "required" else f"is required, documented default {cell!r}"
    if isinstance(action, argparse._StoreTrueAction):
        return None if cell == "off" else f"is a flag (off by default), documented default {cell!r}"
    if action.default is None:
        # No value: the page says in words what happens (e.g. "the latest transaction date").
        return None if cell and cell != "required" else f"is optional, documented default {cell!r}"
    literals = LITERAL.findall(cell)
    if any(_same_value(literal, action.default) for literal in literals):
        return None
    return f"defaults to `{action.default}`, documented default {cell!r}"


def option_problems(page: str, text: str, parser: argparse.ArgumentParser) -> list[str]:
    """Where the page's `## Arguments` table and the parser disagree."""
    rows = first_table(section(text, "Arguments"), "option")
    if rows is None:
        return [f"{page}: no `## Arguments` section with an `| option | default | meaning |` table"]
    documented: dict[str, str] = {}
    for row in rows:
        match = OPTION.match(row[0])
        if match:
            documented[match.group(1)] = row[1] if len(row) > 1 else ""
    actual = parser_options(parser)
    problems = [f"{page}: option {option} is not documented" for option in sorted(actual.keys() - documented)]
    problems += [
        f"{page}: documents option {option}, which {parser.prog} does not have"
        for option in sorted(documented.keys() - actual)
    ]
    for option in sorted(documented.keys() & actual.keys()):
        problem = default_problem(actual[option], documented[option])
        if problem:
            problems.append(f"{page}: option {option} {problem}")
    return problems


# ── columns ──────────────────────────────────────────────────────────────────────────────


def documented_tables(text: str) -> dict[str, list[tuple[str, str]]]:
    """Table name -> its documented (column, type) pairs, from the `## Tables` section."""
    found: dict[str, list[tuple[str, str]]] = {}
    for title, body in subsections(section(text, "Tables")).items():
        name = LITERAL.search(title)
        rows = first_table(body, "column")
        if name and rows is not None:
            found[name.group(1)] = [
                (LITERAL.sub(r"\1", row[0]), LITERAL.sub(r"\1", row[1]).replace(" ", "")) for row in rows
            ]
    return found


def column_problems(page: str, text: str, contracts: Mapping[str, StructType]) -> list[str]:
    """Where the page's `## Tables` and the contracts in schemas/ disagree."""
    documented = documented_tables(text)
    problems = [f"{page}: table {table} is not documented" for table in contracts if table not in documented]
    problems += [
        f"{page}: documents table {table}, which the job does not write"
        for table in documented
        if table not in contracts
    ]
    for table in contracts.keys() & documented.keys():
        problems += table_problems(f"{page}: table {table}", documented[table], contracts[table])
    return problems


def table_problems(where: str, documented: list[tuple[str, str]], schema: StructType) -> list[str]:
    """One table's documented (column, type) pairs against its contract."""
    doc = dict(documented)
    contract = {field.name: field.dataType.simpleString() for field in schema.fields}
    problems = [f"{where}: column {c} ({t}) is not documented" for c, t in contract.items() if c not in doc]
    problems += [f"{where}: documents column {c}, which schemas/ does not have" for c in doc if c not in contract]
    problems += [
        f"{where}: column {c} is documented as {doc[c]}, schemas/ says {t}"
        for c, t in contract.items()
        if c in doc and doc[c] != t
    ]
    if not problems and [c for c, _ in documented] != list(contract):
        problems.append(f"{where}: columns documented in another order than schemas/ has them")
    return problems


# ── links ────────────────────────────────────────────────────────────────────────────────

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"^#{1,6} (.+)$", line)):
            found.add(github_anchor(match.group(1)))
    return found


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` whose file or heading does not exist."""
    text = page.read_text()
    problems = []
    for target in LINK.findall(re.sub(r"```.*?```", "", text, flags=re.DOTALL)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(REPO_ROOT)}: link {target}"
        if not linked.exists():
            problems.append(f"{where}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            problems.append(f"{where}: no such heading")
    return problems
