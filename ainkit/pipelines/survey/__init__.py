"""A blind side-by-side survey of models' answers (the report's Section 1.3), built as a static page and analysed.

    ainkit survey build --items items.jsonl --answers a.jsonl b.jsonl c.jsonl --output runs/survey
    ainkit survey analyze --responses runs/survey/responses --key runs/survey/key.json --output runs/survey/analysis

`build` (ainkit.pipelines.survey.build) writes the form (form/survey.html: one file, no server) apart from the
de-blinding key; `analyze` (ainkit.pipelines.survey.analyze) checks every response (ainkit.pipelines.survey.responses) and
computes shares, Bradley-Terry strengths, position bias and agreement (ainkit.pipelines.survey.stats).
"""
