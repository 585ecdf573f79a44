"""The report's plots: matplotlib's SVG output (text kept as text, no font or image embedded or fetched), made safe to
inline in one HTML page.

Every drawn mark carries ``class="mark"`` and ``data-series`` so the browser tests can count them: a matplotlib
``gid`` of ``s.<series>`` on a collection or a line marks each of its points, ``m.<series>.<n>`` marks one patch
(a bar, a fault's interval, a percentile line). Ids are prefixed per plot, so several SVGs share a page without
clashing, and every reference stays inside its own SVG (``#id``): ``check_inline`` refuses anything else.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

RC = {"svg.fonttype": "none", "svg.hashsalt": "aimemory-report", "text.parse_math": False, "text.usetex": False,
      "font.size": 9, "axes.titlesize": 10, "figure.dpi": 72, "path.simplify": False,
      "axes.spines.top": False, "axes.spines.right": False}
OK, FAILED, NEVER = "#2a8a3e", "#c0392b", "#7f3fbf"
FAULT_COLOURS = {"stop": "#e67e22", "kill": "#c0392b", "pause": "#8e44ad", "partition": "#2980b9",
                 "skew": "#16a085"}
NODE_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
_URL = re.compile(r"url\(#([^)]+)\)")


def _label(text: Any) -> str:
    """Text from the evidence as a matplotlib label: plain text (mathtext is off), bounded."""
    return str(text)[:80]


def _log(ax: Any, which: str) -> None:
    """A log axis labelled in plain text (its default labels are mathtext, which is off: evidence text is never
    parsed as math)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _svg(fig: Figure, prefix: str, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return inline(buf.getvalue(), prefix, title)


def inline(svg_text: str, prefix: str, title: str) -> str:
    """matplotlib's SVG document as an element for an HTML page: no XML prolog or DOCTYPE, ids prefixed, gids made
    into mark classes, sized by its viewBox, titled for screen readers."""
    root = ET.fromstring(svg_text)
    for el in root.iter():
        gid = el.get("id") or ""
        if gid.startswith("s."):
            series = gid[2:]
            el.set("data-series", series)
            for child in _drawn(el):
                child.set("class", "mark")
                child.set("data-series", series)
        elif gid.startswith("m."):
            series = gid[2:].rsplit(".", 1)[0]
            el.set("class", "mark")
            el.set("data-series", series)
        if el.get("id"):
            el.set("id", f"{prefix}-{el.get('id')}")
        href = el.get(f"{{{XLINK_NS}}}href") or el.get("href")
        if href is not None:
            if not href.startswith("#"):
                raise ValueError(f"plot {prefix}: a reference out of the SVG: {href!r}")
            key = f"{{{XLINK_NS}}}href" if el.get(f"{{{XLINK_NS}}}href") is not None else "href"
            el.set(key, f"#{prefix}-{href[1:]}")
        for name, value in list(el.attrib.items()):
            if "url(" in value:
                el.set(name, _URL.sub(lambda m: f"url(#{prefix}-{m.group(1)})", value))
    for size in ("width", "height"):
        root.attrib.pop(size, None)
    root.set("role", "img")
    root.set("aria-label", title)
    root.set("class", "plot-svg")
    text = ET.tostring(root, encoding="unicode")
    check_inline(text)
    return text


def _drawn(group: ET.Element) -> list[ET.Element]:
    """The drawn points of a collection or line group: ``use`` and ``path`` elements outside ``defs``."""
    out: list[ET.Element] = []

    def walk(el: ET.Element) -> None:
        for child in el:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "defs":
                continue
            if tag in ("use", "path"):
                out.append(child)
            walk(child)

    walk(group)
    return out


FORBIDDEN = ("<script", "<image", "<foreignObject", "@import", "javascript:", "<iframe", "<link")


def check_inline(svg_text: str) -> None:
    """Refuse an SVG that could fetch or run anything: every reference is ``#id``, no script, image or import."""
    lowered = svg_text.lower()
    for bad in FORBIDDEN:
        if bad.lower() in lowered:
            raise ValueError(f"an inline SVG holds {bad!r}")
    for ref in re.findall(r'(?:href|src)\s*=\s*"([^"]*)"', svg_text):
        if not ref.startswith("#"):
            raise ValueError(f"an inline SVG refers out of itself: {ref!r}")
    for ref in re.findall(r"url\(([^)]*)\)", svg_text):
        if not ref.startswith("#"):
            raise ValueError(f"an inline SVG refers out of itself: url({ref})")


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def latency(data: dict[str, Any], prefix: str, check: str) -> str:
    """Histogram of the latencies (acknowledged and not) with the acknowledged percentiles, and every write's
    latency over the check's time."""
    with matplotlib.rc_context(RC):
        fig, (hist_ax, time_ax) = _figure(10, 3.4, 2)
        edges = data["histogram"]["edges_ms"]
        series = (("acknowledged", OK, "acknowledged"), ("not_acknowledged", FAILED, "not acknowledged"))
        for key, colour, label in series:
            counts = data["histogram"][key]
            drawn = False
            for i, n in enumerate(counts):
                if n:
                    hist_ax.bar(edges[i], n, width=edges[i + 1] - edges[i], align="edge", color=colour, alpha=0.6,
                                edgecolor=colour, gid=f"m.hist-{key}.{i}", label=None if drawn else label)
                    drawn = True
        for i, (pct, style) in enumerate((("p50", ":"), ("p90", "--"), ("p99", "-"))):
            value = data["acknowledged"][pct]
            if value is not None:
                hist_ax.axvline(value, color="#333", linestyle=style, linewidth=1, gid=f"m.percentile.{i}",
                                label=f"{pct} {value:g} ms")
        _log(hist_ax, "x")
        hist_ax.set_xlabel("latency (ms, log scale)")
        hist_ax.set_ylabel("operations")
        hist_ax.set_title("latency histogram")
        hist_ax.legend(fontsize=7, loc="upper right")
        rows = data["rows"]
        for key, colour, label, pick in (("write-ok", OK, "acknowledged", lambda r: r["outcome"] == "ok"),
                                         ("write-failed", FAILED, "fail / unknown", lambda r: r["outcome"] != "ok")):
            chosen = [r for r in rows if pick(r)]
            if chosen:
                time_ax.plot([r["t_s"] for r in chosen], [max(r["ms"], 0.01) for r in chosen], linestyle="none",
                             marker="o", markersize=2.5, color=colour, alpha=0.7, gid=f"s.{key}",
                             label=f"{label} ({len(chosen)})")
        _log(time_ax, "y")
        time_ax.set_xlabel("time since the check's first op (s)")
        time_ax.set_ylabel("latency (ms, log scale)")
        time_ax.set_title("every write, update and delete")
        time_ax.legend(fontsize=7, loc="upper right")
        return _svg(fig, prefix, f"{check}: write latency")


def convergence(data: dict[str, Any], prefix: str, check: str) -> str:
    """Per write (by its acknowledgement time) and per node, the time until the node was seen holding it; per node
    the cumulative share of writes seen by a given time."""
    with matplotlib.rc_context(RC):
        fig, (scatter_ax, cdf_ax) = _figure(10, 3.4, 2)
        rows = data["rows"]
        seen = [r["ms"] for r in rows if r["ms"] is not None]
        top = max(seen, default=1.0) * 1.5
        for k, node in enumerate(data["nodes"]):
            mine = [r for r in rows if r["node"] == node and r["ms"] is not None]
            colour = NODE_COLOURS[k % len(NODE_COLOURS)]
            if mine:
                scatter_ax.plot([r["acked_s"] for r in mine], [max(r["ms"], 0.1) for r in mine], linestyle="none",
                                marker="o", markersize=2.5, alpha=0.6, color=colour, gid=f"s.converge-{k}",
                                label=_label(node))
                ordered = sorted(r["ms"] for r in mine)
                total = sum(1 for r in rows if r["node"] == node)  # never-seen writes keep the curve below 1
                share = [(i + 1) / total for i in range(len(ordered))]
                cdf_ax.step([max(v, 0.1) for v in ordered], share, where="post", color=colour,
                            gid=f"m.cdf.{k}", label=_label(node))
        never = [r for r in rows if r["ms"] is None]
        if never:
            scatter_ax.plot([r["acked_s"] for r in never], [top] * len(never), linestyle="none", marker="x",
                            markersize=4, color=NEVER, gid="s.converge-never", label=f"never seen ({len(never)})")
        _log(scatter_ax, "y")
        scatter_ax.set_xlabel("acknowledged at (s since the check's first op)")
        scatter_ax.set_ylabel("until seen on the node (ms, log)")
        scatter_ax.set_title("time to converge, per write and node")
        scatter_ax.legend(fontsize=7, loc="lower right")
        _log(cdf_ax, "x")
        cdf_ax.set_ylim(0, 1.02)
        cdf_ax.set_xlabel("ms after the acknowledgement (log)")
        cdf_ax.set_ylabel("share of acknowledged writes seen")
        cdf_ax.set_title("per node")
        cdf_ax.legend(fontsize=7, loc="lower right")
        return _svg(fig, prefix, f"{check}: time to converge")


def faults(data: dict[str, Any], prefix: str, check: str) -> str:
    """One lane per node: every fault from injection to heal, the client operations on the node that led them
    (acknowledged or not), and the marks of chaos cycles."""
    with matplotlib.rc_context(RC):
        lanes = data["lanes"] or ["(all)"]
        fig, ax = _figure(10, 0.9 + 0.55 * len(lanes))
        y = {lane: i for i, lane in enumerate(lanes)}
        for i, entry in enumerate(data["intervals"]):
            lane = y.get(entry["node"], 0)
            start = entry["start_s"] or 0.0
            width = max((entry["end_s"] or start) - start, 0.05)
            colour = FAULT_COLOURS.get(entry["fault"], "#555")
            ax.broken_barh([(start, width)], (lane - 0.4, 0.8), facecolors=colour, alpha=0.25, edgecolor=colour,
                           hatch=None if entry["healed"] else "//", gid=f"m.fault.{i}")
            hit = entry["ops_during"]
            ax.text(start, lane + 0.28, _label(f"{entry['fault']}{'' if entry['healed'] else ' (never healed)'}"
                                               f" {hit['ok']} ok / {hit['fail'] + hit['info']} not"),
                    fontsize=7, color=colour, va="center")
        for key, colour, pick in (("op-ok", OK, lambda c: c["outcome"] == "ok"),
                                  ("op-failed", FAILED, lambda c: c["outcome"] != "ok")):
            chosen = [c for c in data["client_ops"] if pick(c) and c["node"] in y and c["t_s"] is not None]
            if chosen:
                ax.plot([c["t_s"] for c in chosen], [y[c["node"]] - 0.1 for c in chosen], linestyle="none",
                        marker="|", markersize=6, color=colour, alpha=0.6, gid=f"s.{key}",
                        label=f"{'acknowledged' if key == 'op-ok' else 'fail / unknown'} ({len(chosen)})")
        for i, mark in enumerate(data["marks"]):
            if mark["t_s"] is not None:
                ax.axvline(mark["t_s"], color="#999" if mark["f"] == "cycle" else FAILED, linewidth=0.8,
                           linestyle=":", gid=f"m.event-{mark['f']}.{i}")
        ax.set_yticks(range(len(lanes)), [_label(lane) for lane in lanes])
        ax.set_ylim(-0.6, len(lanes) - 0.4)
        ax.set_xlim(0, max(data["end_s"] or 1.0, 1.0))
        ax.set_xlabel("time since the check's first op (s)")
        ax.set_title("faults (injected → healed) and the operations they hit")
        if data["client_ops"]:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig, prefix, f"{check}: fault timeline")


