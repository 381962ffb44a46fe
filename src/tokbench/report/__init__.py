"""Reports, comparisons and validation: measured, estimated and published numbers side by side."""
