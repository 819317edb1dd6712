"""ipex-benchmark: device-generic timing harness, workloads (tensor, conv, sd, llm), metrics, reports."""
