"""One module per documented bug case, each defining `CASE`. Found by scanning; never listed."""
