"""The stream report: what the stream detected and why, as one HTML file."""
