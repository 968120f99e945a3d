"""Report rendering adapters: a certificate laid out as a self-contained HTML page or as Markdown."""
