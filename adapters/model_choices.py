"""Device and dtype names every torch-backed model adapter accepts; torch-free, so a probe can name them
on a machine without the hf extra."""

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float16", "bfloat16")
