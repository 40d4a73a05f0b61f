"""The pipeline's steps as plain functions (no Dagster): the assets are thin wrappers.

inputs (``steps``) -> build (``plan``) -> submit (``submit``) -> collect (``collect``) ->
tables (``publish``), all around the durable request record (``record``); ``progress``
says where a day stands. Tests and scripts can call them directly.
"""
