"""`bench/soak.py --plot DATA.json`: RSS, fds, greenlets and probe latency over time, one
panel each, as a PNG (matplotlib, needed only here)."""
import json

from soak.invariants import rss_levels


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
    reference = data.get("rss_reference")
    if reference:  # what the invariant allows: up to 4 MiB above wave 1's levels
        levels = sorted(rss_levels(samples).items())
        axes[0].step([m - 1 for m, _ in levels], [v / 2 ** 20 for _, v in levels], where="post",
                     color="tab:purple", lw=1.2, label="level per minute (p10)")
        for key, color, what in (("load_rss", "tab:blue", "under load"), ("rss", "tab:green", "at rest")):
            level = reference[key] / 2 ** 20
            axes[0].axhspan(level, level + 4, color=color, alpha=0.1, label=f"wave 1 {what} + 4 MiB")
        axes[0].legend(loc="lower right", fontsize="small")
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
