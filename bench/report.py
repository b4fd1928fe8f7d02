"""The targets of issue 9, judged on ratios from one run, and the one table `make bench` prints."""

from __future__ import annotations

MB = 1024 * 1024


def _target(name: str, measured: str, goal: str, met: bool | None, note: str = "") -> dict:
    return {"target": name, "measured": measured, "goal": goal,
            "status": "not available" if met is None else ("met" if met else "NOT MET"), "note": note}


def evaluate(results: dict) -> list[dict]:
    rows = []
    baseline = results.get("baseline")
    current = results["scenarios"].get("GET current", {})
    if baseline and current.get("available"):
        throughput = current["per_second"] / baseline["per_second"]
        p99 = current["p99_us"] / baseline["p99_us"]
        rows.append(_target("GET current throughput vs baseline", f"{throughput:.0%}", ">= 80%",
                            throughput >= 0.80))
        rows.append(_target("GET current p99 vs baseline", f"{p99:.2f}x", "<= 1.5x", p99 <= 1.5))
    else:
        rows.append(_target("GET current vs baseline", "-", ">= 80%, p99 <= 1.5x", None))

    for name, figures in results.get("decisions", {}).items():
        ours = figures["authserver_ns"]
        label = "default.yaml" if name == "default.yaml" else "generated"
        if name == "default.yaml":
            rows.append(_target(f"decision median, {name}", f"{ours:.0f} ns", "<= 2 us", ours <= 2000))
        else:
            reference = results["decisions"]["default.yaml"]["authserver_ns"]
            rows.append(_target(f"decision median, {name}", f"{ours / reference:.2f}x default.yaml", "<= 1.5x",
                                ours <= 1.5 * reference))
        agree = figures["cedar_disagreements"] == 0 and figures["casbin_disagreements"] == 0
        rows.append(_target(f"cedarpy / authserver ({label})", f"{figures['cedar_ns'] / ours:,.0f}x", ">= 20x",
                            figures["cedar_ns"] / ours >= 20 and agree,
                            "" if agree else "engines disagree on some cells"))
        rows.append(_target(f"pycasbin / authserver ({label})", f"{figures['casbin_ns'] / ours:,.0f}x", ">= 50x",
                            figures["casbin_ns"] / ours >= 50 and agree,
                            "" if agree else "engines disagree on some cells"))

    scale = results.get("scale", {})
    if "small" in scale and "large" in scale:
        small, large = scale["small"], scale["large"]
        p50 = large["p50_us"] / small["p50_us"]
        growth = (large["rss_bytes"] - small["rss_bytes"]) / MB
        rows.append(_target(f"current p50, {large['tokens']:,} vs {small['tokens']:,} tokens", f"{p50:.2f}x",
                            "<= 1.2x", p50 <= 1.2))
        rows.append(_target(f"memory growth, {large['tokens']:,} vs {small['tokens']:,} tokens", f"{growth:+.1f} MB",
                            "< 50 MB", growth < 50))

    create = results.get("create", {})
    if create.get("available"):
        rows.append(_target("token creation, 16 connections", f"{create['errors']} errors, "
                            f"{create['per_second']:.0f} creates/s", "0 errors", create["errors"] == 0))
    else:
        rows.append(_target("token creation, 16 connections", "-", "0 errors", None, create.get("reason", "")))

    storm = results.get("login_storm", {})
    if storm.get("available"):
        ratio = storm["storm"]["p99_us"] / storm["idle"]["p99_us"]
        clean = storm["storm"]["errors"] == 0 and storm["login_failures"] == 0
        rows.append(_target(f"current p99 during {storm['clients']} parallel logins vs idle", f"{ratio:.2f}x",
                            "<= 3x", ratio <= 3 and clean,
                            f"{storm['logins_per_second']:.1f} sign-ins/s" + ("" if clean else "; errors")))
    else:
        rows.append(_target("current p99 during parallel logins vs idle", "-", "<= 3x", None,
                            storm.get("reason", "")))
    return rows


