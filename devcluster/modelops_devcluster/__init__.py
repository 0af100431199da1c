"""A real, throwaway Kubernetes control plane on loopback for tests and the demo.

`build` compiles pinned etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
kubectl, kwok and helm from the Go module proxy and caches them outside the repo;
`cluster` starts them with free ports and throwaway certificates; `prometheus` starts
a real Prometheus with its own config and data directory.
"""
