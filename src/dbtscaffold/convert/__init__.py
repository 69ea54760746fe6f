"""convert-seed's planning: both projects in, a Plan out (planner.py); nothing is written."""
