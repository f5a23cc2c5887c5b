"""Pure decisions: no I/O, no clock reads, no globals. Everything arrives as arguments."""
