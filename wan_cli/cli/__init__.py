"""Thin typer commands: parse flags into typed values, call the pipeline, choose the exit code."""
