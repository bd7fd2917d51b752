"""Write validation for duplicates."""
