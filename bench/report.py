#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""bench/report.py RAW OUTDIR: bench/run's raw samples (one JSON object a line)
to OUTDIR/results.json (every figure) and OUTDIR/RESULTS.md (tables, DESIGN.md
section 9 targets, the default-mode recommendation). Standard library only."""
import json
import math
import statistics
import sys
from collections import defaultdict

MS = 1e6  # ns per ms


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def dist(values):
    if not values:
        return None
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90),
            "p99": pct(values, 99), "max": max(values)}


def fmt(x, nd=1):
    return "n/a" if x is None else f"{x:.{nd}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def load(path):
    by = defaultdict(list)
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                print(f"report.py: skipping a malformed sample: {line[:120]}", file=sys.stderr)
                continue
            by[r["section"]].append(r)
    return by


REACTION_ROWS = ("memshed defaults", "memshed host", "earlyoom", "nohang", "memshed tracepoint",
                 "memshed defaults-pressured")


def reaction(by):
    ms, early, missed, nocross = defaultdict(list), defaultdict(int), defaultdict(int), defaultdict(int)
    budget, detect = defaultdict(list), defaultdict(list)
    to_unload, unload_term = defaultdict(list), defaultdict(list)
    # Another checkout's bench/run on the host (its growers and killers act on the same
    # MemAvailable; its earlyoom may pick this run's victim): those repetitions are left out.
    foreign = [r["start_ns"] for r in by["concurrent"]]
    concurrent = defaultdict(int)
    for r in by["reaction"]:
        tool = r["tool"] if r["tool"] != "memshed" else f"memshed {r.get('variant', 'defaults')}"
        last = max(r["cross"] or 0, r["term"] or 0)
        if r.get("other_benches") or any(last >= t for t in foreign):
            concurrent[tool] += 1
            continue
        if r["cross"] is None:
            nocross[tool] += 1      # the grower found the line passed already: no sample
            continue
        if r["term"] is None:
            missed[tool] += 1       # crossed, and no SIGTERM within wait_s: unseen
            continue
        if r["term"] <= r["cross"]:
            early[tool] += 1        # acted before the crossing (other work moved usage)
            continue
        ms[tool].append((r["term"] - r["cross"]) / MS)
        if r.get("budget") and r["budget"] >= r["cross"] - 5 * MS:
            budget[tool].append((r["term"] - r["budget"]) / MS)
            detect[tool].append((r["budget"] - r["cross"]) / MS)
        if r.get("unload") and r["cross"] - 5 * MS <= r["unload"] <= r["term"]:
            to_unload[tool].append((r["unload"] - r["cross"]) / MS)
            unload_term[tool].append((r["term"] - r["unload"]) / MS)
    out = {}
    for t in set(ms) | set(early) | set(missed) | set(nocross) | set(concurrent):
        d = dist(ms[t]) or {"n": 0}
        d.update(invalid=early[t] + nocross[t], early=early[t], no_cross=nocross[t],
                 concurrent=concurrent[t],
                 missed=missed[t], seen_of=len(ms[t]) + early[t] + missed[t])
        out[t] = d
    out["budget_to_sigterm"] = {t: dist(v) for t, v in budget.items()}
    out["crossing_to_budget"] = {t: dist(v) for t, v in detect.items()}
    out["crossing_to_unload"] = {t: dist(v) for t, v in to_unload.items()}
    out["unload_to_sigterm"] = {t: dist(v) for t, v in unload_term.items()}
    for a, b in (("memshed host", "earlyoom"), ("memshed host", "nohang"),
                 ("memshed defaults", "earlyoom"), ("memshed defaults", "nohang")):
        m, p = out.get(a), out.get(b)
        if m and p and p.get("n") and m.get("n"):
            out[f"ratio {a} / {b}"] = {"p50": ratio(m["p50"], p["p50"]),
                                      "p99": ratio(m["p99"], p["p99"])}
    # Invalid: acted before the thrash started (pressure from other work on the host).
    ok = [r for r in by["psi"] if r["term"] and r["level"] and r["level"] > r["start"]]
    out["psi"] = {"onset_to_sigterm_ms": dist([(r["term"] - r["start"]) / MS for r in ok]),
                  "onset_to_level_ms": dist([(r["level"] - r["start"]) / MS for r in ok]),
                  "no_action": sum(1 for r in by["psi"] if not r["term"]),
                  "invalid": sum(1 for r in by["psi"] if r["term"] and r not in ok)}
    out["nohang_installed"] = not any(r.get("installed") is False for r in by["nohang"])
    out["wait_s"] = max((r.get("wait_s", 10) for r in by["reaction"]), default=None)
    return out


METRICS = ["fault_ns", "ctxsw_cross_ns", "ctxsw_same_ns", "forkexec_us", "tcp_rtt_ns", "recv_ns"]
WHO = ("unlabelled", "labelled")


def overhead(by):
    """Medians per (config, who); each against the no-daemon runs of the same binary
    name (who), which ran interleaved with it."""
    vals = defaultdict(lambda: defaultdict(list))
    for r in by["overhead"]:
        for k in METRICS:
            if k in r["m"]:
                vals[(r["config"], r.get("who", "unlabelled"))][k].append(r["m"][k])
    med = {c: {k: statistics.median(v) for k, v in d.items()} for c, d in vals.items()}
    ratios = {c: {k: ratio(v, med.get(("none", c[1]), {}).get(k)) for k, v in d.items()}
              for c, d in med.items()}
    noise = {}
    for who in WHO:
        for k, v in vals.get(("none", who), {}).items():
            if len(v) >= 2:
                q = statistics.quantiles(v, n=4)
                noise.setdefault(who, {})[k] = (q[2] - q[0]) / statistics.median(v)
    others = [r.get("others", 0) for r in by["overhead"]]
    key = lambda c: f"{c[0]} {c[1]}"
    return {"median": {key(c): d for c, d in med.items()},
            "ratio_vs_none": {key(c): d for c, d in ratios.items()},
            "noise_iqr_rel": noise,
            "reps": {key(c): len(d[METRICS[0]]) for c, d in vals.items()},
            "other_daemons_mean": statistics.mean(others) if others else 0,
            "prog_cost": prog_cost(by)}


def prog_cost(by):
    """BPF program time per benchmark operation, from kernel.bpf_stats deltas, less
    the calls an empty window shows (taking the stats runs the programs a little)."""
    names = {r["config"]: r["names"] for r in by["prognames"]}

    def delta(r):
        return {names.get(r["config"], {}).get(i, i):
                (ns - r["before"].get(i, (0, 0))[0], cnt - r["before"].get(i, (0, 0))[1])
                for i, (ns, cnt) in r["after"].items()}

    empty = {(r["config"], r.get("who", "unlabelled")): delta(r)
             for r in by["progcost"] if r["bench"] == "idle"}
    out = defaultdict(dict)
    for r in by["progcost"]:
        b, who = r["bench"], r.get("who", "unlabelled")
        if b == "idle":
            continue
        ops, base = r["m"]["ops"], empty.get((r["config"], who), {})
        op_ns = r["m"][b] * (1000 if b.endswith("_us") else 1)
        progs = {}
        for name, (ns, cnt) in delta(r).items():
            calls = cnt - base.get(name, (0, 0))[1]
            if cnt > 0 and calls > 0:
                progs[name] = {"calls_per_op": calls / ops, "ns_per_call": ns / cnt}
        per_op = sum(p["calls_per_op"] * p["ns_per_call"] for p in progs.values())
        out[f"{r['config']} {who}"][b] = {"prog_ns_per_op": per_op, "share": per_op / op_ns,
                                          "progs": progs}
    return dict(out)


def footprint(by):
    out = []
    for r in by["footprint"]:
        out.append(dict(r, wakeups_per_min=r["wakeups"] * 60 / r["window_s"],
                        voluntary_per_min=r.get("voluntary", r["wakeups"]) * 60 / r["window_s"]))
    return out


def idle(by):
    """Issue 10 item 4: what `memshed status --json` says of real services."""
    out = {"rest": {}, "queried": {}}
    for r in by["idle"]:
        comps = {c["name"]: {"idle_ms": c["idle_ms"], "last_access": c["last_access"],
                             "nr_pids": c["nr_pids"]}
                 for c in (r.get("status") or {}).get("components", [])}
        if r["phase"] == "rest":
            out["rest"] = {"seconds": r["seconds"], "since_start_ms": r["since_start_ms"],
                           "components": comps}
        else:
            out["queried"][r["service"]] = {"queries": r["queries"], "answered": r["answered"],
                                            "interval_ms": r["interval_ms"],
                                            "components": comps}
    return out


def gentle(by):
    """Issue 12: memory freed per action, first answer after thaw on access vs after a
    restart, and the access probes' cost while something is hibernated."""
    rs = by["gentle"]
    out = {"setup": next((r for r in rs if r["kind"] == "setup"), {}), "freed": [],
           "first_answer": {}, "probe": {}}
    for r in rs:
        if r["kind"] != "freed":
            continue
        res, before = r["result"], r["rss_before_kib"] * 1024
        out["freed"].append({
            "service": r["service"], "action": r["action"], "result": res["result"],
            "rss_before_mib": before / 2**20, "rss_after_mib": r["rss_after_kib"] / 1024,
            "swap_after_mib": r["swap_after_kib"] / 1024,
            "memory_freed_mib": res["memory_freed_bytes"] / 2**20,
            "freed_share": res["memory_freed_bytes"] / before if before else None,
            "rss_drop_share": (r["rss_before_kib"] - r["rss_after_kib"]) / r["rss_before_kib"],
            "reclaimable": res.get("reclaimable"), "duration_ms": res.get("duration_ms"),
            "quiet": r.get("quiet")})
    for svc in dict.fromkeys(r["service"] for r in rs if r["kind"] in ("thaw", "restart")):
        th = [r for r in rs if r["kind"] == "thaw" and r["service"] == svc]
        ok = [r for r in th if r["first_answer_ns"] is not None]
        d = {"thaw": dist([r["first_answer_ns"] / MS for r in ok]),
             "thaw_after_full_hibernation_ms": next((r["first_answer_ns"] / MS for r in ok
                                                     if r["rep"] == 1), None),
             "knock_to_thaw": dist([r["thaw"]["knock_to_thaw_ms"] for r in th
                                    if r.get("thaw") and "knock_to_thaw_ms" in r["thaw"]]),
             "thaw_causes": sorted({r["thaw"]["cause"] for r in th if r.get("thaw")}),
             "unanswered": len(th) - len(ok), "restart": {}, "ratio": {}}
        for var in ("empty", "rdb"):
            rr = [r for r in rs if r["kind"] == "restart" and r["service"] == svc and
                  r["variant"] == var]
            if not rr:
                continue
            d["restart"][var] = dist([(r["answer"] - r["exec"]) / MS for r in rr if r["answer"]])
            d["restart"][var + "_unanswered"] = sum(1 for r in rr if not r["answer"])
            t, x = d["thaw"], d["restart"][var]
            if t and x:
                d["ratio"][var] = {"p50": ratio(t["p50"], x["p50"]),
                                   "p99": ratio(t["p99"], x["p99"])}
        out["first_answer"][svc] = d
    pr = defaultdict(list)
    for r in rs:
        if r["kind"] == "probe":
            pr[r["state"]].append(r["m"]["tcp_rtt_ns"])
    if pr:
        med = {k: statistics.median(v) for k, v in pr.items()}
        out["probe"] = {"median_ns": med, "reps": {k: len(v) for k, v in pr.items()},
                        "ratio": ratio(med.get("hibernated"), med.get("none"))}
    for r in rs:
        if r["kind"] != "probecost":
            continue
        ops, op_ns = r["m"]["ops"], r["m"]["tcp_rtt_ns"]
        for i, (ns, cnt) in r["after"].items():
            b = r["before"].get(i, (0, 0))
            name = r["names"].get(i, i)
            if name.startswith("handle_tcp_prob") and cnt > b[1]:
                per_call = (ns - b[0]) / (cnt - b[1])
                calls = (cnt - b[1]) / ops
                out["probe"]["tcp_probe"] = {"calls_per_rtt": calls, "ns_per_call": per_call,
                                             "share": calls * per_call / op_ns}
    return out