def bounds(data: dict[str, Any], prefix: str, check: str) -> str:
    """Per chaos class, the convergence bound of each cycle (min over nodes of acknowledged writes present /
    acknowledged) against the judged threshold (1.0) and the ship-gate's (0.995)."""
    with matplotlib.rc_context(RC):
        fig, ax = _figure(10, 3.2)
        x, labels, k = 0, [], 0
        lowest, failed_label = 1.0, False
        for c_index, (klass, entry) in enumerate(data["classes"].items()):
            colour = NODE_COLOURS[c_index % len(NODE_COLOURS)]
            for cyc in entry["cycles"]:
                bound = cyc["bound"] if cyc["bound"] is not None else 0.0
                lowest = min(lowest, bound)
                ax.bar(x, bound, color=colour, alpha=0.8, gid=f"m.bound.{k}", hatch=None if cyc["pass"] else "xx",
                       edgecolor=None if cyc["pass"] else FAILED, linewidth=0 if cyc["pass"] else 1.5,
                       label=None if cyc["pass"] or failed_label else "cycle red (hatched)")
                failed_label = failed_label or not cyc["pass"]
                ax.text(x, bound, f"{cyc['min_present']}/{cyc['acknowledged']}", ha="center", va="bottom",
                        fontsize=6)
                labels.append(_label(f"{klass.split('_')[0]} {cyc['cycle']}"))
                x += 1
                k += 1
            x += 0.5
        ax.axhline(1.0, color="#333", linewidth=1, label="judged: 1.0")
        ax.axhline(0.995, color="#333", linewidth=1, linestyle="--", label="ship-gate: 0.995")
        positions = list(_positions(data))
        ax.set_xticks(positions, labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylim(max(0.0, min(0.98, lowest - 0.02)), 1.01)
        ax.set_ylabel("min present / acknowledged")
        ax.set_title("convergence bound per cycle (numbers: min present / acknowledged)")
        ax.legend(fontsize=7, loc="lower right")
        return _svg(fig, prefix, f"{check}: convergence bound per cycle")


def _positions(data: dict[str, Any]) -> list[float]:
    out, x = [], 0.0
    for entry in data["classes"].values():
        for _cycle in entry["cycles"]:
            out.append(x)
            x += 1
        x += 0.5
    return out


RENDER = {"latency": latency, "convergence": convergence, "faults": faults, "bounds": bounds}
TITLES = {"latency": "Write latency", "convergence": "Time to converge", "faults": "Fault timeline",
          "bounds": "Convergence bound per cycle"}


def expected_marks(plot: str, data: dict[str, Any]) -> dict[str, int]:
    """How many marks of each series a plot of ``data`` draws (what the browser tests count in the DOM)."""
    if plot == "latency":
        rows = data["rows"]
        return {"write-ok": sum(1 for r in rows if r["outcome"] == "ok"),
                "write-failed": sum(1 for r in rows if r["outcome"] != "ok")}
    if plot == "convergence":
        out = {f"converge-{k}": sum(1 for r in data["rows"] if r["node"] == n and r["ms"] is not None)
               for k, n in enumerate(data["nodes"])}
        out["converge-never"] = sum(1 for r in data["rows"] if r["ms"] is None)
        return out
    if plot == "faults":
        return {"fault": len(data["intervals"])}
    if plot == "bounds":
        return {"bound": sum(len(e["cycles"]) for e in data["classes"].values())}
    raise KeyError(plot)
