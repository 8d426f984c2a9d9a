"""Pipelines: stages run together: curate (the report's data pipeline), export, gallery, survey, launch."""
