"""Bottom layer shared by every other package: pure functions, no project imports."""
