"""moto's standalone S3 server as a subprocess on 127.0.0.1, with IAM enforced once it is set up."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    reader: tuple[str, str]  # may read every bucket
    nobody: tuple[str, str]  # a valid user without any permission


def aws_env(tmp: Path, endpoint: str) -> dict[str, str]:
    """No credentials from this machine, no instance metadata service (it is not on loopback)."""
    return {
        "AWS_CONFIG_FILE": str(tmp / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@contextmanager
def moto_s3(workdir: Path, buckets: Mapping[str, Mapping[str, bytes]]) -> Iterator[S3Server]:
    """A moto server holding `buckets` ({bucket: {key: body}}), users `reader` (s3:*) and `nobody`."""
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with (workdir / "moto.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{endpoint}/moto-api/", timeout=2)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("moto server did not start") from None
                    time.sleep(0.2)
            admin = {"aws_access_key_id": "admin", "aws_secret_access_key": "admin", "region_name": "us-east-1"}
            iam = boto3.client("iam", endpoint_url=endpoint, **admin)
            s3 = boto3.client("s3", endpoint_url=endpoint, **admin)
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
            keys = {}
            for user in ("reader", "nobody"):
                iam.create_user(UserName=user)
                key = iam.create_access_key(UserName=user)["AccessKey"]
                keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
            iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(policy))
            for bucket, objects in buckets.items():
                s3.create_bucket(Bucket=bucket)
                for key, body in objects.items():
                    s3.put_object(Bucket=bucket, Key=key, Body=body)
            httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()  # IAM enforced from now
            yield S3Server(endpoint, keys["reader"], keys["nobody"])
        finally:
            server.terminate()
            server.wait(timeout=10)
