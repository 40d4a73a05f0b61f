"""The pipeline's steps as plain functions (no Dagster): the assets are thin wrappers.

Each step takes a task, a partition date and explicit locations, and returns a small
summary the Dagster layer turns into metadata. Tests and scripts can call them directly.
"""
