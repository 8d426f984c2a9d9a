"""The reproduction room: what exists only to reproduce the report (the notebook runner and its reuse
logic, the results contract, REPRODUCTION.md/.html, the published numbers in paper/, the report's
analyses, the JupyterLab launcher). It may import the toolkit; the toolkit never imports it."""