def _format_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[index]) for row in [header] + rows) for index in range(len(header))]
    lines = [_format_row(header, widths), _format_row(["-" * width for width in widths], widths)]
    return lines + [_format_row(row, widths) for row in rows]


def print_table(results: dict) -> None:
    baseline = results.get("baseline")
    rows = []
    if baseline:
        rows.append(["baseline (bare Falcon, same waitress)", f"{baseline['per_second']:,.0f}", "100%",
                     f"{baseline['p50_us']:,}", f"{baseline['p99_us']:,}", "1.00x", str(baseline["errors"])])
    for name, figures in results["scenarios"].items():
        if not figures.get("available"):
            rows.append([name, figures["reason"], "", "", "", "", ""])
            continue
        rows.append([name, f"{figures['per_second']:,.0f}",
                     f"{figures['per_second'] / baseline['per_second']:.0%}" if baseline else "-",
                     f"{figures['p50_us']:,}", f"{figures['p99_us']:,}",
                     f"{figures['p99_us'] / baseline['p99_us']:.2f}x" if baseline else "-", str(figures["errors"])])
    create = results.get("create", {})
    if create.get("available"):
        rows.append(["POST create token (16 connections, 10 s)", f"{create['per_second']:,.0f}",
                     f"{create['per_second'] / baseline['per_second']:.0%}", f"{create['p50_us']:,}",
                     f"{create['p99_us']:,}", f"{create['p99_us'] / baseline['p99_us']:.2f}x", str(create["errors"])])
    storm = results.get("login_storm", {})
    if storm.get("available"):
        for label in ("idle", "storm"):
            figures = storm[label]
            name = "GET current, idle" if label == "idle" else f"GET current, {storm['clients']} clients logging in"
            rows.append([name, f"{figures['per_second']:,.0f}", f"{figures['per_second'] / baseline['per_second']:.0%}",
                         f"{figures['p50_us']:,}", f"{figures['p99_us']:,}",
                         f"{figures['p99_us'] / baseline['p99_us']:.2f}x", str(figures["errors"])])
    for label, figures in results.get("scale", {}).items():
        rows.append([f"GET current, {figures['tokens']:,} tokens, no cache (RSS {figures['rss_bytes'] / MB:.0f} MB)",
                     f"{figures['per_second']:,.0f}", f"{figures['per_second'] / baseline['per_second']:.0%}",
                     f"{figures['p50_us']:,}", f"{figures['p99_us']:,}",
                     f"{figures['p99_us'] / baseline['p99_us']:.2f}x", str(figures["errors"])])
    print()
    print("HTTP (medians of interleaved rounds; absolute numbers are this shared machine's, compare ratios)")
    for line in _table(["scenario", "req/s", "vs base", "p50 us", "p99 us", "p99 vs base", "errors"], rows):
        print(line)
    cpu = results.get("app_cpu")
    if cpu:
        print()
        print(f"App CPU per GET current, in-process without a web server (median of {cpu['rounds']} interleaved rounds): "
              f"baseline {cpu['baseline_cpu_us']:.0f} us, authserver {cpu['authserver_cpu_us']:.0f} us "
              f"({cpu['authserver_cpu_us'] / cpu['baseline_cpu_us']:.1f}x)")
    decision_rows = [[name, f"{f['rules']:,}", f"{f['authserver_ns']:,.0f}", f"{f['cedar_ns']:,.0f}",
                      f"{f['casbin_ns']:,.0f}", f"{f['cedar_disagreements'] + f['casbin_disagreements']}"]
                     for name, f in results.get("decisions", {}).items()]
    if decision_rows:
        print()
        print("Policy decisions (median ns per decision, same run)")
        for line in _table(["policy", "rules", "authserver", "cedarpy", "pycasbin", "disagreements"], decision_rows):
            print(line)
    print()
    print("Targets")
    target_rows = [[row["target"], row["measured"], row["goal"], row["status"], row["note"]]
                   for row in results["targets"]]
    for line in _table(["target", "measured", "goal", "status", "note"], target_rows):
        print(line)
