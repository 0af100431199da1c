"""The quickstart's v1 then v2, as written, on the dev stack, until v2 is promoted by the default rollout.

Not collected by pytest (it takes about seven minutes: the quickstart keeps the default 1-minute
analyses); run it by hand to check what docs/getting-started.md says about the v2 rollout:

    .venv/bin/python -m tests.integration.quickstart_rollout

Traffic (20 requests/s) goes through the model's Service to the pods' 127.x addresses, as in
every end-to-end test; the run fails if a request is lost or v2 is not promoted in 15 minutes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from modelops.train.dataset import generate
from modelops_devcluster.stack import Stack
from modelops_devcluster.traffic import Service
from tests.integration.test_quickstart import NS, QUICKSTART, _apply, _run_locally


def _as_written(directory: Path) -> list[dict[str, Any]]:
    """Every document of the directory's files; Jobs get the dev stack's run-locally annotation."""
    documents = [d for f in sorted(directory.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    return [_run_locally(d) if d["kind"] == "Job" else d for d in documents]


def main() -> None:
    with Stack(NS, log=print) as stack:
        _apply(stack, _as_written(QUICKSTART))
        stack.wait(
            "fraud",
            lambda s: s.get("phase") == "Available" and (s.get("stable") or {}).get("readyReplicas") == 2,
            timeout=120,
        )
        traffic = stack.traffic(Service("fraud"), dataset=generate(20_000, seed=5), rate=20, seed=5)
        time.sleep(20)
        began = time.monotonic()
        _apply(stack, _as_written(QUICKSTART / "v2"))

        def show(s: dict[str, Any]) -> None:
            print(f"+{time.monotonic() - began:.0f}s {s.get('phase')} {s.get('message')}", flush=True)

        try:
            status = stack.wait(
                "fraud", lambda s: (s.get("stable") or {}).get("version") == "v2", timeout=900, on_change=show
            )
        finally:
            traffic.stop()
        print(f"v2 promoted {time.monotonic() - began:.0f}s after applying examples/quickstart/v2/")
        print("history:", json.dumps(status.get("history", [])[:1]))
        print(traffic.summary(since=began))
        assert status["history"][0]["outcome"] == "Promoted", status["history"]
        assert not traffic.unexpected_failures(since=began), traffic.summary(since=began)


if __name__ == "__main__":
    main()
