"""One service per function: read through ports, decide with the domain, act through ports."""
