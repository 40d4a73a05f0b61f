"""Tests of the ``synth batch`` commands (a package so module names never clash)."""
