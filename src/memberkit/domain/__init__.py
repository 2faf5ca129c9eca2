"""Pure rules over plain data: no files, no network, no SQL."""