def scale(by):
    lab = defaultdict(list)
    for r in by["labelling"]:
        lab[r["procs"]].append(r["ms"])
    lab = {n: statistics.median(v) for n, v in lab.items()}
    labelling = {"start_to_labelled_ms": lab}
    if 0 in lab and len(lab) > 1:
        n = max(lab)
        labelling["procs"] = n
        labelling["labelling_ms"] = lab[n] - lab[0]
    labelling["daemon_says"] = sorted({r["line"]["msg"] for r in by["labelling"] if r["procs"]})
    rb = []
    for r in by["ringbuf"]:
        gen = r["r"]["ops"] * (2 if r["kind"] == "fork" else 1)
        cpu = r.get("daemon_cpu_s")
        rb.append({"load": r["kind"], "ringbuf_size": r["ringbuf_size"],
                   "user_limit": r.get("user_limit", "kept"),
                   "seconds": r["r"]["seconds"],
                   "events_generated": gen, "events_received": r["received"],
                   "drops": r["drops"], "received_per_s": r["received"] / r["r"]["seconds"],
                   "generated_per_s": gen / r["r"]["seconds"], "daemon_cpu_s": cpu,
                   "received_per_cpu_s": r["received"] / cpu if cpu else None})
    return {"policy": [r["r"] for r in by["policy"]], "labelling": labelling, "ringbuf": rb}


