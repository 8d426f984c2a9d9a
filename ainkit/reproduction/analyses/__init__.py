"""The analyses that exist only to check the AIN report, kept apart from the toolkit's stages.

    from ainkit.reproduction.analyses import compare, quality, screening, training

One module per artefact group, and each numbered notebook gets its result rows from one call
here (`result_rows`): compare (Tables 4-5, notebook 01), probes and selection with corrupt
(Figures 14-15, notebook 02), quality (Table 9, Figure 13, notebook 03), screening (Figure 16,
notebook 04), training (Section 3, notebook 05), survey (Figures 7-9, notebook 07). They may
call the stages and the services; no stage or service imports them (tests/test_layers.py).
"""
