"""The command-line shell: parses arguments, calls services, renders results and errors."""
