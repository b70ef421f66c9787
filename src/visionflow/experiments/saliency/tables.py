"""The original's final LaTeX tables (`stages/tables.py:Tables`) from the evaluation sets'
CC/KL results: table1 (tasks x chosen sets) and table2 (every set, grouped, x tasks)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

# The original's row order of the ten KDSalBox teachers; other tasks follow in config order.
TEACHER_ORDER = ("AIM", "IKN", "GBVS", "BMS", "IMSIG", "RARE2012", "SUN", "UniSal", "SAM", "DGII")


def table_order(tasks: Sequence[str]) -> list[str]:
    """`tasks` in the original's teacher order, then any others as given."""
    return [t for t in TEACHER_ORDER if t in tasks] + [t for t in tasks if t not in TEACHER_ORDER]


def _cell(result: pd.DataFrame, task: str, metric: str) -> str:
    row = result.set_index("Model").loc[task]
    return f"\\makebox{{{row[f'{metric}_mean']:.2f} $\\pm$ {row[f'{metric}_std']:.2f}}}"


def _tabular(columns: int, header: list[str], body: list[str]) -> str:
    lines = ["\\begin{table}", "\\resizebox{\\textwidth}{!}{%"]
    lines += [f"   \\begin{{tabular}}{{{'c' * columns}}}", "      \\toprule"]
    lines += ["      " + line for line in header] + ["      \\midrule"]
    lines += ["      " + line for line in body]
    return "\n".join([*lines, "      \\bottomrule", "   \\end{tabular}", "}", "\\end{table}", ""])


def table1(results: dict[str, pd.DataFrame], sets: Sequence[str], tasks: Sequence[str]) -> str:
    """One row per task, CC and KL (mean +- std) of each of `sets` (the original's SALICON and
    CAT2000 Pattern columns; its codebase, size and CPU-time columns are not rebuilt)."""
    header = [" & ".join(["Model", *(f"\\multicolumn{{2}}{{c}}{{{s}}}" for s in sets)]) + " \\\\"]
    header.append(" & ".join(["", *(["CC $\\uparrow$", "KL $\\downarrow$"] * len(sets))]) + " \\\\")
    body = [
        " & ".join([task, *(_cell(results[s], task, m) for s in sets for m in ("CC", "KL"))])
        + " \\\\"
        for task in table_order(tasks)
    ]
    return _tabular(1 + 2 * len(sets), header, body)


def table2(
    results: dict[str, pd.DataFrame], groups: dict[str, list[str]], tasks: Sequence[str]
) -> str:
    """Per set two rows, CC and KL (mean +- std) of every task, sets under their group
    (the original's CAT2000 categories and UMSI types)."""
    order = table_order(tasks)
    header = [" & ".join(["Dataset", "Metric", *order]) + " \\\\"]
    body = []
    for group, sets in groups.items():
        body += [f"{group} \\\\", "\\midrule"]
        for name in sets:
            for metric, label in (("CC", "CC $\\uparrow$"), ("KL", "KL $\\downarrow$")):
                first = f"\\multirow{{2}}{{*}}{{{name}}}" if metric == "CC" else ""
                cells = [_cell(results[name], task, metric) for task in order]
                body.append(" & ".join([first, label, *cells]) + " \\\\")
    return _tabular(2 + len(order), header, body)
