"""How loaded the controller is, and what a new call does when it is too loaded."""
