"""Tests of synth_assets.localbatch (a package so its module names never clash)."""