def accuracy(by):
    rows = defaultdict(list)
    for r in by["accuracy"]:
        if r.get("rss_bytes") is not None and r.get("vmrss_kib"):
            rows[r["mode"]].append((r["vmrss_kib"] * 1024, r["rss_bytes"]))
    out = {}
    for m, rs in rows.items():
        rel = [abs(k - v) / v for v, k in rs]
        big = [abs(k - v) / v for v, k in rs if v >= 16 << 20]
        out[m] = {"n": len(rs), "max_rel_err": max(rel), "mean_rel_err": statistics.mean(rel),
                  "mean_diff_kib": statistics.mean((k - v) / 1024 for v, k in rs),
                  "max_rel_err_16mib_up": max(big) if big else None}
    return out


def oom(by):
    out = {}
    for mode in ("none", "cgroup", "components"):
        rs = [r for r in by["oom"] if r["memshed"] == mode]
        if not rs:
            continue
        surv = defaultdict(int)
        for r in rs:
            for s in r["survivors"].split():
                surv[s] += 1
        out[mode] = {"runs": len(rs), "oom_kills": sum(r["oom_kills"] or 0 for r in rs),
                     "runs_with_oom_kill": sum(1 for r in rs if r["oom_kills"]),
                     "survived": dict(surv),
                     "freed_mib_mean": statistics.mean(r["freed_bytes"] for r in rs) / 2**20,
                     # unloads before the grower started: nothing but a PSI trigger to go on
                     "acted_before_growth": sum(1 for r in rs if r.get("first_unload") and
                                                r["first_unload"] < r["grower_start"])}
    return out


def issue10_targets(res):
    """Issue 10, at the shipped defaults (a non-default mode is a row of its own)."""
    t = []

    def add(name, measured, ok, settings):
        t.append({"target": name, "measured": measured, "met": ok, "settings": settings})

    rc = res.get("reaction", {})
    comp = "component model: total_limit 256M, min_idle_time 1s, PSI triggers off; rss_mode auto"
    host = ("host model: usage_source = system, medium line (0.75 x total_limit) at "
            "earlyoom's -M line (MemAvailable - 128 MiB), min_idle_time 1s, PSI off")
    for row, lim50, lim99, settings in (
            ("memshed defaults", 5, 20, comp + " (default)"),
            ("memshed tracepoint", 5, 20, comp.replace("rss_mode auto", "rss_mode = tracepoint "
                                                       "(NOT the default)"))):
        d = rc.get(row)
        if d and d.get("n"):
            label = "defaults" if row == "memshed defaults" else "non-default rss_mode = tracepoint"
            add(f"reaction p50 <= {lim50} ms, component budget model, {label}",
                f"{d['p50']:.2f} ms (n={d['n']})", d["p50"] <= lim50, settings)
            add(f"reaction p99 <= {lim99} ms, component budget model, {label}",
                f"{d['p99']:.2f} ms (n={d['n']})", d["p99"] <= lim99, settings)
    m, e = rc.get("memshed host"), rc.get("earlyoom")
    if m and e and m.get("n") and e.get("n"):
        r50, r99 = m["p50"] / e["p50"], m["p99"] / e["p99"]
        add("reaction p50 on the host model <= 1/2 of earlyoom's (same run, interleaved)",
            f"{m['p50']:.2f} ms vs earlyoom {e['p50']:.2f} ms: ratio {r50:.3f}", r50 <= 0.5, host)
        add("reaction p99 on the host model <= earlyoom's",
            f"{m['p99']:.2f} ms vs earlyoom {e['p99']:.2f} ms: ratio {r99:.3f}", r99 <= 1, host)
    wait = rc.get("wait_s") or 20
    for row, settings in (("memshed defaults", comp), ("memshed host", host),
                          ("memshed tracepoint", comp.replace("rss_mode auto",
                                                              "rss_mode = tracepoint")),
                          ("memshed defaults-pressured", comp + "; thrash + 2 spinners")):
        d = rc.get(row)
        if d and d.get("seen_of"):
            add(f"no crossing unseen ({row}): repetitions with no SIGTERM within {wait} s",
                f"{d['missed']} of {d['seen_of']}", d["missed"] == 0, settings)
    oh = res.get("overhead", {})
    rv, noise = oh.get("ratio_vs_none", {}), oh.get("noise_iqr_rel", {})
    for who in WHO:
        r = rv.get(f"defaults {who}", {})
        for k in METRICS:
            if r.get(k):
                nz = noise.get(who, {}).get(k)
                add(f"overhead at defaults <= 1%, far from the lines: {k}, {who} process",
                    f"{(r[k] - 1) * 100:+.2f}%" + (f" (noise {nz * 100:.1f}%)" if nz is not None
                                                  else ""), r[k] <= 1.01,
                    "defaults, 2 labelled idle processes" +
                    (", the benchmark labelled too" if who == "labelled" else ""))
    for who in WHO:
        pc = oh.get("prog_cost", {}).get(f"defaults {who}", {})
        for k, d in pc.items():
            add(f"overhead at defaults <= 1%: {k}, {who}, BPF program time per operation",
                f"{d['share'] * 100:.3f}% ({d['prog_ns_per_op']:.0f} ns)", d["share"] <= 0.01,
                "defaults, kernel.bpf_stats_enabled")
    # Not the defaults' case for TCP-only components: where a labelled process holds
    # a UNIX or UDP socket, the receive hook runs for every receive on the host.
    hook = "defaults + a labelled process holding a UNIX socket (receive hook attached)"
    for who in WHO:
        r = rv.get(f"recvhook {who}", {})
        pc = oh.get("prog_cost", {}).get(f"recvhook {who}", {})
        for k in ("tcp_rtt_ns", "recv_ns"):
            if r.get(k):
                add(f"receive path with the hook attached: {k}, {who} process, wall clock",
                    f"{(r[k] - 1) * 100:+.2f}%", r[k] <= 1.01, hook)
            if k in pc:
                add(f"receive path with the hook attached: {k}, {who}, BPF program time",
                    f"{pc[k]['share'] * 100:.3f}% ({pc[k]['prog_ns_per_op']:.0f} ns)",
                    pc[k]["share"] <= 0.01, hook + ", kernel.bpf_stats_enabled")
    for f in res.get("footprint", []):
        if f["tool"] != "memshed":
            continue
        add(f"daemon wakes <= once a second at rest (usage_source {f.get('usage_source', 'components')}, "
            f"{f['procs']} labelled)",
            f"{f['wakeups_per_min']:.1f}/min ({f['voluntary_per_min']:.1f} voluntary); "
            f"RSS {f['rss_kib'] / 1024:.1f} MiB", f["wakeups_per_min"] <= 60,
            "defaults but total_limit 1T" + (", usage_source = system"
                                             if f.get("usage_source") == "system" else ""))
    idl = res.get("idle", {})
    rest = idl.get("rest", {})
    for name, c in rest.get("components", {}).items():
        ok = c["idle_ms"] >= rest["seconds"] * 1000 - 500 and c["last_access"] == "start"
        add(f"{name} left alone {rest['seconds']} s: idle",
            f"idle {c['idle_ms'] / 1000:.1f} s, last access: {c['last_access']}", ok,
            "defaults but total_limit 1T, auto_unload no; idle_cpu 5%")
    for name, q in idl.get("queried", {}).items():
        c = q["components"].get(name)
        if c:
            ok = c["idle_ms"] < 1000 and q["answered"] == q["queries"]
            add(f"{name} queried every {q['interval_ms']} ms: not idle",
                f"idle {c['idle_ms']} ms, last access: {c['last_access']} "
                f"({q['answered']}/{q['queries']} answered)", ok,
                "a new TCP connection and one request each")
    return t


