"""``python -m benchmarks [PART ...] [--quick] [--markdown]``: run and print, never assert.
Parts: verify, http, dpop, server, workers, propagation, peers, startup (default: all).

Exit status 0 whether targets PASS or MISS; 1 only when a bench crashed.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from benchmarks._common import Target, load_average, machine_lines

PARTS = ("verify", "http", "dpop", "server", "workers", "propagation", "peers", "startup")
N = TypeVar("N", int, float)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Ostiary benchmarks: ratios against baselines measured in the same run.",
    )
    parser.add_argument(
        "parts",
        nargs="*",
        metavar="PART",
        help="verify, http, dpop, server, workers, propagation, peers, startup (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="short loops, for a smoke run")
    parser.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    parser.add_argument(
        "--repeats", type=_positive(int), help="verify, dpop: timed repeats (default 7; quick 5)"
    )
    parser.add_argument(
        "--rounds", type=_positive(int), help="http, dpop, server, workers: rounds (default 3)"
    )
    parser.add_argument(
        "--duration",
        type=_positive(float),
        help="http, dpop, server: seconds per measurement (default 5, server 4)",
    )
    parser.add_argument(
        "--connections", type=_positive(int), help="http, dpop: keep-alive connections"
    )
    parser.add_argument(
        "--logouts", type=_positive(int), help="propagation: logouts per path (default 100)"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return args


def _positive(kind: Callable[[str], N]) -> Callable[[str], N]:
    def parse(text: str) -> N:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into SystemExit so that `finally` blocks stop the server processes.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    parts = [p for p in PARTS if p in args.parts] or list(PARTS)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    print("Ostiary benchmarks" + (" (--quick: short loops, smoke run only)" if args.quick else ""))
    for line in machine_lines():
        print("  " + line)
    tables: list[tuple[str, str]] = []
    targets: list[Target] = []
    crashed = False
    for part in parts:
        print(f"\n[{part}]", flush=True)
        try:
            header, table, found = _run_part(part, args)
        except Exception:
            traceback.print_exc()
            print(f"[{part}] CRASHED", flush=True)
            crashed = True
            continue
        tables.append((header, table))
        targets += found
    for header, table in tables:
        print(f"\n{header}\n\n{table}")
    if targets:
        print("\nTargets (ratios within the same run; no timing is asserted):")
        for target in targets:
            print("  " + target.line())
        passed = sum(t.passed for t in targets)
        print(f"  {passed}/{len(targets)} PASS")
    print(
        f"\nDone in {time.perf_counter() - started:.0f} s; load average now {load_average()}"
        + ("; a bench CRASHED (exit 1)" if crashed else "")
    )
    return 1 if crashed else 0


def _run_part(part: str, args: argparse.Namespace) -> tuple[str, str, list[Target]]:
    def log(line: str) -> None:
        print(line, flush=True)

    if part == "verify":
        from benchmarks import verify

        vconfig = verify.QUICK if args.quick else verify.VerifyConfig()
        if args.repeats is not None:
            vconfig = dataclasses.replace(vconfig, repeats=args.repeats)
        vreport = verify.run(vconfig, log)
        return vreport.header(), vreport.table(markdown=args.markdown), vreport.targets

    if part == "server":
        from benchmarks import server

        sconfig = server.QUICK if args.quick else server.ServerConfig()
        chosen = {"rounds": args.rounds, "duration": args.duration}
        sconfig = dataclasses.replace(sconfig, **{k: v for k, v in chosen.items() if v is not None})
        sreport = server.run(sconfig, log)
        return sreport.header(), sreport.table(markdown=args.markdown), sreport.targets

    if part == "workers":
        from benchmarks import workers

        wconfig = workers.QUICK if args.quick else workers.WorkersConfig()
        chosen = {"rounds": args.rounds, "duration": args.duration}
        wconfig = dataclasses.replace(wconfig, **{k: v for k, v in chosen.items() if v is not None})
        wreport = workers.run(wconfig, log)
        return wreport.header(), wreport.table(markdown=args.markdown), []

    if part == "dpop":
        from benchmarks import dpop

        dconfig = dpop.QUICK if args.quick else dpop.DPoPConfig()
        chosen = {
            "rounds": args.rounds,
            "duration": args.duration,
            "connections": args.connections,
        }
        http_config = dataclasses.replace(
            dconfig.http, **{k: v for k, v in chosen.items() if v is not None}
        )
        dconfig = dataclasses.replace(dconfig, http=http_config)
        if args.repeats is not None:
            dconfig = dataclasses.replace(dconfig, repeats=args.repeats)
        dreport = dpop.run(dconfig, log)
        return dreport.header(), dreport.table(markdown=args.markdown), dreport.targets

    if part == "startup":
        from benchmarks import startup

        uconfig = startup.QUICK if args.quick else startup.StartupConfig()
        ureport = startup.run(uconfig, log)
        return ureport.header(), ureport.table(markdown=args.markdown), []

    if part == "peers":
        from benchmarks import peers

        qconfig = peers.QUICK if args.quick else peers.PeersConfig()
        chosen = {"rounds": args.rounds, "duration": args.duration}
        qconfig = dataclasses.replace(qconfig, **{k: v for k, v in chosen.items() if v is not None})
        qreport = peers.run(qconfig, log)
        return qreport.header(), qreport.table(markdown=args.markdown), qreport.targets

    if part == "propagation":
        from benchmarks import propagation

        pconfig = propagation.QUICK if args.quick else propagation.PropagationConfig()
        if args.logouts is not None:
            pconfig = dataclasses.replace(pconfig, logouts=args.logouts)
        preport = propagation.run(pconfig, log)
        return preport.header(), preport.table(markdown=args.markdown), preport.targets

    from benchmarks import http

    hconfig = http.QUICK if args.quick else http.HttpConfig()
    overrides = {
        "rounds": args.rounds,
        "duration": args.duration,
        "connections": args.connections,
    }
    hconfig = dataclasses.replace(hconfig, **{k: v for k, v in overrides.items() if v is not None})
    hreport = http.run(hconfig, log)
    return hreport.header(), hreport.table(markdown=args.markdown), hreport.targets


if __name__ == "__main__":
    sys.exit(main())
