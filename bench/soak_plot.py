"""Plots a soak's samples (`wsrelay bench soak --samples FILE`): the relay's
RSS against its bound, and its descriptors, over time.

    bench/.venv/bin/python bench/soak_plot.py target/soak/samples.csv docs/reliability.png
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MIB = 1024 * 1024


def main(samples_path, image_path):
    with open(samples_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{samples_path}: no samples")
    t = [float(r["t_s"]) for r in rows]
    rss = [int(r["rss_bytes"]) / MIB for r in rows]
    bound = [int(r["rss_bound_bytes"]) / MIB for r in rows]
    fds = [int(r["fds"]) for r in rows]
    clients = [int(r["healthy_clients"]) for r in rows]

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(t, rss, color="#d62728", label="relay RSS")
    top.plot(t, bound, color="#555555", linestyle="--", label="bound")
    top.set_ylabel("MiB")
    top.set_ylim(0, max(bound) * 1.1)
    top.legend(loc="center right")
    top.set_title("wsrelay under the soak: 2,000 healthy clients and 12 kinds of adversaries")
    bottom.plot(t, fds, color="#1f77b4", label="relay descriptors")
    bottom.plot(t, clients, color="#2ca02c", linestyle=":", label="healthy clients open")
    bottom.set_ylabel("count")
    bottom.set_xlabel("seconds since the load began")
    bottom.set_ylim(0, max(fds) * 1.15)
    bottom.legend(loc="lower right")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(image_path, dpi=100)
    print(f"wrote {image_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