def targets(res):
    """DESIGN.md section 9 targets."""
    t = []

    def add(name, measured, ok, note=""):
        t.append({"target": name, "measured": measured, "met": ok, "note": note})

    rc = res.get("reaction", {})
    b = rc.get("budget_to_sigterm", {}).get("memshed defaults")
    m, e = rc.get("memshed defaults"), rc.get("earlyoom")
    if b:
        add("reaction p50 <= 5 ms (budget event -> SIGTERM, defaults)", f"{b['p50']:.2f} ms",
            b["p50"] <= 5)
        add("reaction p99 <= 20 ms (budget event -> SIGTERM, defaults)", f"{b['p99']:.2f} ms",
            b["p99"] <= 20)
    if m and e and m.get("n") and e.get("n"):
        for p in ("p50", "p99"):
            x = e[p] / m[p]
            add(f">= 10x faster than earlyoom ({p}; memshed defaults, component model)",
                f"{x:.1f}x", x >= 10)
    for f in res.get("footprint", []):
        if f["tool"] == "memshed":
            add(f"daemon RSS <= 4 MiB (usage_source {f.get('usage_source', 'components')}, "
                f"{f['procs']} labelled)", f"{f['rss_kib'] / 1024:.1f} MiB", f["rss_kib"] <= 4096)
    pol = [p for p in res.get("scale", {}).get("policy", []) if p["n"] == 100000]
    for q in ("p50", "p99"):
        if pol:
            worst = max(pol, key=lambda p: p[q + "_us"])
            add(f"selection over 100,000 components <= 5 ms ({q})",
                f"{worst[q + '_us'] / 1000:.2f} ms (worst case: {worst['level']}, {worst['data']})",
                worst[q + "_us"] <= 5000)
    lab = res.get("scale", {}).get("labelling", {})
    if "labelling_ms" in lab:
        add(f"labelling {lab['procs']:,} existing processes <= 100 ms",
            f"{lab['labelling_ms']:.0f} ms", lab["labelling_ms"] <= 100)
    for r in res.get("scale", {}).get("ringbuf", []):
        if r["user_limit"] == "lifted":
            per_cpu = r["received_per_cpu_s"]
            add(f"user side keeps up with >= 200k events/s ({r['load']} flood, per-user limit "
                f"lifted, ringbuf {r['ringbuf_size']}; per second of the daemon's CPU)",
                f"{per_cpu or 0:,.0f} per CPU-second ({r['received_per_s']:,.0f}/s received "
                f"sharing 2 cores with the flood, {r['drops']:,} drops counted)",
                bool(per_cpu) and per_cpu >= 200e3)
            continue
        add(f"ring buffer sustains 1M events/s, drops counted ({r['load']} load, "
            f"ringbuf {r['ringbuf_size']})",
            f"{r['generated_per_s']:,.0f} events/s made, {r['received_per_s']:,.0f}/s received, "
            f"{r['drops']:,} drops", r["received_per_s"] >= 1e6 and r["drops"] == 0)
    for mode, a in res.get("accuracy", {}).items():
        add(f"in-kernel RSS within 1% of VmRSS ({mode})",
            f"max {a['max_rel_err'] * 100:.3f}%", a["max_rel_err"] <= 0.01)
    g = res.get("gentle", {})
    for f in g.get("freed", []):
        if f["action"] in ("reclaim", "hibernate"):
            add(f"{f['action']} frees >= 70% of RSS, with swap ({f['service']})",
                f"memory_freed {f['memory_freed_mib']:.0f} of {f['rss_before_mib']:.0f} MiB: "
                f"{f['freed_share'] * 100:.1f}%", f["freed_share"] >= 0.7)
    for svc, d in g.get("first_answer", {}).items():
        k, th = d["knock_to_thaw"], d["thaw"]
        if k and th:
            add(f"thaw on access: first answer p50 <= 5 ms after the connect, plus the page-in "
                f"({svc}; judged on knock -> thaw)",
                f"knock -> thaw p50 {k['p50']:.2f} ms; connect -> first answer p50 "
                f"{th['p50']:.1f} ms, p99 {th['p99']:.1f} ms (page-in included)", k["p50"] <= 5)
    tp = g.get("probe", {}).get("tcp_probe")
    if tp:
        add("access probes' overhead <= 1% while hibernated (loopback TCP ping-pong, BPF time)",
            f"{tp['share'] * 100:.2f}% ({tp['calls_per_rtt']:.2f} calls x "
            f"{tp['ns_per_call']:.0f} ns per round trip)", tp["share"] <= 0.01)
    return t


def recommend(res):
    """What the overhead numbers say of the default rss_mode."""
    pc = res.get("overhead", {}).get("prog_cost", {})

    def share(c, k):
        d = pc.get(c, {}).get(k)
        return None if d is None else d["share"] * 100

    if not pc:
        return "No BPF program statistics: no recommendation."
    lines = [f"Page fault, BPF program time: defaults (rss_mode auto) "
             f"{fmt(share('defaults unlabelled', 'fault_ns'), 3)}% for an unlabelled process, "
             f"{fmt(share('defaults labelled', 'fault_ns'), 3)}% for a labelled one (the perf "
             f"event's overflow program every 16 faults); rss_mode = tracepoint "
             f"{fmt(share('tracepoint unlabelled', 'fault_ns'), 3)}% for every process of the "
             f"host. The perf event's own counting (not BPF time) shows only in the timings. "
             f"Loopback TCP round trip, BPF program time (sock_recv_length, two receives per "
             f"round trip): {fmt(share('defaults unlabelled', 'tcp_rtt_ns'), 3)}% unlabelled, "
             f"{fmt(share('defaults labelled', 'tcp_rtt_ns'), 3)}% labelled."]
    return "\n\n".join(lines)


