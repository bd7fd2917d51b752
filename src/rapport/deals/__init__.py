"""Deals: pipelines, stages and lost reasons, deals with their people and stage changes, the board,
moves, lead conversion and bulk loads."""
