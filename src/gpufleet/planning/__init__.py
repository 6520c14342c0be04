"""The planning model of design/SCENARIO.md: scenarios, and (later) the MILP over them."""