def md(res):
    mc = res["machine"]
    only = f"; sections BENCH_ONLY=\"{mc['only']}\" only" if mc.get("only") else ""
    o = [f"# memshed benchmarks\n",
         f"`make bench` ({'quick: BENCH_QUICK=1' if mc.get('quick') else 'full'}{only}), "
         f"{mc['date']}, kernel {mc['kernel']}, {mc['cores']} cores ({mc['cpu']}), "
         f"{mc['mem_total_kib'] // 1024} MiB RAM, commit {mc.get('commit') or '?'}; load average "
         f"{mc['loadavg']} at start, {res.get('end', {}).get('loadavg', '?')} at the end "
         "(other work on the host shows up as noise). Raw samples: build/bench/raw.jsonl; "
         "every figure: bench/results.json.\n"]
    if len(res.get("runs", [])) > 1:
        o.append("The sections come from more than one invocation of bench/run (raw files "
                 "concatenated; every comparison is within one invocation):\n")
        for r in res["runs"]:
            o.append(f"- {r['date']}, commit {r.get('commit') or '?'}, sections "
                     f"{', '.join(r['sections']) or '?'}, load average {r['loadavg']} at start"
                     f"{', ' + r['end'] + ' at the end' if r.get('end') else ''}"
                     f"{', micro batches ' + str(r['micro_batches']) if 'micro_batches' in r else ''}"
                     f"{', repetitions: reaction ' + str(r['reaction_reps']) + ', overhead ' + str(r['overhead_reps']) if 'reaction_reps' in r else ''}")
        for c in res.get("concurrent", []):
            o.append(f"\nAnother bench/run ran on the host from CLOCK_MONOTONIC "
                     f"{c['start_ns'] / 1e9:.0f} s on ({c.get('what', '')}): the repetitions "
                     "after that are left out of the reaction figures.")
        o.append("")

    o.append("## Issue 10 targets (shipped defaults)\n")
    o.append("| target | measured | met |\n|---|---|---|")
    for t in res["issue10"]:
        o.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    o.append("\nSettings of each row:\n")
    for t in res["issue10"]:
        o.append(f"- {t['target']}: {t['settings']}")

    o.append("\n## DESIGN.md section 9 targets\n")
    o.append("| target | measured | met |\n|---|---|---|")
    for t in res["targets"]:
        o.append(f"| {t['target']} | {t['measured']}{' (' + t['note'] + ')' if t['note'] else ''}"
                 f" | {'yes' if t['met'] else '**no**'} |")

    rc = res.get("reaction")
    if rc:
        o.append("\n## 1. Reaction: crossing -> SIGTERM at the victim (ms)\n")
        o.append("Same scenario for every tool: an idle 60 MiB victim (oom_score_adj 1000, and "
                 "the preferred victim by name), a grower at 200 MiB/s that stamps "
                 "CLOCK_MONOTONIC when it touches the page crossing the tool's line, then 32 "
                 "MiB more. Lines: memshed component model: component usage = 0.75 x "
                 "total_limit 256M (the grower's exact RSS); host model (memshed usage_source "
                 "= system, earlyoom `-M`, nohang `soft_threshold_min_mem`): MemAvailable "
                 "128 MiB below its value when the repetition starts (memshed: total_limit set "
                 "so that its medium line, MemTotal - MemAvailable = 0.75 x total_limit, is "
                 "that line); the grower reads MemAvailable every 16 pages. A ballast keeps "
                 "MemAvailable at 45% of RAM for every tool (nohang refuses a line above 50%). "
                 "Repetitions interleaved: memshed defaults, memshed host, earlyoom, nohang, "
                 "(every other repetition) memshed tracepoint.\n")
        o.append("| tool | n | p50 | p90 | p99 | max | missed (no SIGTERM in "
                 f"{rc.get('wait_s')} s) | invalid | left out (another bench/run) |")
        o.append("|---|---|---|---|---|---|---|---|---|")
        for tool in REACTION_ROWS:
            d = rc.get(tool)
            if not d:
                continue
            o.append(f"| {tool} | {d['n']} | {fmt(d.get('p50'), 2)} | {fmt(d.get('p90'), 2)} | "
                     f"{fmt(d.get('p99'), 2)} | {fmt(d.get('max'), 2)} | {d['missed']} | "
                     f"{d['invalid']} | {d.get('concurrent', 0)} |")
        for key, label in (("budget_to_sigterm", "kernel budget event -> SIGTERM"),
                           ("crossing_to_budget", "grower's crossing -> kernel budget event"),
                           ("crossing_to_unload", "grower's crossing -> daemon's unload "
                            "decision (logged just before the signal)"),
                           ("unload_to_sigterm", "daemon's unload decision -> SIGTERM "
                            "stamped by the victim")):
            for tool, d in sorted(rc.get(key, {}).items()):
                if d:
                    o.append(f"| {tool}: {label} | {d['n']} | {fmt(d['p50'], 2)} | "
                             f"{fmt(d['p90'], 2)} | {fmt(d['p99'], 2)} | {fmt(d['max'], 2)} | | | |")
        rr = [(k[6:], v) for k, v in rc.items() if k.startswith("ratio ")]
        if rr:
            o.append("\n| ratio (same run) | p50 | p99 |\n|---|---|---|")
            for k, v in rr:
                o.append(f"| {k} | {fmt(v['p50'], 3)} | {fmt(v['p99'], 3)} |")
        o.append("\nmemshed rows: *defaults* = the shipped defaults (rss_mode auto: a software "
                 "page-fault perf event on each labelled process, its BPF overflow program "
                 "every 16 faults; a `budget` event wakes the daemon) with total_limit 256M, "
                 "the components, min_idle_time 1s and the PSI triggers off (what the scenario "
                 "needs: other work on this shared host raises PSI); *host* = usage_source = "
                 "system at earlyoom's line, otherwise the same (usage read at the predictive "
                 "interval, 10 ms right below a line); *tracepoint* = defaults + rss_mode = "
                 "tracepoint (NOT the default: rss_stat attached host-wide); "
                 "*defaults-pressured* = defaults while a thrash in a 64 MiB memcg keeps "
                 "memory PSI up and two spinners keep both CPUs busy (issue 7). No row sets "
                 "check_interval. Missed: the grower crossed and the victim got no SIGTERM "
                 "within the wait. Invalid: the victim was signalled before the grower crossed "
                 "(usage moved by other work on the host), or the line was passed before the "
                 "grower started. Left out: repetitions while another checkout's bench/run "
                 "ran on the host (bench/run counts them at each repetition).")
        if not rc.get("nohang_installed"):
            o.append("\nnohang: not installed, not compared (Debian has a package: "
                     "`apt-get install nohang`).")
        p = rc["psi"]
        o.append("\n**PSI path** (total_limit 1T, default PSI thresholds; thrash starts in a "
                 "64 MiB memcg after drop_caches):")
        for key, label in (("onset_to_level_ms", "thrash start -> level change"),
                           ("onset_to_sigterm_ms", "thrash start -> SIGTERM at the victim")):
            d = p.get(key)
            if d:
                o.append(f"- {label}: p50 {fmt(d['p50'], 0)} ms, max {fmt(d['max'], 0)} ms "
                         f"(n={d['n']})")
        if p["no_action"]:
            o.append(f"- runs without any action in 30 s: {p['no_action']}")
        if p["invalid"]:
            o.append(f"- invalid runs (acted before the thrash started: pressure from other "
                     f"work on the host): {p['invalid']}")

    oh = res.get("overhead")
    if oh and oh["median"]:
        o.append("\n## 2. Overhead (medians of interleaved repetitions; ratio vs no daemon)\n")
        o.append("The daemon tracks two labelled idle processes. The benchmark runs as an "
                 "unlabelled process (`micro`) and as a labelled one (a copy named `msbmicro`, "
                 "matched by a component: it and its children carry the page-fault perf event "
                 "and their receives are accounted). fault: ns per 4 KiB anonymous page fault; "
                 "ctxsw: ns per pipe round trip (different / same CPU); forkexec: us per "
                 "fork+exec(/bin/true)+wait; tcp_rtt: ns per round trip of a 1-byte message "
                 "over a loopback TCP connection (TCP_NODELAY; a receive on each side); recv: "
                 "ns per write + read of a byte on a loopback TCP connection in one process "
                 "(no wake-up: where a program on the receive path shows). Each "
                 "figure is the best of micro's batches (9, or MICRO_BATCHES); each ratio is "
                 "against the no-daemon runs of the same binary name.\n")
        cfgs = [f"{c} {w}" for c in ("none", "defaults", "tracepoint", "recvhook") for w in WHO
                if f"{c} {w}" in oh["median"]]
        o.append("| metric | " + " | ".join(cfgs) + " | noise (IQR/median, none unlabelled) |")
        o.append("|---|" + "---|" * (len(cfgs) + 1))
        for k in METRICS:
            cells = []
            for c in cfgs:
                v, r = oh["median"][c].get(k), oh["ratio_vs_none"][c].get(k)
                cells.append(f"{fmt(v)}" + ("" if c.startswith("none") else f" ({fmt(r, 3)})"))
            nz = oh["noise_iqr_rel"].get("unlabelled", {}).get(k)
            o.append(f"| {k} | " + " | ".join(cells) + f" | {fmt(nz and nz * 100)}% |")
        o.append("\nConfigs: defaults = the shipped defaults (total_limit and the components "
                 "only: rss_mode auto); tracepoint = defaults + rss_mode = tracepoint (not the "
                 "default); recvhook = defaults, and a labelled process holds a UNIX socket, "
                 "so the receive hook (sock_recv_length) is attached, as it is wherever one "
                 f"does. Repetitions: {oh['reps']}.")
        if oh.get("other_daemons_mean"):
            o.append(f"Other memshed daemons (tests run by others) were running during "
                     f"{oh['other_daemons_mean']:.1f} of the timing runs on average: their "
                     "programs slow the no-daemon runs too.")
        pc = oh.get("prog_cost")
        if pc:
            o.append("\nBPF program time per operation (kernel.bpf_stats_enabled=1 for one "
                     "more run per config: calls per operation (less those of an empty window: "
                     "the measuring itself) times ns per call; other work on the host during "
                     "the run still counts, and the stats add a clock read or two to each "
                     "call). It leaves out the perf event's own counting on each fault of a "
                     "labelled process, which only the timings show:\n")
            o.append("| metric | " + " | ".join(pc) + " |")
            o.append("|---|" + "---|" * len(pc))
            for k in METRICS:
                cells = []
                for c in pc:
                    d = pc[c].get(k)
                    top = max(d["progs"].items(), key=lambda kv: kv[1]["calls_per_op"] *
                              kv[1]["ns_per_call"], default=None) if d else None
                    cells.append("n/a" if not d else
                                 f"{d['prog_ns_per_op']:.0f} ns = {d['share'] * 100:.3f}%" +
                                 (f" (mostly {top[0]}: {top[1]['calls_per_op']:.3f} calls x "
                                  f"{top[1]['ns_per_call']:.0f} ns)" if top else ""))
                o.append(f"| {k} | " + " | ".join(cells) + " |")
        o.append("\n" + res["recommendation"])

    fp = res.get("footprint")
    if fp:
        o.append("\n## 3. Footprint at rest (defaults but total_limit 1T: far from every line)\n")
        o.append("| daemon | usage_source | labelled idle processes | VmRSS (MiB) | wake-ups/min "
                 "| voluntary/min | window (s) |")
        o.append("|---|---|---|---|---|---|---|")
        for f in fp:
            mem = f["tool"] == "memshed"
            o.append(f"| {f['tool']}{'' if mem else ' (defaults, --dryrun)'} | "
                     f"{f.get('usage_source', 'components') if mem else '-'} | "
                     f"{f['procs'] if mem else '-'} | {f['rss_kib'] / 1024:.1f} | "
                     f"{f['wakeups_per_min']:.1f} | "
                     f"{f['voluntary_per_min']:.1f} | {f['window_s']} |")
        o.append("\nWake-ups: voluntary + involuntary context switches of all its threads "
                 "(/proc/PID/task/*/status) over the window, scaled to a minute; voluntary: "
                 "voluntary_ctxt_switches alone (the daemon's own sleeps ending).")
        big = max((f for f in fp if f.get("rss_top_kib")), key=lambda f: f["procs"], default=None)
        if big:
            o.append(f"Each memshed run starts from an event ring a lap and a half full (read "
                     f"by its recovery) and makes {big.get('reloads', 0)} reloads before the "
                     f"window. memshed's RSS by mapping (KiB, {big['procs']:,} labelled; "
                     "mlockall keeps what was touched): " +
                     ", ".join(f"{k} {v:,}" for k, v in big["rss_top_kib"].items()) + ".")

    idl = res.get("idle")
    if idl and idl.get("rest"):
        rest = idl["rest"]
        o.append("\n## 7. Idle classification of real services\n")
        o.append("Debian's redis-server, memcached and postgres 15, private instances as "
                 "nobody on free loopback ports, each in a memcg of its own that its component "
                 "matches (`cgroup:PATH`); daemon at defaults but total_limit 1T and "
                 f"auto_unload no. Left alone {rest['seconds']} s after the daemon started, "
                 "then each queried in turn every 200 ms (a new TCP connection and one request: "
                 "redis-cli PING, memcached `version`, psql `select 1`) while the others stay "
                 "alone; `memshed status --json` after each phase.\n")
        names = list(rest["components"])
        o.append("| phase | " + " | ".join(names) + " |")
        o.append("|---|" + "---|" * len(names))

        def cell(c):
            return f"idle {c['idle_ms'] / 1000:.2f} s, {c['last_access']}" if c else "n/a"
        o.append(f"| left alone {rest['seconds']} s | " +
                 " | ".join(cell(rest["components"][n]) for n in names) + " |")
        for svc, q in idl["queried"].items():
            o.append(f"| {svc} queried ({q['answered']}/{q['queries']} answered) | " +
                     " | ".join(cell(q["components"].get(n)) for n in names) + " |")
        o.append("\nLast access kinds: start (nothing seen since the daemon started), socket "
                 "(data received), connection (a connection accepted), cpu (CPU share above "
                 "idle_cpu, 5% by default).")

    sc = res.get("scale")
    if sc:
        o.append("\n## 4. Scale\n")
        if sc["policy"]:
            o.append("| policy_select_victims | components | victims | p50 (ms) | p99 (ms) |")
            o.append("|---|---|---|---|---|")
            for p in sc["policy"]:
                o.append(f"| {p['level']}, {p['data']} | {p['n']:,} | {p['victims']:,} | "
                         f"{p['p50_us'] / 1000:.2f} | {p['p99_us'] / 1000:.2f} |")
        lab = sc["labelling"]
        if lab["start_to_labelled_ms"]:
            o.append("\nLabelling at start: daemon exec -> \"N process(es) labelled at start\" "
                     "(median ms): " + ", ".join(f"{n:,} processes: {v:.0f} ms" for n, v in
                                                  sorted(lab["start_to_labelled_ms"].items())) +
                     (f"; the labelling itself (difference): **{lab['labelling_ms']:.0f} ms** "
                      f"for {lab['procs']:,}" if "labelling_ms" in lab else "") +
                     (" (daemon: " + "; ".join(f'"{m}"' for m in lab["daemon_says"]) + ")"
                      if lab.get("daemon_says") else "") + ".")
        if sc["ringbuf"]:
            o.append("\n| load | ring buffer | per-user limit | seconds | events made | made/s | "
                     "received | received/s | drops (ringbuf_drops) | daemon CPU (s) | "
                     "received per CPU-second |")
            o.append("|---|---|---|---|---|---|---|---|---|---|---|")
            for r in sc["ringbuf"]:
                pc = r.get("received_per_cpu_s")
                o.append(f"| {r['load']} | {r['ringbuf_size']} | {r['user_limit']} | "
                         f"{r['seconds']:.1f} | "
                         f"{r['events_generated']:,} | {r['generated_per_s']:,.0f} | "
                         f"{r['events_received']:,} | {r['received_per_s']:,.0f} | "
                         f"{r['drops']:,} | {r['daemon_cpu_s'] if r['daemon_cpu_s'] is not None else '-'} | "
                         f"{f'{pc:,.0f}' if pc else '-'} |")
            o.append("\nLoads: a labelled process's two workers (children, labelled too) as fast "
                     "as they can, 2 cores: fork = fork and reap a child that exits at once (a "
                     "fork and an exit event each); rename = prctl(PR_SET_NAME) to the name a "
                     "comm: rule matches (one rename event each). Made = the kernel's events "
                     "(received + dropped when the accounting is exact). Per-user limit "
                     "kept: the product (a burst of 64, then 200/s per user): those rows "
                     "measure the limit. Lifted (MEMSHED_BENCH_INFO_UNLIMITED=1): the ring "
                     "is never empty, so received per second of the daemon's CPU (user + "
                     "system, storm and drain) is what the user side takes: consume, decode, "
                     "label, log each event to stdout and the on-disk ring.")

    ac = res.get("accuracy")
    if ac:
        o.append("\n## 5. Accuracy: in-kernel RSS vs /proc/PID/status VmRSS\n")
        o.append("100 processes, one component each, 1..200 MiB anonymous (log-spaced), every "
                 "5th also maps 16 MiB of a file.\n")
        o.append("| rss_mode | processes | max relative error | mean | max, processes >= 16 "
                 "MiB | mean difference (KiB, kernel - VmRSS) |")
        o.append("|---|---|---|---|---|---|")
        for m, a in ac.items():
            big = a["max_rel_err_16mib_up"]
            o.append(f"| {m} | {a['n']} | {a['max_rel_err'] * 100:.3f}% | "
                     f"{a['mean_rel_err'] * 100:.3f}% | {fmt(big and big * 100, 3)}% | "
                     f"{a['mean_diff_kib']:+.0f} |")

    om = res.get("oom")
    if om:
        o.append("\n## 6. Kernel OOM kills (256 MiB memcg: two idle 60 MiB components, a "
                 "grower to 200 MiB at 40 MiB/s)\n")
        o.append("| memshed | runs | kernel OOM kills | runs with an OOM kill | survivors "
                 "(runs) | memory freed by memshed (MiB, mean) | runs where memshed acted "
                 "before the grower started |")
        o.append("|---|---|---|---|---|---|---|")
        names = {"none": "without", "cgroup": "with, usage_source = cgroup:PATH",
                 "components": "with, usage_source = components (default)"}
        for mode, d in om.items():
            label = names[mode]
            surv = ", ".join(f"{k} {v}" for k, v in sorted(d["survived"].items())) or "none"
            o.append(f"| {label} | {d['runs']} | {d['oom_kills']} | {d['runs_with_oom_kill']} | "
                     f"{surv} | {d['freed_mib_mean']:.1f} | "
                     f"{d['acted_before_growth'] if mode != 'none' else '-'} |")
        o.append("\nSurvivors: alive 1 s after the grower reached 200 MiB or died. All "
                 "memshed settings at defaults but total_limit 256M, min_idle_time 1s, cooldown "
                 "500ms (check_interval 60s).")

    g = res.get("gentle")
    if g and (g["freed"] or g["first_answer"]):
        st = g["setup"]
        o.append("\n## 8. Gentle unloads (issue 12)\n")
        o.append(f"Debian's redis-server (DEBUG POPULATE {st.get('keys', 0):,} keys of "
                 f"{st.get('value_bytes', 0)} B) and memcached ({st.get('keys', 0):,} items of "
                 f"{st.get('value_bytes', 0)} B), private instances on loopback; a "
                 f"{st.get('swap_mib', '?')} MiB swapfile of the bench's own (the host's own swap "
                 f"devices: {st.get('host_swap_devices', '?')}); load average "
                 f"{st.get('loadavg', '?')} at the start of the section. The daemon at the "
                 "shipped defaults: its config names the component (match, action) and a "
                 "private event log, nothing else; every action is started by `memshed "
                 "unload` (the strongest step of the ladder, here the one action).\n")
        o.append("| service | action | result | RSS before (MiB) | RSS after | memory_freed "
                 "(MiB) | of RSS | swapped out after | reclaimable | duration (ms) |")
        o.append("|---|---|---|---|---|---|---|---|---|---|")
        for f in g["freed"]:
            o.append(f"| {f['service']} | {f['action']} | {f['result']} | "
                     f"{f['rss_before_mib']:.1f} | {f['rss_after_mib']:.1f} | "
                     f"{f['memory_freed_mib']:.1f} | {f['freed_share'] * 100:.1f}% | "
                     f"{f['swap_after_mib']:.1f} | {f['reclaimable'] or '-'} | "
                     f"{fmt(f['duration_ms'], 0)} |")
        o.append("\nRSS: VmRSS before `memshed unload` and after its result record; "
                 "memory_freed: the result record's (the measured drop of the component's RSS "
                 "in the kernel's accounting); term's after is 0 (exited). memcached is left "
                 "to rest after the fill (up to 15 s: its LRU maintainer touches items) before "
                 "the reclaim.\n")
        fa = g["first_answer"]
        if fa:
            o.append("| service | thaw on access: connect -> first answer, p50 / p99 (n) | "
                     "rep 1 (after the full hibernation) | knock -> thaw p50 / p99 | restart "
                     "(empty): exec -> first answer, p50 / p99 (n) | ratio thaw / restart p50 "
                     "(p99) | restart loading its data (RDB) p50 / max (n) | ratio thaw / "
                     "RDB restart p50 |")
            o.append("|---|---|---|---|---|---|---|---|")

            def pp(d, nd=1):
                return f"{d['p50']:.{nd}f} / {d['p99']:.{nd}f} ms (n={d['n']})" if d else "n/a"
            for svc, d in fa.items():
                e, rdb = d["restart"].get("empty"), d["restart"].get("rdb")
                re_, rr = d["ratio"].get("empty"), d["ratio"].get("rdb")
                k = d["knock_to_thaw"]
                o.append(f"| {svc} | {pp(d['thaw'])} | "
                         f"{fmt(d['thaw_after_full_hibernation_ms'])} ms | "
                         f"{fmt(k and k['p50'], 2)} / {fmt(k and k['p99'], 2)} ms | {pp(e)} | "
                         + (f"{re_['p50']:.3f} ({re_['p99']:.3f})" if re_ else "n/a") + " | "
                         + (f"{rdb['p50']:.0f} / {rdb['max']:.0f} ms (n={rdb['n']})" if rdb
                            else "-") + " | " + (f"{rr['p50']:.4f}" if rr else "-") + " |")
            o.append("\nThaw: each repetition hibernates the service (`memshed unload`, "
                     "waiting for its result), then a client (bench/client, C) connects, sends "
                     "one request (redis `GET key:1`, memcached `get k1`) and reads the answer, "
                     "which must be the stored value: the time from before connect() to the "
                     "whole answer, so the knock, the thaw, the page-in from swap and the "
                     "service's work are all in it. Rep 1 follows the hibernation of the full "
                     "~230 MiB; later ones re-hibernate what the previous client brought back "
                     "(the rest stays in swap). Knock -> thaw: the thaw record's. Restart: "
                     "memshed's term (SIGTERM; the service exits), then the service is started "
                     "again as a supervisor would and a client polls (a new connection every "
                     "0.5 ms) until it answers: exec -> first answer. An empty restart answers "
                     "without the data (the cache is cold); the RDB restart loads the "
                     "~200 MiB dataset first (redis answers -LOADING meanwhile: not an "
                     "answer). Thaw causes: " + "; ".join(f"{s}: {', '.join(d['thaw_causes'])}"
                                                         for s, d in fa.items()) + ".")
        pr = g.get("probe")
        if pr and pr.get("median_ns"):
            m = pr["median_ns"]
            o.append(f"\n**Access probes while hibernated**: loopback TCP round trip of an "
                     f"unrelated pair (bench/micro tcp_rtt_ns, unlabelled, best of its batches; "
                     f"medians of {pr['reps'].get('none', 0)} + {pr['reps'].get('hibernated', 0)} "
                     f"interleaved repetitions): nothing hibernated "
                     f"(tcp_probe detached) {fmt(m.get('none'))} ns, redis hibernated "
                     f"(tcp_probe on every segment the host receives) "
                     f"{fmt(m.get('hibernated'))} ns: ratio {fmt(pr.get('ratio'), 3)}.")
            tp = pr.get("tcp_probe")
            if tp:
                o.append(f"BPF time (kernel.bpf_stats_enabled, one more run while hibernated): "
                         f"tcp_probe {tp['calls_per_rtt']:.2f} calls x {tp['ns_per_call']:.0f} "
                         f"ns per round trip = {tp['share'] * 100:.2f}% of it.")

    secs = res.get("seconds")
    if secs:
        o.append("\nSection times (s): " + ", ".join(f"{k} {v}" for k, v in secs.items()) +
                 f"; total {sum(secs.values())}.")
    return "\n".join(o) + "\n"


