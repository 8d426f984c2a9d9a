"""Benchmark scoring and the model runner: CAMEL-Bench (`camel_bench`) and ArabicMMLU (`arabic_mmlu`)."""
