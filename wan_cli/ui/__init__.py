"""What people see: the stdout/stderr sink, the live view, previews and the gallery page."""