def main():
    raw, outdir = sys.argv[1], sys.argv[2]
    by = load(raw)
    res = {"machine": by["machine"][0]}
    if by["end"]:
        res["end"] = by["end"][-1]
    # Runs in file order: each machine record opens one; its time and end records follow.
    runs, cur = [], None
    with open(raw) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r["section"] == "machine":
                cur = dict(r, sections=[])
                runs.append(cur)
            elif cur is not None and r["section"] == "time":
                cur["sections"].append(r["name"])
            elif cur is not None and r["section"] == "end":
                cur["end"] = r["loadavg"]
    res["runs"] = runs
    res["concurrent"] = by["concurrent"]
    res["seconds"] = {r["name"]: r["seconds"] for r in by["time"]}
    if by["reaction"] or by["psi"]:
        res["reaction"] = reaction(by)
    if by["overhead"]:
        res["overhead"] = overhead(by)
        res["recommendation"] = recommend(res)
    if by["footprint"]:
        res["footprint"] = footprint(by)
    if by["policy"] or by["labelling"] or by["ringbuf"]:
        res["scale"] = scale(by)
    if by["accuracy"]:
        res["accuracy"] = accuracy(by)
    if by["oom"]:
        res["oom"] = oom(by)
    if by["idle"]:
        res["idle"] = idle(by)
    if by["gentle"]:
        res["gentle"] = gentle(by)
    res["issue10"] = issue10_targets(res)
    res["targets"] = targets(res)
    with open(f"{outdir}/results.json", "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(f"{outdir}/RESULTS.md", "w") as f:
        f.write(md(res))
    print(f"wrote {outdir}/RESULTS.md and {outdir}/results.json")


if __name__ == "__main__":
    main()
