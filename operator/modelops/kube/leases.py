"""Read, create and update the operator's coordination.k8s.io Lease (leader election).

Blocking calls with a short timeout, made from the elector's own thread so that a stuck event
loop cannot delay a renewal and a stuck API call cannot outlive the renew deadline by much.
Every update carries the resourceVersion it was computed from: a 409 means someone else
wrote first (`Conflict`), never an overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelops.kube.resources import Conflict
from modelops.lease import Record

# What these calls need (tests/chart/rbac_needs.py grants exactly this, in the release namespace).
LEASE_VERBS = ("get", "create", "update")


def _record(lease: client.V1Lease) -> Record:
    spec = lease.spec or client.V1LeaseSpec()
    return Record(
        holder=spec.holder_identity or "",
        lease_seconds=int(spec.lease_duration_seconds or 0),
        acquired=spec.acquire_time,
        renewed=spec.renew_time,
        transitions=int(spec.lease_transitions or 0),
        version=str((lease.metadata.resource_version if lease.metadata else None) or ""),
    )


@dataclass
class LeaseClient:
    api: client.ApiClient
    namespace: str
    name: str
    timeout: float = 5.0

    def _api(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.api)

    def _body(self, record: Record) -> client.V1Lease:
        meta = client.V1ObjectMeta(
            name=self.name,
            namespace=self.namespace,
            resource_version=record.version or None,
            labels={"app.kubernetes.io/managed-by": "modelops", "app.kubernetes.io/component": "leader-election"},
        )
        spec = client.V1LeaseSpec(
            holder_identity=record.holder,
            lease_duration_seconds=record.lease_seconds,
            acquire_time=record.acquired,
            renew_time=record.renewed,
            lease_transitions=record.transitions,
        )
        return client.V1Lease(metadata=meta, spec=spec)

    def read(self) -> Record | None:
        """The Lease as stored, None when it does not exist."""
        try:
            lease = self._api().read_namespaced_lease(self.name, self.namespace, _request_timeout=self.timeout)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return _record(lease)

    def create(self, record: Record) -> Record:
        """Create it; Conflict when someone else just did."""
        try:
            lease = self._api().create_namespaced_lease(
                self.namespace, self._body(record), _request_timeout=self.timeout
            )
        except ApiException as error:
            if error.status == 409:
                raise Conflict(f"Lease {self.namespace}/{self.name} was created by someone else") from None
            raise
        return _record(lease)

    def update(self, record: Record) -> Record:
        """Replace it if it is still at `record.version`; Conflict when someone wrote in between."""
        try:
            lease = self._api().replace_namespaced_lease(
                self.name, self.namespace, self._body(record), _request_timeout=self.timeout
            )
        except ApiException as error:
            if error.status == 409:
                raise Conflict(f"Lease {self.namespace}/{self.name} changed since version {record.version}") from None
            raise
        return _record(lease)
