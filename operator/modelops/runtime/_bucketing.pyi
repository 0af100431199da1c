"""Types of the C extension built from _bucketing.c (histogram bucketing for telemetry)."""

def count(values: object, edges: object, counts: object, sums: object, histograms: int, width: int, /) -> None:
    """Bucket C-contiguous float64 rows x histograms `values` into int64 `counts` and float64 `sums`, in place."""
