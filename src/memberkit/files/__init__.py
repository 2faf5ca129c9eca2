"""Reading and writing files: CSV/XLSX, headers, encodings, atomic formula-safe output."""
