"""Shared core: options, output files, RNN factory, training loop pieces, orbit sampling."""
