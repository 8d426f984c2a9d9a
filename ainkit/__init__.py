"""ainkit: reproduce the AIN report, and build your own Arabic multimodal model.

    ainkit --help

Two rooms. The toolkit, in the order imports run:
    commands/      the `ainkit` command, one module per sub-command
    pipelines/     stages run together: curate/, export, gallery, survey/, launch
    stages/        translate, similarity, metrics, verify, toxicity, train/, evaluate/
    services/      endpoint, llm, serve, mt, records and stageio, cache, images, chat, plots, ...
    ground/        paths, errors, atomic, redact, provenance, cluster, the set-up
and reproduction/, what exists only to reproduce the report (the notebook runner, the results
contract and REPRODUCTION.md, the published numbers, the report's analyses). The toolkit never
imports it; tests/test_layers.py holds both rules. data/ holds the sample sets.
"""
__version__ = "0.1.0"
