"""seqpipe benchmarks: python -m bench."""
