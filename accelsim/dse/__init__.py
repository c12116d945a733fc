"""Design-space exploration: sweeps of design points (``space``, ``evaluate``, ``runner``, ``store``), Pareto fronts
(``pareto``) and seed 004's simulated-annealing per-layer precision search (``precision``, ``anneal``, ``search``)."""
