"""The soak of bench/soak.py, in small modules: clients, faults, sessions, operations, invariants, report, plot."""
