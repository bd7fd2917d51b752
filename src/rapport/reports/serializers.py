"""Write validation for reports."""
