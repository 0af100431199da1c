"""`python -m modelops_devcluster up|build|demo|dashboards`: a dev cluster for a shell, the binaries, the demo,
the chart's Grafana dashboards.

`up` builds nothing: run `build` first (it is a no-op once the binaries are cached).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from modelops_devcluster import build
from modelops_devcluster.cluster import DevCluster, DevClusterError
from modelops_devcluster.procs import ProcessError


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _up() -> int:
    """Start, print how to use it, block until Ctrl-C/SIGTERM, tear down on the way out."""
    # SIGINT explicitly too: a shell's background job starts with SIGINT ignored
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)
    started = time.monotonic()
    try:
        with DevCluster() as cluster:
            took = time.monotonic() - started
            print(f"# dev cluster up in {took:.1f}s; logs in {cluster.workdir}", flush=True)
            print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
            print(f'export PATH="{cluster.bin_dir}:$PATH"', flush=True)
            while True:  # fail loudly if a component dies while the cluster is up
                cluster.check_running()
                time.sleep(2)
    except KeyboardInterrupt:
        print("# dev cluster stopped", file=sys.stderr)
        return 0
    except (DevClusterError, ProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelops_devcluster")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start a dev cluster and block until Ctrl-C/SIGTERM")
    sub.add_parser("build", help="build the control-plane binaries (cached)", add_help=False)
    sub.add_parser("demo", help="control plane + operator + examples: what kubectl shows on call")
    sub.add_parser("dashboards", help="write (or --check) the chart's Grafana dashboards", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "build":
        return build.main(rest)
    if args.command == "dashboards":
        from modelops_devcluster import dashboards

        return dashboards.main(rest)
    if args.command == "demo":
        from modelops_devcluster import demo

        return demo.run()
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _up()


if __name__ == "__main__":
    raise SystemExit(main())
