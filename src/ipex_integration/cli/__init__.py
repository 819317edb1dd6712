"""Thin command-line layer over the library: argument parsing, output formatting, error mapping."""
