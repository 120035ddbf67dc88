"""Repetitions of one scenario on one server, folded into one record.

`bench/run.py --repeat K` runs every (scenario, server) pair K times, the
servers interleaved within each repetition; each record carries `rep`. The
report shows, for each pair, the median of the runs that succeeded, and the
spread (min–max) of every figure.
"""

from statistics import median


def _numeric(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ok(record):
    return "error" not in record and "skipped" not in record and record.get("result")


def fold(runs):
    """One record for the runs of one (scenario, server), in run order.

    - none succeeded: the first run's record (its error or skip stands);
    - else: `result` holds each figure's median over the successful runs
      (other values from the first of them), `spread` each figure's
      (min, max), `failed_runs` the errors of the others;
    - `runs` and `ok_runs` count them.
    """
    good = [run for run in runs if _ok(run)]
    if not good:
        folded = dict(runs[0])
        folded.update(runs=len(runs), ok_runs=0)
        return folded
    results = [run["result"] for run in good]
    merged, spread = dict(results[0]), {}
    for field in results[0]:
        values = [result.get(field) for result in results]
        values = [value for value in values if _numeric(value)]
        if values:
            merged[field] = median(values)
            spread[field] = (min(values), max(values))
    folded = {key: value for key, value in good[0].items() if key not in ("rep", "error")}
    folded.update(result=merged, spread=spread, runs=len(runs), ok_runs=len(good))
    failed = [run["error"] for run in runs if "error" in run]
    if failed:
        folded["failed_runs"] = failed
    return folded


def grouped(records):
    """{scenario key: {server: [records in run order]}}"""
    table = {}
    for record in records:
        table.setdefault(record["scenario"], {}).setdefault(record["server"], []).append(record)
    return table


def folded(records):
    """{scenario key: {server: folded record}}"""
    return {key: {server: fold(runs) for server, runs in by_server.items()}
            for key, by_server in grouped(records).items()}


def spread(record, field):
    """(min, max) of a figure over the successful runs, or None."""
    if record is None or record.get("ok_runs", 1) < 2:
        return None
    return (record.get("spread") or {}).get(field)
