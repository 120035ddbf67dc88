#!/usr/bin/env python3
"""Unit tests of the harness's logic (no server, no generator):

    python3 bench/test_harness.py
"""

import json
import sys
import tempfile
import unittest
from pathlib import Path

# No __pycache__ beside the sources of a checkout.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bounded_report  # noqa: E402
import repeats  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import scenarios  # noqa: E402
from servers import ServerSpec  # noqa: E402


def fanout_result(delivered_per_sec, **extra):
    result = {"scenario": "fanout", "delivered_per_sec": delivered_per_sec, "p50_us": 100.0, "p99_us": 900.0,
              "p999_us": 5000.0, "max_us": 9000.0, "stalls": 0, "longest_stall_ms": 2.5,
              "server_cpu_ms": 500.0, "server_cpu_pct": 50.0, "server_cpu_per_delivered_us": 0.25,
              "client_cpu_ms": 700.0, "client_cpu_pct": 70.0, "client_busiest_cpu_pct": 60.0,
              "delivered": 1000, "lost": 0, "server_peak_rss_kib": 6000}
    result.update(extra)
    return result


def record(server, key, rep, result=None, **extra):
    return {"server": server, "scenario": key, "kind": "fanout", "args": ["--window", "16"], "rep": rep,
            "result": result, **extra}


class Repeats(unittest.TestCase):
    def test_medians_spread_and_failed_runs(self):
        runs = [
            record("wsrelay", "s", 1, {"x": 3, "p": None, "ok": True, "scenario": "fanout"}),
            record("wsrelay", "s", 2, {"x": 1, "p": 2.0, "ok": True, "scenario": "fanout"}),
            record("wsrelay", "s", 3, {"x": 2, "p": 4.0, "ok": False, "scenario": "fanout"}),
            record("wsrelay", "s", 4, None, error="boom"),
        ]
        folded = repeats.fold(runs)
        self.assertEqual(folded["result"]["x"], 2)
        self.assertEqual(folded["spread"]["x"], (1, 3))
        self.assertEqual(folded["result"]["p"], 3.0)
        self.assertIs(folded["result"]["ok"], True)  # not a figure: taken from the first run
        self.assertEqual((folded["runs"], folded["ok_runs"], folded["failed_runs"]), (4, 3, ["boom"]))
        self.assertNotIn("error", folded)
        self.assertEqual(repeats.spread(folded, "x"), (1, 3))
        self.assertIsNone(repeats.spread(folded, "missing"))

    def test_all_failed_or_single(self):
        failed = repeats.fold([record("uws", "s", 1, None, error="boom")])
        self.assertEqual((failed["error"], failed["ok_runs"]), ("boom", 0))
        single = repeats.fold([record("uws", "s", 1, {"x": 5})])
        self.assertEqual(single["result"]["x"], 5)
        self.assertIsNone(repeats.spread(single, "x"))


class Plans(unittest.TestCase):
    def test_bounded_keys_and_repeats(self):
        full = {scenario.key: scenario for scenario in scenarios.full_plan()}
        bounded = [key for key in full if scenarios.is_bounded(key)]
        self.assertEqual(bounded, ["idle-9000-c64", "fanout-w16-100", "fanout-w16-1000", "fanout-w16-5000",
                                   "steady-100x200"])
        self.assertTrue(all(full[key].repeat == 3 for key in bounded))
        self.assertTrue(all(full[key].repeat == 1 for key in full if key not in bounded))
        for key in ("idle-19000", "fanout-100", "rate-1000x50", "tls-fanout-1000", "fanout-json-deflate-1000"):
            self.assertFalse(scenarios.is_bounded(key), key)
        args = full["fanout-w16-1000"].args
        for flag, value in (("--window", "16"), ("--procs", "1"), ("--size", "64"), ("--duration", "10s")):
            self.assertEqual(args[args.index(flag) + 1], value, flag)
        steady = full["steady-100x200"].args
        self.assertEqual(steady[steady.index("--messages") + 1], "6000")
        idle = full["idle-9000-c64"].args
        self.assertEqual(idle[idle.index("--concurrency") + 1], "64")
        quick = [scenario.key for scenario in scenarios.quick_plan() if scenarios.is_bounded(scenario.key)]
        self.assertEqual(quick, ["idle-2000-c64", "fanout-w16-100", "steady-100x50"])

    def test_runs_are_interleaved(self):
        plan = [scenarios.bounded_fanout(100, 2, repeat=2), scenarios.fanout(100, 2)]
        specs = [ServerSpec("wsrelay", "wsrelay", []), ServerSpec("uws", "uWS.js", [])]
        order = [(scenario.key, rep, spec.name) for scenario, rep, spec in run.interleaved(plan, specs)]
        self.assertEqual(order, [
            ("fanout-w16-100", 1, "wsrelay"), ("fanout-w16-100", 1, "uws"),
            ("fanout-w16-100", 2, "wsrelay"), ("fanout-w16-100", 2, "uws"),
            ("fanout-100", 1, "wsrelay"), ("fanout-100", 1, "uws"),
        ])
        order = [(scenario.key, rep) for scenario, rep, _ in run.interleaved(plan, specs[:1], repeat=3)]
        self.assertEqual(order, [("fanout-w16-100", 1), ("fanout-w16-100", 2), ("fanout-w16-100", 3),
                                 ("fanout-100", 1), ("fanout-100", 2), ("fanout-100", 3)])


