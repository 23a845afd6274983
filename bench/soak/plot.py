"""`bench/soak.py --plot DATA.json`: RSS, fds, greenlets and probe latency over time, one
panel each, as a PNG (matplotlib, needed only here)."""
import json


def plot(data_path, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(data_path) as f:
        data = json.load(f)
    samples, probes = data["samples"], data["probes"]
    t = [s["t"] / 60 for s in samples]
    fig, axes = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
    axes[0].plot(t, [s["rss"] / 2 ** 20 for s in samples], color="tab:blue")
    minute1 = sorted(s["rss"] for s in samples if 50 <= s["t"] < 70)  # as invariants.minute1_level
    if minute1 and t[-1] > 1:  # the band the invariant allows: minute 1's level +- 4 MiB
        level = minute1[len(minute1) // 2] / 2 ** 20
        axes[0].axhspan(level - 4, level + 4, xmin=0, color="tab:blue", alpha=0.1, label="RSS at 1 min +- 4 MiB")
        axes[0].legend(loc="lower right")
    axes[0].set_ylabel("RSS (MiB)")
    axes[1].plot(t, [s["fds"] for s in samples], color="tab:orange", label="open fds")
    axes[1].plot(t, [s["clients"] for s in samples], color="tab:gray", lw=0.8, label="soak clients")
    axes[1].set_ylabel("fds / clients")
    axes[1].legend(loc="upper right")
    gl = [(s["t"] / 60, s["greenlets"]) for s in samples if s["greenlets"] is not None]
    axes[2].plot([a for a, _ in gl], [b for _, b in gl], color="tab:green")
    axes[2].set_ylabel("greenlets")
    axes[3].plot([p[0] / 60 for p in probes], [p[1] * 1000 for p in probes], ".", ms=1.5, color="tab:red")
    axes[3].set_yscale("log")
    axes[3].axhline(1000, color="black", lw=0.6, ls="--", label="1 s: a stall")
    axes[3].legend(loc="upper right")
    axes[3].set_ylabel("probe latency (ms)")
    axes[3].set_xlabel("minutes")
    passed = sum(1 for i in data["invariants"] if i["ok"])
    fig.suptitle(f"agentdeck soak: {passed}/{len(data['invariants'])} invariants passed")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    return png_path
