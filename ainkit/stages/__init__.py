"""Stages: one job each on records: translate, similarity, metrics, verify, toxicity, train/, evaluate/.
A stage reaches another stage only through a service."""