SERVERS = [{"name": "wsrelay", "label": "wsrelay"}, {"name": "uws", "label": "uWebSockets.js"}]


class BoundedReport(unittest.TestCase):
    def table(self):
        records = [
            record("wsrelay", "fanout-w16-100", 1, fanout_result(800.0)),
            record("uws", "fanout-w16-100", 1, fanout_result(1000.0, client_busiest_cpu_pct=97.0)),
            record("wsrelay", "fanout-w16-100", 2, fanout_result(600.0, stalls=2, longest_stall_ms=77.0)),
            record("uws", "fanout-w16-100", 2, fanout_result(1000.0, client_busiest_cpu_pct=99.0)),
        ]
        return records, repeats.folded(records)

    def test_ratio_and_generator_bound(self):
        _, table = self.table()
        by_server = table["fanout-w16-100"]
        self.assertEqual(bounded_report.ratio_cell(by_server, "delivered_per_sec", 0), "0.70× (700 / 1,000)")
        self.assertTrue(bounded_report.generator_bound(by_server["uws"]))
        self.assertFalse(bounded_report.generator_bound(by_server["wsrelay"]))
        self.assertIn("generator-bound: uWebSockets.js (98 %)",
                      bounded_report.ratio_table(["fanout-w16-100"], table, SERVERS))

    def test_markdown_shows_medians_spread_and_stalls(self):
        _, table = self.table()
        meta = {"repeats": {"fanout-w16-100": 2}}
        text = bounded_report.markdown(meta, table, ["fanout-w16-100"], SERVERS, lambda key: "--window 16")
        self.assertIn("## Bounded window (window 16, one generator process)", text)
        self.assertIn("### wsrelay ÷ uWebSockets.js", text)
        self.assertIn("| wsrelay | 700 (600–800) |", text)
        self.assertIn("| 1 (0–2) | 39.8 (2.5–77.0) |", text)
        self.assertIn("ok (2 runs)", text)
        self.assertIn("Fan-out, window 16: 100 subscribers in one generator process", text)
        # The columns that do not apply to a fan-out stay empty.
        row = next(line for line in text.splitlines() if line.startswith("| `fanout-w16-100`"))
        self.assertEqual(row.split(" | ")[1], "")
        self.assertEqual(row.split(" | ")[4], "")

    def test_titles(self):
        self.assertEqual(bounded_report._title("idle-9000-c64"),
                         "Idle: 9,000 connections from one generator process, 64 handshakes in flight")
        self.assertTrue(bounded_report._title("steady-100x200").startswith(
            "Steady load: 200 msg/s to 100 subscribers (20,000 deliveries/s)"))


class WholeReport(unittest.TestCase):
    def test_both_regimes_and_raw_lines(self):
        records = [
            record("wsrelay", "fanout-100", 1, fanout_result(2e6)),
            record("uws", "fanout-100", 1, fanout_result(1e6)),
            record("wsrelay", "steady-100x50", 1, fanout_result(5000.0)),
            record("uws", "steady-100x50", 1, None, error="generator exited with 1"),
        ]
        meta = {"date": "today", "command": "bench/run.sh", "cpu": "cpu", "cores": 2, "memory_gib": 1,
                "kernel": "6", "fd_limit": 20000, "servers": SERVERS, "scenarios": ["fanout-100", "steady-100x50"],
                "repeats": {"fanout-100": 1, "steady-100x50": 1},
                "versions": {key: "v" for key in ("wsrelay", "rustc", "node", "ws", "express", "uws",
                                                   "tokio-tungstenite", "tokio")}}
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "benchmarks.md"
            report.write_markdown(path, meta, records, None)
            text = path.read_text()
        deep = text.index("## Deep pipeline (window 64, several generator processes)")
        bounded = text.index("## Bounded window (window 16, one generator process)")
        self.assertLess(deep, text.index("### Fan-out at full speed: 100 subscribers"))
        self.assertLess(text.index("### Fan-out at full speed: 100 subscribers"), bounded)
        self.assertIn("failed: generator exited with 1", text)
        self.assertIn(f"\nwsrelay: {json.dumps(fanout_result(2e6))}", text)
        self.assertIn("| p99.9 µs |", text)


if __name__ == "__main__":
    unittest.main()
