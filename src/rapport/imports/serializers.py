"""Write validation for imports."""
